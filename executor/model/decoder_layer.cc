#include "executor/model/decoder_layer.h"

#include <cmath>

namespace zeroplan::executor {

LlamaAttentionImpl::LlamaAttentionImpl(const zeroplan::ModelSpec& spec, zeroplan::AttentionImpl impl)
    : num_heads_(spec.num_attention_heads),
      num_kv_heads_(spec.num_key_value_heads),
      head_dim_(spec.head_dim),
      impl_(impl) {
  const std::int64_t h = spec.hidden_size;
  q_proj = register_module("q_proj", std::make_shared<LinearImpl>(h, num_heads_ * head_dim_, spec.qkv_bias));
  k_proj = register_module("k_proj", std::make_shared<LinearImpl>(h, num_kv_heads_ * head_dim_, spec.qkv_bias));
  v_proj = register_module("v_proj", std::make_shared<LinearImpl>(h, num_kv_heads_ * head_dim_, spec.qkv_bias));
  o_proj = register_module("o_proj", std::make_shared<LinearImpl>(num_heads_ * head_dim_, h, spec.o_bias));
}

namespace {

// [b, kv, s, d] -> [b, kv * groups, s, d], each kv head repeated for its group of query heads.
at::Tensor repeat_kv(const at::Tensor& x, std::int64_t groups) {
  if (groups == 1) return x;
  const auto b = x.size(0), kv = x.size(1), s = x.size(2), d = x.size(3);
  return x.unsqueeze(2).expand({b, kv, groups, s, d}).reshape({b, kv * groups, s, d});
}

// Eager attention (transformers' eager_attention_forward): materialised scores, softmax in fp32.
at::Tensor eager_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                           double scale) {
  const std::int64_t groups = q.size(1) / k.size(1);
  at::Tensor key = repeat_kv(k, groups), value = repeat_kv(v, groups);
  at::Tensor scores = at::matmul(q, key.transpose(2, 3)) * scale;  // [b, h, s, s]
  at::Tensor allowed = mask;
  if (!allowed.defined()) {
    const auto s = q.size(2);
    allowed = at::ones({s, s}, q.options().dtype(at::kBool)).tril();
  }
  scores = scores.masked_fill(allowed.logical_not(), -std::numeric_limits<double>::infinity());
  at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(q.scalar_type());
  return at::matmul(probs, value);
}

}  // namespace

at::Tensor LlamaAttentionImpl::forward(const at::Tensor& x, const LayerInputs& in) const {
  const auto b = x.size(0), s = x.size(1);
  // [b, s, heads*d] -> [b, heads, s, d]
  at::Tensor q = q_proj->forward(x).view({b, s, num_heads_, head_dim_}).transpose(1, 2);
  at::Tensor k = k_proj->forward(x).view({b, s, num_kv_heads_, head_dim_}).transpose(1, 2);
  at::Tensor v = v_proj->forward(x).view({b, s, num_kv_heads_, head_dim_}).transpose(1, 2);
  q = apply_rope(q, in.cos, in.sin);
  k = apply_rope(k, in.cos, in.sin);
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim_));
  at::Tensor out;
  if (impl_ == zeroplan::AttentionImpl::kEager) {
    out = eager_attention(q, k, v, in.attention_mask, scale);
  } else {
    const bool causal = !in.attention_mask.defined();
    // GQA inside SDPA only without a mask (as transformers' use_gqa_in_sdpa): CUDA's memory-efficient
    // kernel, the one that takes a mask, does not do GQA and SDPA would fall back to the math path,
    // which materialises the scores. With a mask the k/v heads are expanded first (repeat_kv).
    const bool gqa = num_kv_heads_ != num_heads_ && causal && head_dim_ <= 256;
    if (!gqa && num_kv_heads_ != num_heads_) {
      k = repeat_kv(k, num_heads_ / num_kv_heads_);
      v = repeat_kv(v, num_heads_ / num_kv_heads_);
    }
    out = at::scaled_dot_product_attention(q, k, v, causal ? std::nullopt : std::optional<at::Tensor>(in.attention_mask),
                                           /*dropout_p=*/0.0, /*is_causal=*/causal, scale, /*enable_gqa=*/gqa);
  }
  out = out.transpose(1, 2).reshape({b, s, num_heads_ * head_dim_});
  return o_proj->forward(out);
}

LlamaMlpImpl::LlamaMlpImpl(const zeroplan::ModelSpec& spec) {
  const auto h = spec.hidden_size, i = spec.intermediate_size;
  gate_proj = register_module("gate_proj", std::make_shared<LinearImpl>(h, i, spec.mlp_bias));
  up_proj = register_module("up_proj", std::make_shared<LinearImpl>(h, i, spec.mlp_bias));
  down_proj = register_module("down_proj", std::make_shared<LinearImpl>(i, h, spec.mlp_bias));
}

at::Tensor LlamaMlpImpl::forward(const at::Tensor& x) const {
  return down_proj->forward(at::silu(gate_proj->forward(x)) * up_proj->forward(x));
}

DecoderLayerImpl::DecoderLayerImpl(const zeroplan::ModelSpec& spec, zeroplan::AttentionImpl impl) {
  // Registration order = Hugging Face's named_parameters order.
  self_attn = register_module("self_attn", std::make_shared<LlamaAttentionImpl>(spec, impl));
  mlp = register_module("mlp", std::make_shared<LlamaMlpImpl>(spec));
  input_layernorm = register_module("input_layernorm", std::make_shared<RMSNormImpl>(spec.hidden_size, spec.rms_norm_eps));
  post_attention_layernorm =
      register_module("post_attention_layernorm", std::make_shared<RMSNormImpl>(spec.hidden_size, spec.rms_norm_eps));
}

at::Tensor DecoderLayerImpl::forward(const at::Tensor& x, const LayerInputs& in) const {
  at::Tensor h = x + self_attn->forward(input_layernorm->forward(x), in);
  return h + mlp->forward(post_attention_layernorm->forward(h));
}

at::Tensor make_attention_mask(const at::Tensor& segment_ids, std::int64_t batch, std::int64_t seq,
                               std::int64_t sliding_window, const at::Device& device) {
  const bool window_active = sliding_window > 0 && seq > sliding_window;
  if (!segment_ids.defined() && !window_active) return {};
  at::Tensor i = at::arange(seq, at::TensorOptions().dtype(at::kLong).device(device)).unsqueeze(1);  // query
  at::Tensor j = i.transpose(0, 1);                                                                   // key
  at::Tensor allowed = j <= i;                                                                        // [s, s]
  if (window_active) allowed = allowed.logical_and(i - j < sliding_window);
  allowed = allowed.unsqueeze(0).expand({batch, seq, seq});
  if (segment_ids.defined()) {
    at::Tensor seg = segment_ids.to(device);
    allowed = allowed.logical_and(seg.unsqueeze(2) == seg.unsqueeze(1));  // [b, s(query), s(key)]
  }
  return allowed.unsqueeze(1).contiguous();  // [b, 1, s, s]
}

}  // namespace zeroplan::executor
