#include "planner/buffer_memory.h"

#include <algorithm>

#include "planner/model_states.h"

namespace zeroplan {
namespace {

// DeepSpeed's stage-3 optimizer steps its partition in sub-groups of sub_group_size elements
// (default 1e9; zeroplan does not vary it), creating the fp32 gradient of one sub-group at a time.
constexpr std::int64_t kSubGroupSize = 1000000000;

std::uint64_t u(std::int64_t v) { return static_cast<std::uint64_t>(v); }

// Gradient reduce (IPG) bucket. Stages 1/2 (stage_1_and_2.py setup_buckets): with contiguous_gradients
// each gradient is copied into a flat buffer of reduce_bucket_size elements in the gradient dtype, and a
// second one is allocated when overlap_comm ("double buffers to avoid data access conflict"):
//   reduce_bucket_size * grad_bytes * (1 + overlap_comm)
// Stage 3 (stage3.py): one IPG buffer of reduce_bucket_size (not doubled). Both are allocated at their
// full size whatever the model size (torch.empty(reduce_bucket_size)). Without contiguous_gradients the
// bucket is flattened on the fly: one bucket, not doubled. Stage 0 (engine.allreduce_gradients) flattens
// gradients into all-reduce buckets of at most the bucket size, and never more than the model.
std::uint64_t gradient_reduce_bucket_bytes(std::int64_t params, int grad_bytes, const Candidate& c) {
  const std::uint64_t bucket = c.reduce_bucket_size * u(grad_bytes);
  if (c.zero_stage == 0) return std::min(c.reduce_bucket_size, u(params)) * u(grad_bytes);
  if (c.zero_stage == 3) return bucket;
  if (!c.contiguous_gradients) return bucket;
  return bucket * (c.overlap_comm ? 2 : 1);
}

// Stage 1/2 parameter all-gather after the step: the updated 16-bit partitions are gathered back into
// the full flat parameter buffer in buckets of allgather_bucket_size elements (DeepSpeed does this when
// the backend lacks all_gather_into_tensor; zeroplan's executor always buckets, so the knob is real):
//   min(allgather_bucket_size, Ψ) * param_bytes
std::uint64_t allgather_bucket_bytes(std::int64_t params, int param_bytes, const Candidate& c) {
  if (c.zero_stage != 1 && c.zero_stage != 2) return 0;
  return std::min(c.allgather_bucket_size, u(params)) * u(param_bytes);
}

// The fp32 gradient the optimizer reads, created at step time (transient) in mixed precision:
//   stage 0: fp32 grads of the whole model                       4 * Ψ
//   stage 1/2: fp32 copy of the rank's gradient partition         4 * Ψ/N
//   stage 3: one sub-group of the partition at a time             4 * min(sub_group_size, Ψ/N)
// fp32 training reads the fp32 gradients in place (0); with offload_optimizer the fp32 partition is in
// CPU memory (model_states.cc) and nothing is created on the GPU (0).
std::uint64_t fp32_gradient_partition_bytes(std::int64_t params, Precision p, const Candidate& c) {
  if (p == Precision::kFp32 || c.offload_optimizer == OffloadDevice::kCpu) return 0;
  const std::int64_t part = partition_elements(params, c.dp);
  switch (c.zero_stage) {
    case 0: return 4 * u(params);
    case 1:
    case 2: return 4 * u(part);
    default: return 4 * u(std::min(kSubGroupSize, part));
  }
}

// ZeRO-3 gathered parameters during forward/backward. A module's parameters are all-gathered whole
// before it runs (so at least the largest module is live); the coordinator prefetches up to
// stage3_prefetch_bucket_size elements ahead, and keeps a parameter instead of releasing it when it is
// reused within stage3_max_reuse_distance elements, which happens to the last layers at the turn from
// forward to backward; stage3_max_live_parameters bounds all of it (partitioned_param_coordinator.py).
//   live = max(largest_module, min(max_live, min(reuse_distance, Ψ_np) + min(prefetch, Ψ_np)))
// with Ψ_np the non-persistent params; bytes = live * param_bytes.
// (DeepSpeed's own estimator counts 4 * largest_layer_params for this and the gradient below.)
std::uint64_t zero3_gathered_params_bytes(std::int64_t params, std::int64_t persistent, std::int64_t largest,
                                          int param_bytes, const Candidate& c) {
  if (c.zero_stage != 3) return 0;
  const std::uint64_t np = u(params - persistent);
  const std::uint64_t wanted = std::min(c.max_reuse_distance, np) + std::min(c.prefetch_bucket_size, np);
  const std::uint64_t live = std::max(u(largest), std::min({c.max_live_parameters, wanted, np}));
  return live * u(param_bytes);
}

// Stages 2/3 keep no full gradients, but autograd still produces each module's full gradient (p.grad)
// before the hook copies it into the reduce bucket and frees it; the largest is the embedding or
// lm_head (V * h): largest_module * grad_bytes. Stages 0/1 keep full gradients in the model states.
std::uint64_t unreduced_gradient_bytes(std::int64_t largest, int grad_bytes, const Candidate& c) {
  return c.zero_stage >= 2 ? u(largest) * u(grad_bytes) : 0;
}

}  // namespace

std::uint64_t BufferMemory::at_peak(std::uint64_t activations) const {
  const std::uint64_t dynamic = std::max(activations + backward_transient(), step_transient());
  return persistent() + dynamic - activations;
}

// Tensors with fewer than `threshold` elements, counted per kind (no tensor list is built: the search
// calls this for every candidate). Same tensors as model_tensors().
std::int64_t persistent_param_elements(const ModelSpec& m, std::uint64_t threshold) {
  const std::int64_t h = m.hidden_size;
  const std::int64_t q_out = m.num_attention_heads * m.head_dim;
  const std::int64_t kv_out = m.num_key_value_heads * m.head_dim;
  const std::int64_t ffn = m.intermediate_size;
  auto small = [&](std::int64_t numel, std::int64_t count) { return u(numel) < threshold ? numel * count : 0; };
  std::int64_t per_layer = small(q_out * h, 1) + small(kv_out * h, 2) + small(h * q_out, 1) +
                           small(ffn * h, 2) + small(h * ffn, 1) + small(h, 2);  // weights and norms
  if (m.qkv_bias) per_layer += small(q_out, 1) + small(kv_out, 2);
  if (m.o_bias) per_layer += small(h, 1);
  if (m.mlp_bias) per_layer += small(ffn, 2) + small(h, 1);
  std::int64_t total = per_layer * m.num_hidden_layers + small(h, 1) + small(m.vocab_size * h, 1);
  if (!m.tie_word_embeddings) total += small(m.vocab_size * h, 1);
  return total;
}

BufferMemory buffer_memory(const ModelSpec& model, Precision precision, const Candidate& c) {
  const ParamCounts counts = count_params(model);
  const StateBytesPerParam b = state_bytes_per_param(precision);
  BufferMemory r;
  r.gradient_reduce_bucket = gradient_reduce_bucket_bytes(counts.total, b.gradients, c);
  if (c.zero_stage == 3) {
    const std::int64_t persistent = persistent_param_elements(model, c.param_persistence_threshold);
    r.zero3_persistent_params = u(persistent) * u(b.params);  // whole, on every rank (even with offload_param)
    r.zero3_gathered_params =
        zero3_gathered_params_bytes(counts.total, persistent, counts.largest_layer_params, b.params, c);
  }
  r.unreduced_gradient = unreduced_gradient_bytes(counts.largest_layer_params, b.gradients, c);
  r.fp32_gradient_partition = fp32_gradient_partition_bytes(counts.total, precision, c);
  r.allgather_bucket = allgather_bucket_bytes(counts.total, b.params, c);
  return r;
}

}  // namespace zeroplan
