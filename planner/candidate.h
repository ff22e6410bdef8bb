#pragma once
// One configuration the planner evaluates. A plan is the chosen candidate plus its context.
// Bucket sizes are element counts, named as DeepSpeed names them.
#include <cstdint>
#include <string>

namespace zeroplan {

enum class OffloadDevice { kNone, kCpu };

struct Candidate {
  int zero_stage = 0;  // 0..3
  OffloadDevice offload_optimizer = OffloadDevice::kNone;  // stages 1-3
  OffloadDevice offload_param = OffloadDevice::kNone;      // stage 3 only
  std::int64_t micro_batch = 1;
  std::int64_t grad_accum = 1;
  std::int64_t dp = 1;
  bool activation_checkpointing = false;
  bool overlap_comm = false;          // DeepSpeed default: true iff stage 3
  bool contiguous_gradients = true;
  std::uint64_t reduce_bucket_size = 500000000;     // elements
  std::uint64_t allgather_bucket_size = 500000000;  // elements
  std::uint64_t prefetch_bucket_size = 50000000;    // stage3_prefetch_bucket_size, elements
  std::uint64_t max_live_parameters = 1000000000;   // stage3_max_live_parameters, elements
  std::uint64_t param_persistence_threshold = 100000;  // stage3_param_persistence_threshold, elements
  std::uint64_t max_reuse_distance = 1000000000;     // stage3_max_reuse_distance, elements
};

const char* offload_name(OffloadDevice d);  // "none" | "cpu"
OffloadDevice parse_offload(const std::string& text, const std::string& what);

}  // namespace zeroplan
