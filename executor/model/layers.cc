#include "executor/model/layers.h"

#include <fmt/format.h>

#include <cmath>

#include "planner/error.h"

namespace zeroplan::executor {

LinearImpl::LinearImpl(std::int64_t in_features, std::int64_t out_features, bool has_bias) {
  weight = register_parameter("weight", at::empty({out_features, in_features}, at::kFloat));
  if (has_bias) bias = register_parameter("bias", at::zeros({out_features}, at::kFloat));
}

at::Tensor LinearImpl::forward(const at::Tensor& x) const { return at::linear(x, weight, bias); }

RMSNormImpl::RMSNormImpl(std::int64_t hidden_size, double eps_) : eps(eps_) {
  weight = register_parameter("weight", at::ones({hidden_size}, at::kFloat));
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) const {
  const auto input_dtype = x.scalar_type();
  at::Tensor h = x.to(at::kFloat);
  at::Tensor variance = h.pow(2).mean(-1, /*keepdim=*/true);
  h = h * at::rsqrt(variance + eps);
  return weight * h.to(input_dtype);
}

EmbeddingImpl::EmbeddingImpl(std::int64_t vocab_size, std::int64_t hidden_size) {
  weight = register_parameter("weight", at::empty({vocab_size, hidden_size}, at::kFloat));
}

at::Tensor rope_inv_freq(const zeroplan::ModelSpec& spec) {
  const std::int64_t dim = spec.head_dim;
  // transformers: 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
  at::Tensor exponents = at::arange(0, dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(dim);
  at::Tensor inv_freq = 1.0 / at::pow(at::Scalar(spec.rope_theta), exponents);
  const auto& rs = spec.rope_scaling;
  if (rs.rope_type.empty() || rs.rope_type == "default") return inv_freq;
  if (rs.rope_type == "linear") return inv_freq / rs.factor;
  if (rs.rope_type == "llama3") {
    // transformers _compute_llama3_parameters, step by step.
    const double old_context_len = static_cast<double>(rs.original_max_position_embeddings);
    const double low_freq_wavelen = old_context_len / rs.low_freq_factor;
    const double high_freq_wavelen = old_context_len / rs.high_freq_factor;
    at::Tensor wavelen = 2 * M_PI / inv_freq;
    at::Tensor inv_freq_llama = at::where(wavelen > low_freq_wavelen, inv_freq / rs.factor, inv_freq);
    at::Tensor smooth_factor =
        (old_context_len / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
    at::Tensor smoothed = (1 - smooth_factor) * inv_freq_llama / rs.factor + smooth_factor * inv_freq_llama;
    at::Tensor is_medium = (wavelen >= high_freq_wavelen).logical_and(wavelen <= low_freq_wavelen);
    return at::where(is_medium, smoothed, inv_freq_llama);
  }
  throw zeroplan::InputError(fmt::format("{}: field \"rope_scaling.rope_type\": \"{}\" is not supported by the executor "
                                         "(supported: default, linear, llama3)",
                                         spec.source, rs.rope_type));
}

std::pair<at::Tensor, at::Tensor> rope_cos_sin(const at::Tensor& inv_freq, const at::Tensor& position_ids,
                                               at::ScalarType dtype) {
  // freqs[b, s, i] = position[b, s] * inv_freq[i]  (HF: inv_freq[None, :, None] @ position[:, None, :])
  at::Tensor freqs = position_ids.to(at::kFloat).unsqueeze(-1) * inv_freq.to(position_ids.device());
  at::Tensor emb = at::cat({freqs, freqs}, -1);
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const std::int64_t half = x.size(-1) / 2;
  at::Tensor x1 = x.narrow(-1, 0, half);
  at::Tensor x2 = x.narrow(-1, half, x.size(-1) - half);
  at::Tensor rotated = at::cat({-x2, x1}, -1);
  at::Tensor c = cos.unsqueeze(1);  // [b, 1, s, d] broadcasts over heads
  at::Tensor s = sin.unsqueeze(1);
  return x * c + rotated * s;
}

}  // namespace zeroplan::executor
