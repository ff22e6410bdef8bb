#pragma once
// Model states and buffers per rank of zeroplan's own executor (Runtime::kZeroplan), which are not
// DeepSpeed's (model_states.h, buffer_memory.h): the derivation of each figure, per engine and
// stage, is in executor_memory.cc beside the code it mirrors.
#include <cstdint>

#include "planner/candidate.h"
#include "planner/model_spec.h"
#include "planner/model_states.h"
#include "planner/training_spec.h"

namespace zeroplan {

// ShardedEngine's bucket alignment (executor/zero/make_engine.h ZeroRunOptions::alignment).
inline constexpr std::int64_t kExecutorAlignment = 16;
// GradReducer adds a reduced 16-bit bucket to the fp32 accumulator this many elements at a time
// (executor/zero/grad_reducer.h kAccumulateChunkElems): the conversion's fp32 temporary.
inline constexpr std::uint64_t kExecutorAccumulateChunk = std::uint64_t{1} << 20;

// The flat bucket layout of executor/zero/bucket_layout.h for this model and candidate, in elements.
struct ExecutorLayout {
  std::uint64_t total = 0;         // N: padded parameter count
  std::uint64_t partition = 0;     // P: one rank's slices (N at stage 0)
  std::uint64_t max_bucket = 0;    // B: the largest padded bucket
  std::uint64_t max_shard = 0;     // S: B / shards
  std::uint64_t persistent = 0;    // Pst: padded persistent buckets (stage 3)
  std::uint64_t largest_unit = 0;  // stage 3: the largest unit's padded buckets
  std::uint64_t head_unit = 0;     // stage 3: what the head (final norm + lm_head) gathers
  std::uint64_t buckets = 0;       // how many buckets
  std::uint64_t last_shard = 0;    // one rank's slice of the bucket reduced last (the embedding's)
};
ExecutorLayout executor_layout(const ModelSpec& model, const Candidate& candidate);

// Per-rank model states as the executor allocates and charges them (profiler categories).
// `cpu_ranks`: offloaded states stay in the rank's figures (CPU ranks: the same host memory).
ModelStates executor_model_states(const ModelSpec& model, const Candidate& candidate, Precision precision,
                                  bool cpu_ranks);

// Buffers (communication buckets, gather buffers, step scratch) the executor allocates per rank,
// at the rank's peak (given the activation peak, as BufferMemory::at_peak).
// `loss_peak`: the activations peak in the loss (fused lm_head + cross-entropy), when a stage-3 rank
// has only the head unit gathered (activation_timeline().peak_phase() "loss forward"/"loss backward").
std::uint64_t executor_buffer_bytes(const ModelSpec& model, const Candidate& candidate, Precision precision,
                                    std::uint64_t activations, bool loss_peak = false);

}  // namespace zeroplan
