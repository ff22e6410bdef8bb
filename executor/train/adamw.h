#pragma once
// AdamW over flat fp32 buffers (the master weights, gradients and moments of one partition),
// with PyTorch's torch.optim.AdamW semantics (single-tensor path, decoupled weight decay):
//   step += 1
//   p  *= 1 - lr * wd
//   m   = m + (1 - b1) * (g - m)                       (exp_avg.lerp_(g, 1 - b1))
//   v   = b2 * v + (1 - b2) * g * g
//   p  -= (lr / (1 - b1^step)) * m / (sqrt(v) / sqrt(1 - b2^step) + eps)
// The gradient is read as g = grad * grad_multiplier, so un-scaling (fp16 loss scale) and clipping
// fold into the same pass (DeepSpeed's combined_scale). One pass over memory, vectorised, threaded
// with at::parallel_for. No LibTorch tensors: raw spans, so a ZeRO partition uses it unchanged.
#include <cstdint>

namespace zeroplan::executor {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

// The per-step scalars, computed once in double and rounded to float as ATen does for Scalar args.
struct AdamWStepScalars {
  float decay_factor;         // 1 - lr * wd
  float one_minus_beta1;      // lerp weight
  float beta2;
  float one_minus_beta2;
  float step_size;            // lr / (1 - b1^step)
  float bias_correction2_sqrt;  // sqrt(1 - b2^step)
  float eps;
  float grad_multiplier;      // 1 / combined_scale
};

AdamWStepScalars adamw_scalars(const AdamWOptions& o, double lr, double weight_decay, std::int64_t step,
                               double grad_multiplier);

// Updates n elements in place. Threads over chunks of the range.
void adamw_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, std::int64_t n,
                  const AdamWStepScalars& s);

}  // namespace zeroplan::executor
