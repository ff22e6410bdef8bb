#pragma once
// Causal-LM cross-entropy with Hugging Face semantics (transformers ForCausalLMLoss): logits[:, t]
// predicts labels[:, t+1]; labels == -100 are ignored; computed in fp32. Returns the SUM over label
// tokens, so the trainer can normalise by the label tokens of the whole global batch.
#include <ATen/ATen.h>

#include <cstdint>

namespace zeroplan::executor {

inline constexpr std::int64_t kIgnoreLabel = -100;

struct LossSum {
  at::Tensor loss_sum;       // fp32 scalar on the logits' device
  std::int64_t label_tokens;  // tokens with a label != -100 after the shift
};

LossSum causal_lm_loss_sum(const at::Tensor& logits, const at::Tensor& labels);

}  // namespace zeroplan::executor
