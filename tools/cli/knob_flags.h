#pragma once
// The candidate knobs that `plan` and `simulate` both take (--zero-stage, --offload-*, --micro-batch,
// --grad-accum and the bucket sizes): registered once, converted once into the search's options.
#include <cstdint>
#include <string>

#include "planner/search.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace zeroplan::cli {

struct KnobFlags {
  int zero_stage = 0;
  std::string offload_optimizer;
  std::string offload_param;
  std::int64_t micro_batch = 0;
  std::int64_t grad_accum = 0;
  std::string reduce_bucket_size, allgather_bucket_size, prefetch_bucket_size, max_live_parameters,
      param_persistence_threshold;
  CLI::Option* zero_stage_option = nullptr;
  CLI::Option* micro_batch_option = nullptr;
  CLI::Option* grad_accum_option = nullptr;

  bool zero_stage_given() const;
  bool micro_batch_given() const;
  bool grad_accum_given() const;
  bool any_given() const;  // any knob at all, buckets included
};

void add_knob_flags(CLI::App& cmd, KnobFlags& flags);

// The knobs the user fixed; unset ones stay empty (searched). Bucket sizes are element counts ("5e8").
SearchOptions knob_search_options(const KnobFlags& flags);

}  // namespace zeroplan::cli
