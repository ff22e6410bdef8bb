#include "executor/train/adamw.h"

#include <ATen/Parallel.h>

#include <cmath>

namespace zeroplan::executor {

AdamWStepScalars adamw_scalars(const AdamWOptions& o, double lr, double weight_decay, std::int64_t step,
                               double grad_multiplier) {
  const double bias_correction1 = 1.0 - std::pow(o.beta1, static_cast<double>(step));
  const double bias_correction2 = 1.0 - std::pow(o.beta2, static_cast<double>(step));
  AdamWStepScalars s{};
  s.decay_factor = static_cast<float>(1.0 - lr * weight_decay);
  s.one_minus_beta1 = static_cast<float>(1.0 - o.beta1);
  s.beta2 = static_cast<float>(o.beta2);
  s.one_minus_beta2 = static_cast<float>(1.0 - o.beta2);
  s.step_size = static_cast<float>(lr / bias_correction1);
  s.bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  s.eps = static_cast<float>(o.eps);
  s.grad_multiplier = static_cast<float>(grad_multiplier);
  return s;
}

namespace {

// The same operation order as ATen's element-wise kernels so results track torch.optim.AdamW
// (lerp with weight < 0.5 is a + w * (b - a)). Cloned for AVX-512/AVX2 and dispatched at load time.
__attribute__((target_clones("avx512f", "avx2", "default")))
void adamw_chunk(float* __restrict p, const float* __restrict g_in, float* __restrict m,
                 float* __restrict v, std::int64_t n, AdamWStepScalars s) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float g = g_in[i] * s.grad_multiplier;
    const float pi = p[i] * s.decay_factor;
    const float mi = m[i] + s.one_minus_beta1 * (g - m[i]);
    const float vi = v[i] * s.beta2 + (s.one_minus_beta2 * g) * g;  // addcmul: self + value * t1 * t2
    const float denom = std::sqrt(vi) / s.bias_correction2_sqrt + s.eps;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi + ((-s.step_size) * mi) / denom;  // addcdiv: self + value * t1 / t2
  }
}

}  // namespace

void adamw_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, std::int64_t n,
                  const AdamWStepScalars& s) {
  constexpr std::int64_t kGrain = 1 << 16;  // 256 KiB of fp32 per chunk and array
  at::parallel_for(0, n, kGrain, [&](std::int64_t begin, std::int64_t end) {
    adamw_chunk(param + begin, grad + begin, exp_avg + begin, exp_avg_sq + begin, end - begin, s);
  });
}

}  // namespace zeroplan::executor
