#pragma once
// Building blocks of the Llama-family decoder with Hugging Face parameter names ("weight", "bias"),
// so that module paths give the HF tensor names (model.layers.0.self_attn.q_proj.weight).
#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <cstdint>

#include "planner/model_spec.h"

namespace zeroplan::executor {

// y = x W^T (+ b); W is [out_features, in_features] as in torch.nn.Linear.
class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(std::int64_t in_features, std::int64_t out_features, bool bias);
  at::Tensor forward(const at::Tensor& x) const;
  at::Tensor weight, bias;  // bias undefined when absent
};

// Hugging Face LlamaRMSNorm: normalise in fp32, cast back to the input dtype, then scale:
//   y = weight * (x / sqrt(mean(x^2) + eps)).to(input_dtype)
class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(std::int64_t hidden_size, double eps);
  at::Tensor forward(const at::Tensor& x) const;
  at::Tensor weight;
  double eps;
};

class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(std::int64_t vocab_size, std::int64_t hidden_size);
  at::Tensor forward(const at::Tensor& input_ids) const { return at::embedding(weight, input_ids); }
  at::Tensor weight;
};

// RoPE inverse frequencies (fp32, [head_dim/2]) as transformers' rope init functions compute them:
//   default: inv_freq_i = 1 / theta^(2i/d)
//   linear:  inv_freq_i / factor
//   llama3:  wavelengths longer than original_max/low_freq_factor are divided by factor, shorter than
//            original_max/high_freq_factor kept, and in between interpolated smoothly.
// InputError for rope types the executor does not implement ("dynamic": depends on the sequence).
at::Tensor rope_inv_freq(const zeroplan::ModelSpec& spec);

// cos and sin of position_ids x inv_freq, duplicated to [b, s, head_dim] (HF's cat(freqs, freqs)),
// computed in fp32 and cast to `dtype`.
std::pair<at::Tensor, at::Tensor> rope_cos_sin(const at::Tensor& inv_freq, const at::Tensor& position_ids,
                                               at::ScalarType dtype);

// x * cos + rotate_half(x) * sin for x [b, heads, s, d] and cos/sin [b, s, d];
// rotate_half(x) = cat(-x[..., d/2:], x[..., :d/2]).
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace zeroplan::executor
