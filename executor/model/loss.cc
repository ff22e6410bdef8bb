#include "executor/model/loss.h"

namespace zeroplan::executor {

LossSum causal_lm_loss_sum(const at::Tensor& logits, const at::Tensor& labels) {
  TORCH_CHECK(logits.dim() == 3 && labels.dim() == 2, "causal_lm_loss_sum: logits [b,s,V], labels [b,s]");
  TORCH_CHECK(logits.size(0) == labels.size(0) && logits.size(1) == labels.size(1),
              "causal_lm_loss_sum: logits and labels disagree on [batch, seq]");
  const auto s = logits.size(1), vocab = logits.size(2);
  // HF ForCausalLMLoss: shift the LABELS left by one and pad with -100, so logits[:, t] meets
  // labels[:, t+1] and the logits are neither sliced nor copied (only upcast to fp32).
  at::Tensor labels_on_device = labels.to(logits.device(), at::kLong);
  at::Tensor shift_labels = at::cat({labels_on_device.narrow(1, 1, s - 1),
                                     at::full({labels.size(0), 1}, kIgnoreLabel, labels_on_device.options())},
                                    1);
  at::Tensor loss = at::cross_entropy_loss(logits.reshape({-1, vocab}).to(at::kFloat), shift_labels.reshape({-1}),
                                           /*weight=*/{}, at::Reduction::Sum, kIgnoreLabel);
  const std::int64_t label_tokens = labels.narrow(1, 1, s - 1).ne(kIgnoreLabel).sum().item<std::int64_t>();
  return {loss, label_tokens};
}

}  // namespace zeroplan::executor
