#pragma once
// One Llama-family decoder layer (pre-norm attention + SwiGLU MLP), as transformers' LlamaDecoderLayer:
//   h = x + o_proj(attention(rope(q_proj(norm1(x))), rope(k_proj(...)), v_proj(...)))
//   y = h + down_proj(silu(gate_proj(norm2(h))) * up_proj(norm2(h)))
#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <memory>

#include "executor/model/layers.h"
#include "planner/model_spec.h"
#include "planner/training_spec.h"

namespace zeroplan::executor {

// What every layer of one forward shares: RoPE tables and the attention mask.
struct LayerInputs {
  at::Tensor cos, sin;  // [b, s, head_dim] in the activation dtype
  // Bool [b, 1, s, s], true = may attend; undefined = plain causal (SDPA's is_causal).
  at::Tensor attention_mask;
};

class LlamaAttentionImpl : public torch::nn::Module {
 public:
  LlamaAttentionImpl(const zeroplan::ModelSpec& spec, zeroplan::AttentionImpl impl);
  at::Tensor forward(const at::Tensor& x, const LayerInputs& in) const;
  std::shared_ptr<LinearImpl> q_proj, k_proj, v_proj, o_proj;

 private:
  std::int64_t num_heads_, num_kv_heads_, head_dim_;
  zeroplan::AttentionImpl impl_;
};

class LlamaMlpImpl : public torch::nn::Module {
 public:
  explicit LlamaMlpImpl(const zeroplan::ModelSpec& spec);
  at::Tensor forward(const at::Tensor& x) const;
  std::shared_ptr<LinearImpl> gate_proj, up_proj, down_proj;
};

class DecoderLayerImpl : public torch::nn::Module {
 public:
  DecoderLayerImpl(const zeroplan::ModelSpec& spec, zeroplan::AttentionImpl impl);
  at::Tensor forward(const at::Tensor& x, const LayerInputs& in) const;
  std::shared_ptr<LlamaAttentionImpl> self_attn;
  std::shared_ptr<LlamaMlpImpl> mlp;
  std::shared_ptr<RMSNormImpl> input_layernorm, post_attention_layernorm;
};

// The attention mask for segment_ids [b, s] (undefined: none) and an optional sliding window
// (0 = none): key j is visible to query i when j <= i, seg[j] == seg[i] and i - j < window.
// Returns an undefined tensor when plain causal attention is exact (no segments, no active window).
at::Tensor make_attention_mask(const at::Tensor& segment_ids, std::int64_t batch, std::int64_t seq,
                               std::int64_t sliding_window, const at::Device& device);

}  // namespace zeroplan::executor
