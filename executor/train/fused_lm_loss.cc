#include "executor/train/fused_lm_loss.h"

#include <torch/csrc/autograd/custom_function.h>

namespace zeroplan::executor {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct FusedLinearCrossEntropy : public torch::autograd::Function<FusedLinearCrossEntropy> {
  // rows [N, H] (only labelled positions), weight [V, H], targets [N] int64.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& rows, const at::Tensor& weight,
                            const at::Tensor& targets, std::int64_t chunk_rows) {
    const std::int64_t n = rows.size(0);
    const bool need_rows_grad = rows.requires_grad(), need_weight_grad = weight.requires_grad();
    at::Tensor grad_rows = at::empty_like(rows);
    at::Tensor grad_weight = at::zeros(weight.sizes(), weight.options().dtype(at::kFloat));
    at::Tensor loss = at::zeros({}, rows.options().dtype(at::kFloat));
    for (std::int64_t start = 0; start < n; start += chunk_rows) {
      const std::int64_t len = std::min(chunk_rows, n - start);
      const at::Tensor h = rows.narrow(0, start, len);
      const at::Tensor t = targets.narrow(0, start, len).unsqueeze(1);
      at::Tensor logits = at::mm(h, weight.t()).to(at::kFloat);  // [len, V], fp32 as HF upcasts
      const at::Tensor lse = at::logsumexp(logits, 1, /*keepdim=*/true);
      loss.add_((lse - logits.gather(1, t)).sum());
      // d(sum of -log softmax[target]) / d(logits) = softmax - onehot, in the logits buffer.
      logits.sub_(lse).exp_();
      logits.scatter_add_(1, t, at::full({len, 1}, -1.0f, logits.options()));
      const at::Tensor g = logits.to(rows.scalar_type());
      if (need_rows_grad) {
        at::Tensor out = grad_rows.narrow(0, start, len);  // contiguous rows of grad_rows
        at::mm_out(out, g, weight);
      }
      if (need_weight_grad) {
        if (weight.scalar_type() == at::kFloat) {
          grad_weight.addmm_(g.t(), h);
        } else {
          grad_weight.add_(at::mm(g.t(), h).to(at::kFloat));
        }
      }
    }
    ctx->save_for_backward({grad_rows, grad_weight.to(weight.scalar_type())});
    return loss;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& go = grad_outputs[0];  // scalar: the trainer's scale / global label tokens
    return {saved[0] * go.to(saved[0].scalar_type()), saved[1] * go.to(saved[1].scalar_type()), at::Tensor(),
            at::Tensor()};
  }
};

}  // namespace

LossSum fused_causal_lm_loss_sum(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& labels,
                                 std::int64_t chunk_rows) {
  TORCH_CHECK(hidden.dim() == 3 && labels.dim() == 2, "fused_causal_lm_loss_sum: hidden [b,s,H], labels [b,s]");
  const std::int64_t b = hidden.size(0), s = hidden.size(1), h = hidden.size(2);
  // Position t predicts labels[t + 1]: the last position of each row predicts nothing.
  const at::Tensor targets = labels.narrow(1, 1, s - 1).reshape({-1});
  const at::Tensor keep = targets.ne(kIgnoreLabel).nonzero().reshape({-1});
  const std::int64_t label_tokens = keep.numel();
  const at::Tensor rows = hidden.narrow(1, 0, s - 1).reshape({b * (s - 1), h}).index_select(0, keep);
  const at::Tensor loss =
      FusedLinearCrossEntropy::apply(rows, weight, targets.index_select(0, keep), std::max<std::int64_t>(chunk_rows, 1));
  return {loss, label_tokens};
}

}  // namespace zeroplan::executor
