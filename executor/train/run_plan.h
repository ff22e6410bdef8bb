#pragma once
// `zeroplan run --plan plan.json [--candidate K]`: the run takes micro-batch, grad-accum, activation
// checkpointing, precision, sequence length (--max-seq-len) and the ZeRO knobs (stage, offload,
// bucket sizes, overlap_comm, contiguous_gradients, stage3_*) from one of the plan's candidates
// (the best by default). Pure C++ (no LibTorch).
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "executor/train/run_training.h"

namespace zeroplan::executor {

// Reads options.plan and fills `options` from candidate options.candidate (0 = the best). Flags in
// `explicit_flags` ("--micro-batch", "--grad-accum", "--precision", "--max-seq-len",
// "--activation-checkpointing", "--zero-stage", "--offload-optimizer", "--offload-param") were given
// on the command line and must agree with the plan. InputError (one line) when the candidate's dp
// is not the job's `world` (ranks) or a flag disagrees.
struct PlannedRun {
  nlohmann::json candidate;     // as plan.json writes it (measured.json's config)
  std::string model_name;       // the plan's model, and its parameter count (tied weights once):
  std::int64_t num_params = 0;  // the run checks its model against them
};
PlannedRun apply_plan(RunOptions& options, const std::vector<std::string>& explicit_flags, int world);

}  // namespace zeroplan::executor
