#pragma once
// Activation memory per rank for one micro-batch of the executor's own decoder (the standard Hugging
// Face Llama layer, written in LibTorch). It is a LIST OF TENSORS, so the executor can be checked
// against it tensor by tensor (the profiler records what autograd saved).
//
// Notation: b micro_batch, s seq_len, h hidden_size, nh heads, kv key/value heads, d head_dim,
// a = nh*d (attention width), I intermediate_size, V vocab_size, L layers,
// c = compute dtype bytes (2 for fp16/bf16, 4 for fp32). The model runs entirely in the compute dtype
// (16-bit weights, fp32 master weights in the optimizer), except where a tensor is listed as fp32.
//
// The layer (HF LlamaDecoderLayer / LlamaRMSNorm / LlamaAttention / LlamaMLP):
//   x -> RMSNorm -> q,k,v = linear(+bias) -> RoPE(q,k) -> repeat_kv(k,v) to nh heads -> attention
//     -> o_proj -> + x -> RMSNorm -> gate, up = linear -> silu(gate) * up -> down_proj -> + residual
//   RMSNorm(x) = weight * (x.float() * rsqrt(mean(x.float()^2) + eps)).to(c)
//   eager attention: softmax(q k^T * scale + causal_mask, dtype=fp32).to(c) @ v   (no dropout)
//   sdpa attention:  scaled_dot_product_attention(q, k, v, is_causal) (flash / memory-efficient)
//
// Tensors autograd saves per decoder layer (forward without checkpointing):
//   name                       shape        dtype  saved by
//   input_norm.x_fp32          (b, s, h)    4      pow, mul (for c = 4 this is the layer input itself)
//   input_norm.rstd            (b, s, 1)    4      rsqrt (result), mul
//   input_norm.x_normed        (b, s, h)    c      weight * x_normed (grad of weight)
//   input_norm.out             (b, s, h)    c      q_proj, k_proj, v_proj (their shared input)
//   q_rot                      (b, nh, s, d) c     attention (RoPE'd q; q before RoPE is not saved:
//                                                  RoPE multiplies by cos/sin, which need no grad)
//   k_rot_expanded             (b, nh, s, d) c     attention (repeat_kv copy; k_rot itself when nh == kv;
//                                                  when kv == 1 repeat_kv's reshape is a VIEW of the
//                                                  (b, 1, s, d) k_rot, so sdpa saves only that; eager's
//                                                  matmul copies the view for bmm: full size again)
//   v_expanded                 (b, nh, s, d) c     attention (same rule as k)
//   sdpa only:  attn_out       (b, s, nh, d) c     sdpa backward (flash needs the output) AND o_proj:
//                                                  the flash / memory-efficient kernels (CUDA and CPU)
//                                                  lay the output out as (b, s, nh, d), so
//                                                  out.transpose(1, 2).contiguous().reshape(b, s, a) is
//                                                  a view, not a copy: one tensor
//               logsumexp      (b, nh, s)   4      sdpa backward
//   eager only: probs_fp32     (b, nh, s, s) 4     softmax backward (result)
//               probs          (b, nh, s, s) c     probs @ v (absent when c = 4: same tensor)
//               attn_flat      (b, s, a)    c      o_proj (transpose + contiguous copy of probs @ v,
//                                                  whose (b, nh, s, d) output is not saved)
//   post_norm.x_fp32           (b, s, h)    4      (as input_norm; for c = 4 the residual sum itself)
//   post_norm.rstd             (b, s, 1)    4
//   post_norm.x_normed         (b, s, h)    c
//   post_norm.out              (b, s, h)    c      gate_proj, up_proj
//   gate                       (b, s, I)    c      silu
//   act = silu(gate)           (b, s, I)    c      mul
//   up                         (b, s, I)    c      mul
//   act_up = act * up          (b, s, I)    c      down_proj
// Not saved: the layer input for c = 2 (RMSNorm saves its fp32 copy, the residual adds save nothing),
// q/k/v before RoPE, the attention scores before softmax, o_proj/down_proj outputs.
//
// Per model: input_ids (b, s) int64 (embedding backward), labels (b, s) int64 (nll_loss target),
//   rope cos and sin (b, s, d) c each (computed once, shared by every layer), final norm (x_fp32, rstd,
//   x_normed, out as above; out is lm_head's input).
// Loss (b*s*V, the largest tensors of SFT with big vocabularies). The training loop keeps only the
//   loss, not the logits; labels are shifted, not the logits (no shifted logits copy):
//   forward:  logits (b,s,V) c + logits.float() (b,s,V) 4 (absent when c = 4) + log_probs (b,s,V) 4
//   backward: log_probs (saved) + grad_log_probs (b,s,V) 4 (dense, from nll_loss)
//             + grad_logits_fp32 (b,s,V) 4 (log_softmax backward) = 12 bytes per b*s*V;
//             then grad_logits_fp32 -> grad_logits c for lm_head's backward (4 + c <= 12).
//   loss peak = max(forward, backward) per b*s*V.
// Peak (activation_timeline.cc): the step is replayed tensor by tensor, allocating and freeing in the
//   order PyTorch's autograd does (forward; final norm, lm_head, loss; loss backward; each layer's
//   backward in reverse op order, freeing each saved tensor after the op that used it, plus the
//   transients between: RMSNorm's fp32 temporaries, RoPE's products, the s x s scores and their grads
//   for eager, sdpa's fp32 dq accumulator, MLP grads). The peak is the largest live total; the
//   phases peak at the last layer, when the most saved tensors are live.
// Activation checkpointing (one checkpoint per decoder layer, as HF gradient_checkpointing): each
//   layer keeps only its input (b, s, h) c; before a layer's backward its forward is replayed
//   (recomputed, stopping after act_up as PyTorch's non-reentrant checkpoint does), so one layer's
//   saved tensors are live on top of L layer inputs.
// Validated against PyTorch (CPU, torch 2.11; tests/planner/reference/activation_reference.py ->
//   tests/planner/fixtures/torch_activations.json, checked by planner_memory_model_test): the saved
//   tensors match to the byte in all 40 cases (5 shapes incl. GQA, MQA, head_dim != h/nh; bf16/fp32;
//   sdpa/eager; checkpointing on/off), and the peak matches to the byte in 34 of them (the others:
//   fp32 with micro-batch 1, 2-6.5% low, where the measured peak includes lm_head's weight gradient,
//   which zeroplan counts as a gradient or buffer; bf16 MQA with checkpointing, 3% low / 16% high).
//   Device kernels differ in their transients: CUDA flash backward keeps one fp32 dq accumulator,
//   PyTorch's CPU flash backward three (dq, dk, dv) for 16-bit inputs (ActivationInput::cpu_kernels).
#include <cstdint>
#include <vector>

#include "planner/model_spec.h"
#include "planner/training_spec.h"

namespace zeroplan {

struct ActivationTensor {
  const char* name;
  std::vector<std::int64_t> shape;
  int dtype_bytes;
  std::uint64_t bytes() const;
};

struct ActivationInput {
  std::int64_t micro_batch = 1;
  std::int64_t seq_len = 1;
  Precision precision = Precision::kBf16;
  AttentionImpl attention = AttentionImpl::kSdpa;
  bool checkpointing = false;
  // The device's attention kernels: CUDA flash backward keeps one fp32 dq accumulator (b, nh, s, d);
  // PyTorch's CPU flash backward for 16-bit inputs accumulates dq, dk and dv in fp32 (three).
  bool cpu_kernels = false;
  // Whose tensors: kDeepSpeed (or kAuto) = the Hugging Face model this header lists, as DeepSpeed
  // runs it; kZeroplan = zeroplan's executor (executor_activations.cc: no id tensors, SDPA on the
  // k/v heads as they are, the fused chunked lm_head + cross-entropy, weight gradients held in
  // the activations' scope; CPU kernels). The lists of activation_memory() are the Hugging Face ones.
  Runtime runtime = Runtime::kDeepSpeed;
  std::int64_t loss_chunk_rows = 256;  // kZeroplan: rows per chunk of fused_causal_lm_loss_sum
};

// Peak live activation bytes of each phase of one micro-batch's forward + backward.
struct ActivationTimeline {
  std::uint64_t layer_saved_bytes = 0;   // one layer's saved bytes allocated by the layer itself
                                         // (the list's sum, less the layer input for c = 4)
  std::uint64_t forward_peak = 0;        // forward of the last layer
  std::uint64_t loss_forward_peak = 0;   // final norm, lm_head, loss
  std::uint64_t loss_backward_peak = 0;  // loss, lm_head and final norm backward
  std::uint64_t backward_peak = 0;       // (recompute and) backward of the last layer
  std::uint64_t peak() const;
  const char* peak_phase() const;  // "forward", "loss forward", "loss backward", "backward"
};
ActivationTimeline activation_timeline(const ModelSpec& model, const ActivationInput& in);
// The kZeroplan timeline (activation_timeline() calls it for that runtime).
ActivationTimeline executor_activation_timeline(const ModelSpec& model, const ActivationInput& in);

struct ActivationMemory {
  std::vector<ActivationTensor> layer_saved;      // one decoder layer (list above)
  std::vector<ActivationTensor> model_saved;      // ids, labels, rope cos/sin
  std::vector<ActivationTensor> final_norm_saved;
  std::vector<ActivationTensor> loss_forward;     // live together at the end of the loss forward
  std::vector<ActivationTensor> loss_backward;    // live together in log_softmax's backward
  std::uint64_t layer_saved_bytes = 0;
  std::uint64_t model_saved_bytes = 0;
  std::uint64_t final_norm_bytes = 0;
  std::uint64_t loss_peak_bytes = 0;       // max(loss_forward, loss_backward)
  std::uint64_t checkpoint_bytes = 0;      // L * (b, s, h) c when checkpointing, else 0
  ActivationTimeline timeline;
  std::uint64_t peak_bytes = 0;            // timeline.peak()
};

// The full list (for reports, tests and the executor's validation).
ActivationMemory activation_memory(const ModelSpec& model, const ActivationInput& in);
// Just the peak (= activation_timeline().peak(), no lists built; the search calls this per candidate).
std::uint64_t activation_peak_bytes(const ModelSpec& model, const ActivationInput& in);

}  // namespace zeroplan
