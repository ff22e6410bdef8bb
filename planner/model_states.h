#pragma once
// Model states (parameters, gradients, optimizer states) per rank for ZeRO stage 0-3 with and without
// CPU offload, as in the ZeRO paper (Rajbhandari et al., SC'20) and DeepSpeed's runtime.
// Evaluated from a raw parameter count so that the paper's table (7.5e9 on 64 GPUs) can be checked.
#include <cstdint>

#include "planner/candidate.h"
#include "planner/training_spec.h"

namespace zeroplan {

// Bytes per parameter of each state, before partitioning (ZeRO paper section 3.1):
//   mixed precision (fp16/bf16): 16-bit params 2, 16-bit grads 2, optimizer K = 12
//                                (fp32 master 4 + momentum 4 + variance 4)   -> 16 bytes/param
//   fp32:                        params 4, grads 4, optimizer 8 (momentum 4 + variance 4; the params are
//                                already fp32, there is no separate master copy) -> 16 bytes/param
struct StateBytesPerParam {
  int params = 0;
  int gradients = 0;
  int optimizer = 0;
};
StateBytesPerParam state_bytes_per_param(Precision p);

// Per-rank model states, split by where they live. CPU figures are per rank (multiply by the ranks of
// a node for the node's CPU memory).
struct ModelStates {
  std::uint64_t gpu_params = 0;
  std::uint64_t gpu_gradients = 0;
  std::uint64_t gpu_optimizer_states = 0;
  std::uint64_t cpu_params = 0;
  std::uint64_t cpu_gradients = 0;
  std::uint64_t cpu_optimizer_states = 0;
  std::uint64_t gpu_total() const { return gpu_params + gpu_gradients + gpu_optimizer_states; }
  std::uint64_t cpu_total() const { return cpu_params + cpu_gradients + cpu_optimizer_states; }
};

// Elements of one rank's partition: ceil(params / dp) (DeepSpeed pads the flat buffer to a multiple of dp).
std::int64_t partition_elements(std::int64_t params, std::int64_t dp);

// InputError when the combination is not one DeepSpeed supports (offload_optimizer needs stage >= 1,
// offload_param needs stage 3); `what` names the source of the candidate for the message.
void check_offload_combination(int zero_stage, OffloadDevice offload_optimizer, OffloadDevice offload_param,
                               const char* what);

ModelStates zero_model_states(std::int64_t params, std::int64_t dp, int zero_stage, Precision precision,
                              OffloadDevice offload_optimizer, OffloadDevice offload_param);

}  // namespace zeroplan
