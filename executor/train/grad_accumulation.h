#pragma once
// Micro-step gradient accumulation over flat buffers, shared by every OptimizerEngine.
//
// fp32 training: the parameters' .grad are views of the fp32 flat buffer, so autograd accumulates
// straight into it and nothing needs doing after a micro-step.
// bf16/fp16: .grad are views of a 16-bit flat buffer; after each micro-step its contents are added
// into the fp32 buffer (copied on the first micro-step) and the 16-bit buffer is zeroed again, so the
// sum over micro-steps is taken in fp32.
#include <ATen/ATen.h>

namespace zeroplan::executor {

// Zeroes the buffer autograd writes into; `lowp_grad` is undefined (or unused) in fp32 training.
inline void begin_grad_accumulation(bool lowp, at::Tensor& fp32_grad, at::Tensor& lowp_grad, bool& first_micro) {
  if (lowp) {
    lowp_grad.zero_();
  } else {
    fp32_grad.zero_();
  }
  first_micro = true;
}

inline void accumulate_micro_step_grad(bool lowp, at::Tensor& fp32_grad, at::Tensor& lowp_grad, bool& first_micro) {
  if (!lowp) return;  // autograd accumulated straight into fp32_grad
  if (first_micro) {
    fp32_grad.copy_(lowp_grad);
  } else {
    fp32_grad.add_(lowp_grad);
  }
  lowp_grad.zero_();
  first_micro = false;
}

// d(scale · Σ loss_i / N)/d(loss_i): the loss is normalised by the label tokens of the whole global batch
// and, for fp16, multiplied by the loss scale (1 otherwise).
inline double normalised_loss_multiplier(double loss_scale, double global_label_tokens) {
  return global_label_tokens > 0 ? loss_scale / global_label_tokens : 0.0;
}

// DeepSpeed's unscale_and_clip_grads: one multiplier that un-scales and clips the scaled gradients,
//   clip = (norm / loss_scale + 1e-6) / max_norm;  combined = loss_scale * max(1, clip)
// where `grad_norm` is the unscaled global norm and clip_grad <= 0 means no clipping. AdamW is then
// handed 1 / combined as its gradient multiplier.
inline double unscale_and_clip_divisor(double loss_scale, double grad_norm, double clip_grad) {
  if (clip_grad <= 0.0) return loss_scale;
  const double clip = (grad_norm + 1e-6) / clip_grad;
  return clip > 1.0 ? clip * loss_scale : loss_scale;
}

}  // namespace zeroplan::executor
