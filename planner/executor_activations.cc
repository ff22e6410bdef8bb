// Activation timeline of zeroplan's own executor (Runtime::kZeroplan): executor/model/*.cc and
// executor/train/fused_lm_loss.cc replayed allocation by allocation, in the order LibTorch runs them
// (checked against the executor by tests/fidelity/executor_activation_test.cc, which records its
// allocations). What differs from the Hugging Face model + DeepSpeed (activation_timeline.cc):
//   - input_ids, labels and position ids are the trainer's own vectors wrapped with from_blob: no
//     tensor bytes; RoPE's cos/sin are made from fp32 temporaries;
//   - SDPA gets the k/v heads as they are (enable_gqa) on full causal rows (no mask): no repeat_kv
//     copies;
//   - the loss is fused_causal_lm_loss_sum: lm_head + cross-entropy over chunks of `loss_chunk_rows`
//     labelled rows; the [tokens, vocab] logits never exist, but its forward already computes
//     d(loss)/d(rows) [N, h] and d(loss)/d(W) [V, h] (fp32 accumulator, saved in the model dtype);
//   - weight gradients are charged to activations while autograd holds them (the trainer's scope)
//     before they are added into the engine's flat buffer: one matrix at a time without
//     checkpointing, a whole layer's at once with it (the checkpoint's autograd::grad returns them
//     together);
//   - the checkpointed layer's recompute runs the whole layer, output included.
// Full rows: every position but the last of each row has a label (N = b (s - 1) rows reach the
// lm_head), which is what the fidelity runs train on (every example longer than the sequence).
#include <algorithm>

#include "planner/activation_memory.h"
#include "planner/error.h"
#include "planner/live_bytes.h"

namespace zeroplan {
namespace {

using u64 = std::uint64_t;

struct Z {
  bool c4 = false;
  u64 c = 2;
  u64 hid_c = 0, hid_f = 0, row_f = 0;  // (b, s, h) c / fp32, (b, s, 1) fp32
  u64 q = 0, kv = 0, lse = 0;           // (b, nh, s, d) c, (b, kv, s, d) c, (b, nh, s) fp32
  u64 ffn = 0;                          // (b, s, I) c
  u64 rope_f = 0, rope_c = 0;           // (b, s, d) fp32 / c
  u64 pos_f = 0;                        // (b, s) fp32
  u64 w_q = 0, w_kv = 0, w_o = 0, w_mlp = 0, w_norm = 0;  // weight (gradient) bytes in c
  u64 w_layer = 0;                      // all of one layer's weights, c
  u64 rows_c = 0;                       // (N, h) c: labelled rows
  u64 rows_all_c = 0;                   // (b (s - 1), h) c
  u64 vh_c = 0, vh_f = 0;               // (V, h) c / fp32
  u64 chunk_logits_f = 0, chunk_logits_c = 0;  // (chunk, V) fp32 / c
  u64 targets = 0, keep = 0, ne = 0;    // (b (s - 1)) int64 copy, (N) int64 indices, (b (s - 1)) bool
  u64 chunk_row_f = 0;                  // (chunk) fp32
  std::int64_t chunks = 0;
  u64 last_chunk_logits_f = 0, last_chunk_logits_c = 0, last_chunk_row_f = 0;
  bool b1 = false;                      // micro-batch 1: reshapes of the narrowed rows are views
  bool cpu_kernels = true;
};

Z sizes(const ModelSpec& m, const ActivationInput& in) {
  ZP_ASSERT(in.micro_batch > 0 && in.seq_len > 1, "executor activation memory needs b >= 1 and s >= 2");
  const auto b = static_cast<u64>(in.micro_batch), s = static_cast<u64>(in.seq_len);
  const auto h = static_cast<u64>(m.hidden_size), nh = static_cast<u64>(m.num_attention_heads);
  const auto kv = static_cast<u64>(m.num_key_value_heads), d = static_cast<u64>(m.head_dim);
  const auto I = static_cast<u64>(m.intermediate_size), V = static_cast<u64>(m.vocab_size);
  Z z;
  z.c = static_cast<u64>(compute_dtype_bytes(in.precision));
  z.c4 = z.c == 4;
  z.b1 = b == 1;
  z.cpu_kernels = in.cpu_kernels;
  z.hid_c = z.c * b * s * h;
  z.hid_f = 4 * b * s * h;
  z.row_f = 4 * b * s;
  z.q = z.c * b * nh * s * d;
  z.kv = z.c * b * kv * s * d;
  z.lse = 4 * b * nh * s;
  z.ffn = z.c * b * s * I;
  z.rope_f = 4 * b * s * d;
  z.rope_c = z.c * b * s * d;
  z.pos_f = 4 * b * s;
  z.w_q = z.c * nh * d * h;
  z.w_kv = z.c * kv * d * h;
  z.w_o = z.c * h * nh * d;
  z.w_mlp = z.c * h * I;
  z.w_norm = z.c * h;
  z.w_layer = z.w_q + 2 * z.w_kv + z.w_o + 3 * z.w_mlp + 2 * z.w_norm;
  const u64 rows = b * (s - 1);  // every position but the last of a row has a label
  const u64 chunk = std::min(rows, static_cast<u64>(std::max<std::int64_t>(in.loss_chunk_rows, 1)));
  z.chunks = static_cast<std::int64_t>((rows + chunk - 1) / chunk);
  const u64 last = rows - (static_cast<u64>(z.chunks) - 1) * chunk;
  z.rows_c = z.c * rows * h;
  z.rows_all_c = z.c * rows * h;
  z.vh_c = z.c * V * h;
  z.vh_f = 4 * V * h;
  z.chunk_logits_f = 4 * chunk * V;
  z.chunk_logits_c = z.c * chunk * V;
  z.chunk_row_f = 4 * chunk;
  z.last_chunk_logits_f = 4 * last * V;
  z.last_chunk_logits_c = z.c * last * V;
  z.last_chunk_row_f = 4 * last;
  z.targets = z.b1 ? 0 : 8 * rows;
  z.keep = 8 * rows;
  z.ne = rows;
  return z;
}

// RMSNormImpl::forward (layers.cc) on a live input: h = x.to(f32); variance = h.pow(2).mean(-1);
// h = h * rsqrt(variance + eps); return weight * h.to(c). Leaves x_fp32 (c = 2; for c = 4 it is
// the input), rstd, x_normed and out saved; returns their bytes.
u64 norm_forward(Live& l, const Z& z) {
  const u64 x_fp32 = z.c4 ? 0 : z.hid_f;
  l.alloc(x_fp32);   // x.to(f32)                  saved (pow, mul)
  l.alloc(z.hid_f);  // .pow(2)
  l.alloc(z.row_f);  // .mean(-1)                  variance
  l.free(z.hid_f);
  l.alloc(z.row_f);  // variance + eps
  l.alloc(z.row_f);  // rsqrt                      saved
  l.alloc(z.hid_f);  // h * rstd                   (c = 4: x_normed, saved)
  l.free(z.row_f);   // variance + eps
  if (!z.c4) l.alloc(z.hid_c);  // .to(c)          x_normed, saved
  l.alloc(z.hid_c);  // weight * x_normed          out, saved by the next linear(s)
  if (!z.c4) l.free(z.hid_f);   // h * rstd (c = 2: not saved)
  l.free(z.row_f);   // variance
  return x_fp32 + z.row_f + 2 * z.hid_c;
}

// RMSNorm backward: grad of out (hid_c) live on entry and consumed; the norm's saved tensors are
// freed, its weight gradient passes through (accumulated into the flat buffer), the grad of its
// input (hid_c) is left live. `x_fp32_saved`: what this norm frees as its x_fp32.
void norm_backward(Live& l, const Z& z, u64 x_fp32_saved, bool keep_weight_grad = false, bool out_saved = true) {
  // weight * x_normed: grad_weight = sum(g * x_normed), grad_normed = g * weight
  l.alloc(z.hid_c);   // g * weight            grad of x_normed
  l.alloc(z.hid_c);   // g * x_normed
  l.alloc(z.w_norm);  // summed to the weight's shape
  l.free(z.hid_c);
  if (!keep_weight_grad) l.free(z.w_norm);   // accumulated into the weight's gradient
  l.free(z.hid_c);    // g
  if (out_saved) l.free(z.hid_c);  // out: freed with the linears that read it (the final norm's: earlier)
  l.free(z.hid_c);    // saved: x_normed
  if (!z.c4) {
    l.alloc(z.hid_f);  // ToCopyBackward: grad to fp32
    l.free(z.hid_c);
  }
  // h * rstd: grad_h = g * rstd, grad_rstd = sum(g * h)
  l.alloc(z.hid_f);   // g * rstd
  l.alloc(z.hid_f);   // g * h
  l.alloc(z.row_f);   // summed
  l.free(z.hid_f);
  l.free(z.hid_f);    // g (fp32)
  l.alloc(z.row_f);   // rsqrt backward
  l.free(z.row_f);
  l.free(z.row_f);    // saved: rstd
  l.alloc(z.hid_f);   // mean backward (expand / h)
  l.free(z.row_f);
  l.alloc(z.hid_f);   // pow backward: x.pow(1) * 2 ...
  l.alloc(z.hid_f);
  l.alloc(z.hid_f);
  l.free(2 * z.hid_f);
  l.free(z.hid_f);    // mean grad, added
  l.free(z.hid_f);    // summed into grad_x
  l.free(x_fp32_saved);
  if (!z.c4) {
    l.alloc(z.hid_c);  // to c
    l.free(z.hid_f);
  }
}

// apply_rope (layers.cc): rotated = cat(-x2, x1); return x * cos + rotated * sin. The projection
// output x (n) is freed when the caller replaces it by the result.
void rope_forward(Live& l, u64 n) {
  l.alloc(n / 2);  // -x2
  l.alloc(n);      // cat
  l.free(n / 2);
  l.alloc(n);      // x * cos
  l.alloc(n);      // rotated * sin
  l.alloc(n);      // sum (the result)
  l.free(2 * n);   // the two products
  l.free(n);       // rotated
  l.free(n);       // the projection output (not saved: cos/sin need no grad)
}

// RoPE backward: the grad of the result (n) live on entry; leaves the grad of the projection output.
void rope_backward(Live& l, u64 n) {
  l.alloc(n);      // g * cos
  l.alloc(n);      // g * sin: grad of rotated
  l.alloc(n / 2);  // cat backward: narrow of the grad of -x2, negated
  l.alloc(n);      // the two halves padded back (slice backward) and summed into g * cos
  l.free(n / 2);
  l.free(n);
  l.free(n);
  l.free(n);       // g
}

// One linear's backward: grad_input = g @ W, grad_weight = g^T @ x. The weight gradient is added
// into the flat buffer right away (AccumulateGrad runs first) unless `keep_weight_grads` (the
// checkpoint's autograd::grad holds them until the layer is done).
void linear_backward(Live& l, u64 grad_input, u64 weight, bool keep_weight_grads) {
  l.alloc(grad_input);
  l.alloc(weight);
  if (!keep_weight_grads) l.free(weight);
}

// One decoder layer's forward; its input is live on entry and stays live. Returns what it keeps
// for backward; its output (hid_c) is live on return.
u64 layer_forward(Live& l, const Z& z) {
  u64 saved = norm_forward(l, z);  // input_layernorm
  l.alloc(z.q);                    // q_proj
  l.alloc(z.kv);                   // k_proj
  l.alloc(z.kv);                   // v_proj
  rope_forward(l, z.q);            // q_rot (saved)
  rope_forward(l, z.kv);           // k_rot (saved); v_proj's output is saved as it is
  l.alloc(z.q);                    // sdpa output (b, s, nh, d), also o_proj's input (a view)
  l.alloc(z.lse);                  // logsumexp
  saved += 2 * z.q + 2 * z.kv + z.lse;
  l.alloc(z.hid_c);                // o_proj
  l.alloc(z.hid_c);                // h1 = x + o
  l.free(z.hid_c);                 // o_proj output
  saved += norm_forward(l, z);     // post_attention_layernorm (c = 4: its x_fp32 is h1)
  l.alloc(z.ffn);                  // gate
  l.alloc(z.ffn);                  // silu(gate)
  l.alloc(z.ffn);                  // up
  l.alloc(z.ffn);                  // silu(gate) * up
  saved += 4 * z.ffn;
  l.alloc(z.hid_c);                // down_proj
  l.alloc(z.hid_c);                // out = h1 + down
  l.free(z.hid_c);                 // down_proj output
  if (z.c4) {
    saved += z.hid_f;              // h1 is post_norm's x_fp32
  } else {
    l.free(z.hid_c);               // h1 (c = 2: not saved)
  }
  return saved;
}

// One decoder layer's backward: its saved tensors and the grad of its output (hid_c) live on entry;
// on return the saved tensors are freed and the grad of its input is live. `input_x_fp32`: what
// input_layernorm frees as its x_fp32 (c = 4: the layer input, when this layer holds the last
// reference to it). `keep_weight_grads`: the checkpoint holds the weight gradients to the end.
void layer_backward(Live& l, const Z& z, u64 input_x_fp32, bool keep_weight_grads) {
  const bool k = keep_weight_grads;
  // out = h1 + down: the grad of out flows to both (no copy)
  linear_backward(l, z.ffn, z.w_mlp, k);  // down_proj: grad of act*up
  l.free(z.ffn);                           // saved: act*up
  l.alloc(z.ffn);                          // grad of act = g * up
  l.alloc(z.ffn);                          // grad of up = g * act
  l.free(z.ffn);                           // grad of act*up
  l.free(z.ffn);                           // saved: act
  l.free(z.ffn);                           // saved: up
  linear_backward(l, z.hid_c, z.w_mlp, k);  // up_proj: grad of post_norm.out
  l.free(z.ffn);                           // grad of up
  l.alloc(z.ffn);                          // silu backward: grad of gate
  l.free(z.ffn);                           // grad of act
  l.free(z.ffn);                           // saved: gate
  linear_backward(l, z.hid_c, z.w_mlp, k);  // gate_proj
  l.free(z.hid_c);                         // added in place into up_proj's (input_buffer accumulate)
  l.free(z.ffn);                           // grad of gate
  norm_backward(l, z, z.hid_f, k);         // post_attention_layernorm (c = 4: x_fp32 is h1)
  l.free(z.hid_c);                         // added in place into the residual grad: grad of h1
  // attention: o_proj, sdpa, rope, q/k/v
  linear_backward(l, z.q, z.w_o, k);       // o_proj: grad of the sdpa output
  l.alloc(z.q);                            // grad q
  l.alloc(z.kv);                           // grad k
  l.alloc(z.kv);                           // grad v
  // PyTorch's CPU flash backward accumulates in fp32 for 16-bit inputs: dq, dk, dv (b, nh, s, d)
  // (activation_memory.h); CUDA's keeps one dq accumulator.
  const u64 accum = (z.cpu_kernels && !z.c4 ? 3 : (z.c4 ? 0 : 1)) * (z.q / z.c * 4);
  l.alloc(accum);
  l.free(accum);
  l.free(z.q);                             // grad of the output
  l.free(2 * z.q + 2 * z.kv + z.lse);      // saved: q, k, v, out, logsumexp
  rope_backward(l, z.q);                   // grad of q_proj's output
  rope_backward(l, z.kv);                  // grad of k_proj's output
  linear_backward(l, z.hid_c, z.w_q, k);   // q_proj: grad of input_norm.out
  l.free(z.q);
  linear_backward(l, z.hid_c, z.w_kv, k);  // k_proj
  l.free(z.hid_c);                         // added in place into q_proj's
  l.free(z.kv);
  linear_backward(l, z.hid_c, z.w_kv, k);  // v_proj
  l.free(z.hid_c);                         // added in place
  l.free(z.kv);
  norm_backward(l, z, input_x_fp32, k);    // input_layernorm
  l.free(z.hid_c);                         // added in place into the grad of h1: the layer input's grad
}

// fused_causal_lm_loss_sum forward (fused_lm_loss.cc) on the live final hidden states. Returns the
// bytes it leaves saved (grad of rows, grad of W in the model dtype, the kept row indices).
u64 loss_forward(Live& l, const Z& z) {
  l.alloc(z.targets);        // labels[:, 1:].reshape(-1): a copy unless b = 1
  l.alloc(z.ne);             // targets != -100
  l.alloc(z.keep);           // nonzero(): the labelled rows (saved by index_select's backward)
  l.free(z.ne);
  if (!z.b1) l.alloc(z.rows_all_c);  // hidden[:, :-1].reshape(b (s - 1), h): a copy unless b = 1
  l.alloc(z.rows_c);         // index_select: the labelled rows
  if (!z.b1) l.free(z.rows_all_c);
  l.alloc(z.keep);           // targets.index_select(keep)
  // FusedLinearCrossEntropy::forward (no grad mode)
  l.alloc(z.rows_c);         // grad_rows
  l.alloc(z.vh_f);           // grad_weight, fp32
  for (std::int64_t i = 0; i < z.chunks; ++i) {
    const bool last = i == z.chunks - 1;
    const u64 lf = last ? z.last_chunk_logits_f : z.chunk_logits_f;
    const u64 lc = last ? z.last_chunk_logits_c : z.chunk_logits_c;
    const u64 rf = last ? z.last_chunk_row_f : z.chunk_row_f;
    l.alloc(lc);             // mm(h, W^T)
    if (!z.c4) {
      l.alloc(lf);           // .to(f32): logits
      l.free(lc);
    }
    l.alloc(rf);             // logsumexp: amax
    l.alloc(lf);             // (logits - max).exp_()
    l.alloc(rf);             // sum -> lse
    l.free(lf);
    l.free(rf);
    l.alloc(rf);             // gather
    l.alloc(rf);             // lse - gathered
    l.free(2 * rf);
    l.alloc(rf);             // full(-1) for scatter_add_
    l.free(rf);
    if (!z.c4) l.alloc(lc);  // g = logits.to(c)
    if (z.c4) {
      // grad_weight.addmm_(g^T, h): in place
    } else {
      l.alloc(z.vh_c);       // mm(g^T, h)
      l.alloc(z.vh_f);       // .to(f32), added
      l.free(z.vh_c + z.vh_f);
      l.free(lc);            // g
    }
    l.free(lf);              // logits
    l.free(rf);              // lse
  }
  if (!z.c4) {
    l.alloc(z.vh_c);         // grad_weight.to(c), saved
    l.free(z.vh_f);          // the fp32 accumulator
  }
  l.free(z.keep);            // targets.index_select(keep)
  l.free(z.rows_c);          // rows (not saved)
  l.free(z.targets);
  l.free(z.hid_c);           // the final norm's output: index_select copied the rows, nothing saved it
  return z.rows_c + z.vh_c + z.keep;  // c = 4: grad_weight is saved as it is (vh_c == vh_f)
}

// The loss backward down to the grad of the final norm's output (hid_c, left live).
void loss_backward(Live& l, const Z& z) {
  l.alloc(z.rows_c);   // saved grad_rows * go
  l.alloc(z.vh_c);     // saved grad_weight * go
  l.free(z.rows_c);    // saved: released after the node ran
  l.free(z.vh_c);
  l.free(z.vh_c);      // lm_head's weight gradient, accumulated into the flat buffer
  l.alloc(z.rows_all_c);  // index_select backward: zeros(b (s - 1), h).index_add_
  l.free(z.rows_c);
  l.free(z.keep);      // saved: the row indices
  l.alloc(z.hid_c);    // narrow backward: zeros(b, s, h), the slice copied in
  l.free(z.rows_all_c);
}

}  // namespace

ActivationTimeline executor_activation_timeline(const ModelSpec& model, const ActivationInput& in) {
  const Z z = sizes(model, in);
  const auto L = static_cast<u64>(model.num_hidden_layers);
  ActivationTimeline t;
  {
    Live probe;
    probe.alloc(z.hid_c);
    t.layer_saved_bytes = layer_forward(probe, z);
  }
  const u64 S = t.layer_saved_bytes;
  const u64 rope = 2 * z.rope_c;  // cos, sin: live for the whole micro-step

  // Live when the last layer starts: cos/sin, the earlier layers' keep and the last layer's input.
  //   checkpointing: every layer's input (the checkpoint saves it), the embedding output included
  //   c = 2: S per earlier layer + the input
  //   c = 4: S + input per earlier layer (input_norm's x_fp32 is the input) + the input
  u64 before = rope;
  if (in.checkpointing) {
    before += L * z.hid_c;
  } else if (z.c4) {
    before += (L - 1) * (S + z.hid_c) + z.hid_c;
  } else {
    before += (L - 1) * S + z.hid_c;
  }
  Live l;
  l.alloc(before);
  l.reset_peak();
  if (in.checkpointing) {
    l.alloc(z.hid_c);  // the checkpointed layer's output (no graph, nothing saved)
  } else {
    layer_forward(l, z);
    if (!z.c4) l.free(z.hid_c);  // c = 2: the layer input is not saved
  }
  t.forward_peak = l.peak;

  // final norm + fused loss forward
  l.reset_peak();
  const u64 norm_saved = norm_forward(l, z);
  (void)norm_saved;
  if (!z.c4) l.free(z.hid_c);  // the last layer's output (c = 4: the final norm's x_fp32)
  loss_forward(l, z);
  t.loss_forward_peak = l.peak;

  // loss backward + final norm backward
  l.reset_peak();
  l.alloc(8);  // loss * multiplier, its grad (scalars)
  loss_backward(l, z);
  norm_backward(l, z, z.hid_f, false, /*out_saved=*/false);  // final norm (c = 4: x_fp32 = last layer's output)
  l.free(8);
  t.loss_backward_peak = l.peak;

  // the last layer's backward (recomputed first when checkpointing)
  l.reset_peak();
  if (in.checkpointing) {
    const u64 saved = layer_forward(l, z);  // the whole layer again, with grad; output included
    (void)saved;
    l.free(z.hid_c);  // `out` is only the root of autograd::grad; the grad given is the caller's
    layer_backward(l, z, z.c4 ? 0 : z.hid_f, /*keep_weight_grads=*/true);
    l.free(z.w_layer);  // the weight gradients, accumulated one by one after the node returns
    l.free(z.hid_c);    // the checkpoint's saved input, released
  } else {
    layer_backward(l, z, z.hid_f, /*keep_weight_grads=*/false);  // c = 4: x_fp32 is the input
  }
  t.backward_peak = l.peak;
  // Bookkeeping: what remains is cos/sin, what the earlier layers keep and the grad of the last
  // layer's input; everything the replay allocated for the last layer and the loss was freed.
  const u64 kept = in.checkpointing ? (L - 1) * z.hid_c : (L - 1) * (S + (z.c4 ? z.hid_c : 0));
  ZP_ASSERT(l.cur == rope + kept + z.hid_c, "executor activation timeline allocations and frees do not balance");
  return t;
}

}  // namespace zeroplan
