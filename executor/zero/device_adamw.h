#pragma once
// AdamW on tensors of any device, for optimizer states that are NOT offloaded on GPU runs
// (executor/train/adamw.h's kernel takes raw host pointers). The same formula and the same float
// scalars (AdamWStepScalars), as ATen element-wise ops:
//   g = grad * grad_multiplier;  p *= decay_factor;  m.lerp_(g, 1 - b1);  v = b2 v + (1 - b2) g^2
//   p -= step_size * m / (sqrt(v) / bias_correction2_sqrt + eps)
// Allocates two temporaries of p's size (g and the denominator) per call.
#include <ATen/ATen.h>

#include "executor/train/adamw.h"

namespace zeroplan::executor::zero {

inline void adamw_update_tensors(at::Tensor param, const at::Tensor& grad, at::Tensor exp_avg, at::Tensor exp_avg_sq,
                                 const AdamWStepScalars& s) {
  at::NoGradGuard no_grad;
  const at::Tensor g = grad * s.grad_multiplier;
  param.mul_(s.decay_factor);
  exp_avg.lerp_(g, s.one_minus_beta1);
  exp_avg_sq.mul_(s.beta2).addcmul_(g, g, s.one_minus_beta2);
  const at::Tensor denom = (exp_avg_sq.sqrt() / s.bias_correction2_sqrt).add_(s.eps);
  param.addcdiv_(exp_avg, denom, -s.step_size);
}

}  // namespace zeroplan::executor::zero
