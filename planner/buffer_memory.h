#pragma once
// GPU buffers per rank beyond model states and activations: communication buckets, ZeRO-3 gathered
// parameters and step-time transients (reference/deepspeed.md section 1.3). One function per buffer,
// each with its derivation (buffer_memory.cc).
#include <cstdint>

#include "planner/candidate.h"
#include "planner/model_spec.h"
#include "planner/training_spec.h"

namespace zeroplan {

struct BufferMemory {
  // Live for the whole run (allocated once):
  std::uint64_t gradient_reduce_bucket = 0;   // IPG bucket(s): reduce_bucket_size x grad bytes (x2 overlap_comm)
  std::uint64_t zero3_persistent_params = 0;  // params below the persistence threshold, held whole
  // Live during forward/backward only:
  std::uint64_t zero3_gathered_params = 0;    // all-gathered 16-bit params (current module + prefetch + reuse)
  std::uint64_t unreduced_gradient = 0;       // stages 2/3: the largest module's full gradient before reduction
  // Live during the optimizer step only (activations are freed by then):
  std::uint64_t fp32_gradient_partition = 0;  // fp32 copy of the rank's gradient partition for Adam
  std::uint64_t allgather_bucket = 0;         // stage 0-2: updated params re-gathered bucket by bucket

  std::uint64_t persistent() const { return gradient_reduce_bucket + zero3_persistent_params; }
  std::uint64_t backward_transient() const { return zero3_gathered_params + unreduced_gradient; }
  std::uint64_t step_transient() const { return fp32_gradient_partition + allgather_bucket; }
  // Buffers at the rank's peak: the peak is the larger of the backward phase (activations live) and
  // the step phase (activations freed), so  activations + buffers =
  //   persistent + max(activations + backward_transient, step_transient).
  std::uint64_t at_peak(std::uint64_t activations) const;
};

// Parameter elements a ZeRO-3 rank keeps whole because their tensor has fewer elements than
// `threshold` (stage3_param_persistence_threshold): norms and biases in practice.
std::int64_t persistent_param_elements(const ModelSpec& model, std::uint64_t threshold);

BufferMemory buffer_memory(const ModelSpec& model, Precision precision, const Candidate& candidate);

}  // namespace zeroplan
