#include "planner/activation_memory.h"

#include <algorithm>

#include "planner/error.h"
#include "planner/live_bytes.h"

namespace zeroplan {
namespace {

// Tensor sizes in bytes (notation of activation_memory.h).
struct Sizes {
  bool c4 = false;    // fp32 compute: .to(fp32) / .float() are no-ops, no 16-bit copies
  bool sdpa = true;
  bool kv_copy = false;  // repeat_kv / matmul make nh-head copies of k and v
  bool cpu_kernels = false;
  std::uint64_t c = 2;
  std::uint64_t hid_c = 0;   // (b, s, h) c
  std::uint64_t hid_f = 0;   // (b, s, h) fp32
  std::uint64_t row_f = 0;   // (b, s, 1) fp32
  std::uint64_t q = 0;       // (b, nh, s, d) c
  std::uint64_t kv = 0;      // (b, kv, s, d) c: k, v straight out of their projections
  std::uint64_t kv_saved = 0;  // what attention saves for k or v
  std::uint64_t lse = 0;     // (b, nh, s) fp32
  std::uint64_t ss_c = 0;    // (b, nh, s, s) c
  std::uint64_t ss_f = 0;    // (b, nh, s, s) fp32
  std::uint64_t mask = 0;    // (s, s) c, the causal mask (eager)
  std::uint64_t ffn = 0;     // (b, s, I) c
  std::uint64_t vocab_c = 0;  // (b, s, V) c
  std::uint64_t vocab_f = 0;  // (b, s, V) fp32
  std::uint64_t model = 0;   // input_ids, labels, rope cos and sin
};

Sizes sizes_of(const ModelSpec& m, const ActivationInput& in) {
  ZP_ASSERT(in.micro_batch > 0 && in.seq_len > 0, "activation memory of an empty micro-batch");
  const auto b = static_cast<std::uint64_t>(in.micro_batch);
  const auto s = static_cast<std::uint64_t>(in.seq_len);
  const auto h = static_cast<std::uint64_t>(m.hidden_size);
  const auto nh = static_cast<std::uint64_t>(m.num_attention_heads);
  const auto kv = static_cast<std::uint64_t>(m.num_key_value_heads);
  const auto d = static_cast<std::uint64_t>(m.head_dim);
  Sizes z;
  z.c = static_cast<std::uint64_t>(compute_dtype_bytes(in.precision));
  z.c4 = z.c == 4;
  z.sdpa = in.attention == AttentionImpl::kSdpa;
  z.cpu_kernels = in.cpu_kernels;
  z.hid_c = z.c * b * s * h;
  z.hid_f = 4 * b * s * h;
  z.row_f = 4 * b * s;
  z.q = z.c * b * nh * s * d;
  z.kv = z.c * b * kv * s * d;
  // repeat_kv copies to nh heads unless kv == nh (identity) or kv == 1 with sdpa (a view that sdpa
  // saves as is; eager's matmul copies it for bmm). See activation_memory.h.
  z.kv_copy = kv != nh && !(kv == 1 && z.sdpa);
  z.kv_saved = z.kv_copy ? z.q : z.kv;
  z.lse = 4 * b * nh * s;
  z.ss_c = z.c * b * nh * s * s;
  z.ss_f = 4 * b * nh * s * s;
  z.mask = z.c * s * s;
  z.ffn = z.c * b * s * static_cast<std::uint64_t>(m.intermediate_size);
  z.vocab_c = z.c * b * s * static_cast<std::uint64_t>(m.vocab_size);
  z.vocab_f = 4 * b * s * static_cast<std::uint64_t>(m.vocab_size);
  z.model = 8 * b * s + 8 * b * s + 2 * z.c * b * s * d;  // ids, labels, cos, sin
  return z;
}

// RMSNorm forward on a live input (activation_memory.h): leaves x_fp32 (unless c = 4: the input
// itself), rstd, x_normed and out live; returns their bytes.
std::uint64_t norm_forward(Live& l, const Sizes& z) {
  const std::uint64_t x_fp32 = z.c4 ? 0 : z.hid_f;
  l.alloc(x_fp32);         // x.to(fp32)                          (b, s, h) fp32
  l.alloc(z.hid_f);        // x.pow(2)                             transient
  l.alloc(z.row_f);        // .mean(-1)                            (b, s, 1)
  l.free(z.hid_f);
  l.alloc(z.row_f);        // + eps
  l.free(z.row_f);
  l.alloc(z.row_f);        // rstd = rsqrt(.)                      saved
  l.free(z.row_f);
  l.alloc(z.hid_f);        // x * rstd                             (b, s, h) fp32
  if (!z.c4) {
    l.alloc(z.hid_c);      // .to(c) = x_normed                    saved
    l.free(z.hid_f);
  }                        // (c = 4: x * rstd is x_normed)
  l.alloc(z.hid_c);        // out = weight * x_normed              saved
  return x_fp32 + z.row_f + z.hid_c + z.hid_c;
}

// RMSNorm backward: `grad_out` (b, s, h) c is live on entry and freed; the norm's saved tensors are
// freed; leaves the grad of its input (b, s, h) c live (the caller adds it into the residual grad).
// `input_aliased` (c = 4): x_fp32 is the input tensor, freed by the caller, not here.
void norm_backward(Live& l, const Sizes& z, std::uint64_t x_fp32_saved) {
  l.alloc(z.hid_c);                       // grad of x_normed = grad_out * weight
  l.free(z.hid_c);                        // grad_out
  l.free(z.hid_c);                        // saved: out (freed with the linears that read it; here)
  l.free(z.hid_c);                        // saved: x_normed
  if (!z.c4) {
    l.alloc(z.hid_f);                     // grad to fp32 (ToCopyBackward)
    l.free(z.hid_c);
  }
  l.alloc(z.hid_f);                       // grad_x = g * rstd
  l.alloc(z.hid_f);                       // g * x (before the sum for grad_rstd)
  l.alloc(z.row_f);                       // grad_rstd
  l.free(z.hid_f);
  l.free(z.hid_f);                        // g (fp32)
  l.alloc(z.row_f);                       // grad of variance (rsqrt backward)
  l.free(z.row_f);
  l.free(z.row_f);                        // saved: rstd
  l.alloc(z.hid_f);                       // mean backward: expand / h
  l.free(z.row_f);
  l.alloc(z.hid_f);                       // pow backward = grad * (2 * x.pow(1)): x.pow(1),
  l.alloc(z.hid_f);                       //   2 * (.),
  l.alloc(z.hid_f);                       //   grad * (.) -- C++ temporaries live to the expression's end
  l.free(2 * z.hid_f);
  l.free(z.hid_f);                        // the mean grad
  l.free(z.hid_f);                        // added into grad_x
  l.free(x_fp32_saved);                   // saved: x_fp32
  if (!z.c4) {
    l.alloc(z.hid_c);                     // grad_x to c
    l.free(z.hid_f);
  }                                       // (c = 4: grad_x is already the input's grad)
}

// RoPE forward on a live projection output of `n` bytes: q*cos + rotate_half(q)*sin. Leaves the
// rotated tensor live, frees the projection output.
void rope_forward(Live& l, std::uint64_t n) {
  l.alloc(n);      // q * cos
  l.alloc(n / 2);  // -x2
  l.alloc(n);      // cat(-x2, x1)
  l.free(n / 2);
  l.alloc(n);      // cat * sin
  l.free(n);
  l.alloc(n);      // sum = q_rot
  l.free(n);
  l.free(n);
  l.free(n);       // the projection output
}

// RoPE backward: grad of q_rot (n) live on entry; leaves the grad of the projection output (n).
void rope_backward(Live& l, std::uint64_t n) {
  l.alloc(n);      // g * cos
  l.alloc(n);      // g * sin
  l.alloc(n);      // rotate_half backward (slices of the cat grad, negated, padded back)
  l.free(n);
  l.free(n);       // added into g * cos
  l.free(n);       // the grad of q_rot
}

// One decoder layer forward; the input x is live on entry and stays live (the caller frees it).
// Returns the bytes it leaves saved for backward; its output (b, s, h) c is live on return too.
// `recompute`: the checkpoint's replay before backward stops once the last saved tensor (act * up)
// exists (PyTorch's non-reentrant checkpoint stops early), so no down_proj / output is made.
std::uint64_t layer_forward(Live& l, const Sizes& z, bool recompute = false) {
  std::uint64_t saved = norm_forward(l, z);  // input_layernorm
  l.alloc(z.q);                              // q_proj output
  l.alloc(z.kv);                             // k_proj output
  l.alloc(z.kv);                             // v_proj output
  rope_forward(l, z.q);                      // q_rot (saved); frees q_proj's output
  rope_forward(l, z.kv);                     // k_rot; frees k_proj's output
  if (z.kv_copy) {
    l.alloc(z.q);                            // repeat_kv(k) copy (saved)
    l.free(z.kv);                            // k_rot
    l.alloc(z.q);                            // repeat_kv(v) copy (saved)
    l.free(z.kv);                            // v_proj output
  }                                          // (else k_rot and v_proj's output are saved as they are)
  saved += z.q + 2 * z.kv_saved;
  if (z.sdpa) {
    l.alloc(z.q);                            // out (b, s, nh, d): also o_proj's input (a view)
    l.alloc(z.lse);                          // logsumexp
    saved += z.q + z.lse;
  } else {
    l.alloc(z.ss_c);                         // q @ k^T
    l.alloc(z.ss_c);                         // * scale
    l.free(z.ss_c);
    l.alloc(z.mask);                         // causal mask
    l.alloc(z.ss_c);                         // + mask
    l.free(z.ss_c);
    l.free(z.mask);
    if (!z.c4) l.alloc(z.ss_f);              // softmax(dtype=fp32) upcasts its input
    l.alloc(z.ss_f);                         // probs_fp32 (saved)
    if (!z.c4) {
      l.free(z.ss_f);
      l.alloc(z.ss_c);                       // probs = probs_fp32.to(c) (saved)
    }
    l.free(z.ss_c);                          // the masked scores
    l.alloc(z.q);                            // probs @ v
    l.alloc(z.q);                            // attn_flat = transpose + contiguous (saved)
    l.free(z.q);
    saved += z.ss_f + (z.c4 ? 0 : z.ss_c) + z.q;
  }
  l.alloc(z.hid_c);                          // o_proj output
  l.alloc(z.hid_c);                          // h1 = x + o
  l.free(z.hid_c);
  saved += norm_forward(l, z);               // post_attention_layernorm (c = 4: x_fp32 is h1)
  l.alloc(z.ffn);                            // gate (saved)
  l.alloc(z.ffn);                            // act = silu(gate) (saved)
  l.alloc(z.ffn);                            // up (saved)
  l.alloc(z.ffn);                            // act * up (saved)
  saved += 4 * z.ffn;
  if (recompute) {
    if (z.c4) {
      saved += z.hid_f;                      // h1 is post_norm's x_fp32
    } else {
      l.free(z.hid_c);                       // h1 (not saved)
    }
    return saved;
  }
  l.alloc(z.hid_c);                          // down_proj output
  l.alloc(z.hid_c);                          // out = h1 + down
  l.free(z.hid_c);
  if (z.c4) {
    saved += z.hid_f;                        // h1 is post_norm's x_fp32
  } else {
    l.free(z.hid_c);                         // h1 (not saved)
  }
  return saved;
}

// One decoder layer backward: its saved tensors and the grad of its output (b, s, h) c are live on
// entry; on return the saved tensors are freed and the grad of its input is live. For c = 4 the
// input_layernorm's x_fp32 is the layer input: `input_saved` says whether this layer frees it.
void layer_backward(Live& l, const Sizes& z, bool input_saved) {
  // MLP: down_proj, mul, up_proj, silu, gate_proj.
  l.alloc(z.ffn);        // grad of act*up
  l.free(z.ffn);         // saved: act*up
  l.alloc(z.ffn);        // grad of act
  l.alloc(z.ffn);        // grad of up
  l.free(z.ffn);         // grad of act*up
  l.free(z.ffn);         // saved: act
  l.free(z.ffn);         // saved: up
  l.alloc(z.hid_c);      // up_proj backward: grad of post_norm.out
  l.free(z.ffn);         // grad of up
  l.alloc(z.ffn);        // silu backward: grad of gate
  l.free(z.ffn);         // grad of act
  l.free(z.ffn);         // saved: gate
  l.alloc(z.hid_c);      // gate_proj backward, added into the grad of post_norm.out
  l.free(z.hid_c);
  l.free(z.ffn);         // grad of gate
  // post_attention_layernorm; its x_fp32 is h1 for c = 4 (same bytes).
  norm_backward(l, z, z.hid_f);  // (c = 4: its x_fp32 is h1, same bytes)
  l.free(z.hid_c);       // added into the residual grad (grad of h1)
  // attention
  l.alloc(z.q);          // o_proj backward: grad of the attention output
  if (z.sdpa) {
    l.alloc(z.q);        // grad q
    l.alloc(z.kv_saved);  // grad k (as saved: expanded or not)
    l.alloc(z.kv_saved);  // grad v
    // fp32 accumulators: CUDA flash backward dq (b, nh, s, d); PyTorch's CPU flash backward with
    // 16-bit inputs dq, dk and dv (measured with MemTracker: 3 x (b, nh, s, d) fp32)
    const std::uint64_t accum = (z.cpu_kernels && !z.c4 ? 3 : 1) * (z.q / z.c * 4);
    l.alloc(accum);
    l.alloc(z.lse);      // softmax_d (rowsum of dO * O)
    l.free(z.lse);
    l.free(accum);
    l.free(z.q);         // grad of the output
    l.free(z.q + 2 * z.kv_saved + z.q + z.lse);  // saved: q, k, v, out, logsumexp
  } else {
    l.alloc(z.c4 ? z.ss_f : z.ss_c);  // probs @ v backward: grad of probs
    l.alloc(z.q);                     // grad of v (expanded)
    l.free(z.q);                      // grad of the output
    l.free(z.q);                      // saved: attn_flat
    if (!z.c4) l.free(z.ss_c);        // saved: probs (c)
    l.free(z.kv_saved);               // saved: v
    if (!z.c4) {
      l.alloc(z.ss_f);                // grad to fp32
      l.free(z.ss_c);
    }
    l.alloc(z.ss_f);                  // softmax backward: grad of the scores (fp32)
    l.free(z.ss_f);                   // grad of probs_fp32
    l.free(z.ss_f);                   // saved: probs_fp32
    if (!z.c4) {
      l.alloc(z.ss_c);                // grad to c
      l.free(z.ss_f);
    }
    l.alloc(z.ss_c);                  // * scale backward
    l.free(z.ss_c);
    l.alloc(z.q);                     // q @ k^T backward: grad q
    l.alloc(z.q);                     // grad k (expanded)
    l.free(z.ss_c);
    l.free(z.q + z.kv_saved);         // saved: q, k
  }
  const std::uint64_t grad_k = z.sdpa ? z.kv_saved : z.q;  // as allocated above
  if (z.kv_copy || grad_k != z.kv) {
    l.alloc(z.kv);       // repeat_kv backward: sum over the copies (k)
    l.free(grad_k);
    l.alloc(z.kv);       // (v)
    l.free(grad_k);
  }
  rope_backward(l, z.q);   // grad of q_proj output
  rope_backward(l, z.kv);  // grad of k_proj output
  l.alloc(z.hid_c);        // q_proj backward: grad of input_norm.out
  l.free(z.q);
  l.alloc(z.hid_c);        // k_proj backward, added
  l.free(z.hid_c);
  l.free(z.kv);
  l.alloc(z.hid_c);        // v_proj backward, added
  l.free(z.hid_c);
  l.free(z.kv);
  norm_backward(l, z, z.c4 ? (input_saved ? z.hid_f : 0) : z.hid_f);
  l.free(z.hid_c);         // added into the residual grad: the grad of the layer input remains
}

}  // namespace

std::uint64_t ActivationTimeline::peak() const {
  return std::max({forward_peak, loss_forward_peak, loss_backward_peak, backward_peak});
}

const char* ActivationTimeline::peak_phase() const {
  const std::uint64_t p = peak();
  if (p == backward_peak) return "backward";
  if (p == loss_backward_peak) return "loss backward";
  if (p == loss_forward_peak) return "loss forward";
  return "forward";
}

// The whole step for one micro-batch. Layers are identical, so each phase peaks at the last layer
// (the most saved tensors are live then): one layer is replayed on top of what the others keep.
//   no checkpointing: layers 0..L-2 keep their saved tensors (S each);
//   checkpointing:    each layer keeps only its input (b, s, h) c; the last layer's forward is replayed
//                     (recomputed) right before its backward.
ActivationTimeline activation_timeline(const ModelSpec& model, const ActivationInput& in) {
  // zeroplan's executor with eager attention is not modelled separately (yet): the Hugging Face list.
  if (in.runtime == Runtime::kZeroplan && in.attention == AttentionImpl::kSdpa) {
    return executor_activation_timeline(model, in);
  }
  const Sizes z = sizes_of(model, in);
  const auto L = static_cast<std::uint64_t>(model.num_hidden_layers);
  ActivationTimeline t;

  // One layer alone, to learn S (its saved bytes).
  {
    Live probe;
    probe.alloc(z.hid_c);  // input
    t.layer_saved_bytes = layer_forward(probe, z);
  }
  const std::uint64_t S = t.layer_saved_bytes;
  // Live when the last layer starts: the model tensors, what layers 0..L-2 keep, and its input.
  //   checkpointing: every layer's input (b, s, h) c  (the last one's too)
  //   c = 2:         S per earlier layer + the input (not saved by anyone; freed after the layer)
  //   c = 4:         S + input per earlier layer (input_norm.x_fp32 is the input itself) + the input
  std::uint64_t before = 0;
  if (in.checkpointing) {
    before = z.model + L * z.hid_c;
  } else if (z.c4) {
    before = z.model + (L - 1) * (S + z.hid_c) + z.hid_c;
  } else {
    before = z.model + (L - 1) * S + z.hid_c;
  }
  Live l;
  l.alloc(before);
  l.reset_peak();
  const std::uint64_t saved_last = layer_forward(l, z);
  t.forward_peak = l.peak;
  if (in.checkpointing) {
    l.free(saved_last);  // a checkpointed layer keeps only its input (already counted) and its output
  } else if (!z.c4) {
    l.free(z.hid_c);     // c = 2: the layer input is not saved
  }
  // Now live: the model tensors, what the layers keep and the last layer's output.
  // loss forward
  l.reset_peak();
  norm_forward(l, z);          // final norm (its saved tensors live until its backward)
  if (!z.c4) l.free(z.hid_c);  // the last layer's output is not saved (c = 4: it is x_fp32)
  l.alloc(z.vocab_c);          // logits
  if (!z.c4) l.alloc(z.vocab_f);  // logits.float()
  l.alloc(z.vocab_f);          // log_probs (saved)
  if (!z.c4) l.free(z.vocab_f);
  l.free(z.vocab_c);           // the training loop keeps the loss only
  t.loss_forward_peak = l.peak;
  // loss backward
  l.reset_peak();
  l.alloc(z.vocab_f);  // nll_loss backward: grad of log_probs (dense)
  l.alloc(z.vocab_f);  // log_softmax backward: grad of the fp32 logits
  l.free(z.vocab_f);
  l.free(z.vocab_f);   // saved: log_probs
  if (!z.c4) {
    l.alloc(z.vocab_c);  // grad of the logits in c
    l.free(z.vocab_f);
  }
  l.alloc(z.hid_c);    // lm_head backward: grad of final_norm.out
  l.free(z.c4 ? z.vocab_f : z.vocab_c);
  norm_backward(l, z, z.hid_f);  // final norm (c = 4: its x_fp32 is the last layer's output)
  t.loss_backward_peak = l.peak;
  // backward of the last layer (after recomputing its forward when checkpointing)
  l.reset_peak();
  if (in.checkpointing) {
    layer_forward(l, z, /*recompute=*/true);  // its input is the live checkpoint
  }
  layer_backward(l, z, /*input_saved=*/true);
  if (in.checkpointing && !z.c4) l.free(z.hid_c);  // the checkpointed input, released with the layer
  t.backward_peak = l.peak;
  // Bookkeeping check: what remains is what the earlier layers keep plus the grad of the last layer's
  // input; every tensor the replay allocated for the last layer and the loss has been freed.
  const std::uint64_t kept = in.checkpointing ? (L - 1) * z.hid_c : (L - 1) * (S + (z.c4 ? z.hid_c : 0));
  ZP_ASSERT(l.cur == z.model + kept + z.hid_c, "activation timeline allocations and frees do not balance");
  return t;
}

}  // namespace zeroplan
