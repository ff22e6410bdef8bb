#include "planner/activation_memory.h"

#include <algorithm>
#include <numeric>

#include "planner/error.h"

namespace zeroplan {
namespace {

std::uint64_t sum_bytes(const std::vector<ActivationTensor>& ts) {
  std::uint64_t s = 0;
  for (const auto& t : ts) s += t.bytes();
  return s;
}

// The tensor lists of activation_memory.h, one tensor per line with its shape. Derivations are in
// the header's table; the code below is that table.
struct Dims {
  std::int64_t b, s, h, nh, d, a, I, V;
  int c;
  // Heads of the saved k and v: repeat_kv's expand + reshape copies to nh heads, except when kv == 1,
  // where merging the size-1 kv dim with the stride-0 expanded dim is a view of k_rot / v (b, 1, s, d),
  // which sdpa saves as is; eager's matmul reshapes that view for bmm (a copy) and saves the copy.
  std::int64_t kv_saved;
};

Dims dims_of(const ModelSpec& m, const ActivationInput& in) {
  ZP_ASSERT(in.micro_batch > 0 && in.seq_len > 0, "activation memory of an empty micro-batch");
  return {in.micro_batch,
          in.seq_len,
          m.hidden_size,
          m.num_attention_heads,
          m.head_dim,
          m.num_attention_heads * m.head_dim,
          m.intermediate_size,
          m.vocab_size,
          compute_dtype_bytes(in.precision),
          m.num_key_value_heads == 1 && in.attention == AttentionImpl::kSdpa ? 1 : m.num_attention_heads};
}

void add_rms_norm(std::vector<ActivationTensor>& t, const Dims& x, const char* x_fp32, const char* rstd,
                  const char* normed, const char* out) {
  t.push_back({x_fp32, {x.b, x.s, x.h}, 4});  // (b, s, h) fp32 upcast, saved by pow and mul
  t.push_back({rstd, {x.b, x.s, 1}, 4});      // (b, s, 1) rsqrt result
  t.push_back({normed, {x.b, x.s, x.h}, x.c});  // (b, s, h) x * rstd cast to c, saved by weight * (.)
  t.push_back({out, {x.b, x.s, x.h}, x.c});     // (b, s, h) weight * normed, the next linear's input
}

std::vector<ActivationTensor> layer_saved(const Dims& x, AttentionImpl attention) {
  std::vector<ActivationTensor> t;
  t.reserve(20);
  add_rms_norm(t, x, "input_norm.x_fp32", "input_norm.rstd", "input_norm.x_normed", "input_norm.out");
  t.push_back({"q_rot", {x.b, x.nh, x.s, x.d}, x.c});           // (b, nh, s, d)
  t.push_back({"k_rot_expanded", {x.b, x.kv_saved, x.s, x.d}, x.c});  // (b, nh, s, d) after repeat_kv
  t.push_back({"v_expanded", {x.b, x.kv_saved, x.s, x.d}, x.c});      // (b, nh, s, d) after repeat_kv
  if (attention == AttentionImpl::kSdpa) {
    t.push_back({"attn_out", {x.b, x.s, x.nh, x.d}, x.c});  // (b, s, nh, d) also o_proj's input (a view)
    t.push_back({"logsumexp", {x.b, x.nh, x.s}, 4});        // (b, nh, s) fp32
  } else {
    t.push_back({"probs_fp32", {x.b, x.nh, x.s, x.s}, 4});             // (b, nh, s, s) softmax result
    if (x.c != 4) t.push_back({"probs", {x.b, x.nh, x.s, x.s}, x.c});  // (b, nh, s, s) cast for probs @ v
    t.push_back({"attn_flat", {x.b, x.s, x.a}, x.c});                  // (b, s, a) o_proj input (a copy)
  }
  add_rms_norm(t, x, "post_norm.x_fp32", "post_norm.rstd", "post_norm.x_normed", "post_norm.out");
  t.push_back({"gate", {x.b, x.s, x.I}, x.c});    // (b, s, I) silu input
  t.push_back({"act", {x.b, x.s, x.I}, x.c});     // (b, s, I) silu(gate)
  t.push_back({"up", {x.b, x.s, x.I}, x.c});      // (b, s, I)
  t.push_back({"act_up", {x.b, x.s, x.I}, x.c});  // (b, s, I) down_proj input
  return t;
}

}  // namespace

std::uint64_t ActivationTensor::bytes() const {
  std::uint64_t n = static_cast<std::uint64_t>(dtype_bytes);
  for (auto d : shape) n *= static_cast<std::uint64_t>(d);
  return n;
}

ActivationMemory activation_memory(const ModelSpec& model, const ActivationInput& in) {
  const Dims x = dims_of(model, in);
  const auto L = static_cast<std::uint64_t>(model.num_hidden_layers);
  ActivationMemory r;
  r.layer_saved = layer_saved(x, in.attention);
  r.model_saved = {{"input_ids", {x.b, x.s}, 8},   // (b, s) int64, embedding backward
                   {"labels", {x.b, x.s}, 8},      // (b, s) int64, nll_loss target
                   {"rope_cos", {x.b, x.s, x.d}, x.c},  // (b, s, d) shared by all layers
                   {"rope_sin", {x.b, x.s, x.d}, x.c}};
  add_rms_norm(r.final_norm_saved, x, "final_norm.x_fp32", "final_norm.rstd", "final_norm.x_normed",
               "final_norm.out");
  r.loss_forward.push_back({"logits", {x.b, x.s, x.V}, x.c});  // (b, s, V) lm_head output
  if (x.c != 4) r.loss_forward.push_back({"logits_fp32", {x.b, x.s, x.V}, 4});  // .float() for the loss
  r.loss_forward.push_back({"log_probs", {x.b, x.s, x.V}, 4});  // log_softmax result, saved
  r.loss_backward = {{"log_probs", {x.b, x.s, x.V}, 4},
                     {"grad_log_probs", {x.b, x.s, x.V}, 4},     // dense grad from nll_loss backward
                     {"grad_logits_fp32", {x.b, x.s, x.V}, 4}};  // log_softmax backward output

  r.layer_saved_bytes = sum_bytes(r.layer_saved);
  r.model_saved_bytes = sum_bytes(r.model_saved);
  r.final_norm_bytes = sum_bytes(r.final_norm_saved);
  r.loss_peak_bytes = std::max(sum_bytes(r.loss_forward), sum_bytes(r.loss_backward));
  r.checkpoint_bytes = in.checkpointing ? L * static_cast<std::uint64_t>(x.b * x.s * x.h) * x.c : 0;
  r.timeline = activation_timeline(model, in);
  r.peak_bytes = r.timeline.peak();
  return r;
}

std::uint64_t activation_peak_bytes(const ModelSpec& model, const ActivationInput& in) {
  return activation_timeline(model, in).peak();
}

}  // namespace zeroplan
