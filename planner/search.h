#pragma once
// Candidate enumeration, fit check and ranking (issue 2, "Search").
//
// The search enumerates ZeRO stage x offload_optimizer (none/cpu, stages 1-3) x offload_param
// (none/cpu, stage 3 with the optimizer offloaded, as DeepSpeed's estimator does) x micro-batch x
// gradient accumulation (micro x accum x dp = global batch) x overlap_comm (stages 1-2; DeepSpeed's
// default, true, for stage 3) x bucket presets (bucket_presets()) x activation checkpointing; keeps
// the candidates whose GPU peak fits under headroom x GPU memory and whose node CPU memory fits under
// headroom x CPU memory per node; ranks them by the injected StepTimeModel.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "planner/candidate.h"
#include "planner/plan.h"
#include "planner/step_time_model.h"

namespace zeroplan {

// One set of bucket sizes (elements), as a DeepSpeed config would hold them.
struct BucketPreset {
  std::string label;  // "deepspeed-default", "hf-auto", "small", "custom"
  std::uint64_t reduce_bucket_size = 500000000;
  std::uint64_t allgather_bucket_size = 500000000;
  std::uint64_t prefetch_bucket_size = 50000000;
  std::uint64_t max_live_parameters = 1000000000;
  std::uint64_t param_persistence_threshold = 100000;
};

// What the user fixed; everything unset is searched. When all five of zero_stage, offload_optimizer,
// offload_param, micro_batch and grad_accum are set, this is evaluation mode (exactly one candidate).
struct SearchOptions {
  std::optional<int> zero_stage;
  std::optional<OffloadDevice> offload_optimizer;
  std::optional<OffloadDevice> offload_param;
  std::optional<std::int64_t> micro_batch;
  std::optional<std::int64_t> grad_accum;
  std::optional<std::uint64_t> reduce_bucket_size;
  std::optional<std::uint64_t> allgather_bucket_size;
  std::optional<std::uint64_t> prefetch_bucket_size;
  std::optional<std::uint64_t> max_live_parameters;
  std::optional<std::uint64_t> param_persistence_threshold;
  std::size_t top_k = 5;
  bool evaluation_mode() const {
    return zero_stage && offload_optimizer && offload_param && micro_batch && grad_accum;
  }
};

// DeepSpeed's defaults; HF Trainer's "auto" values (reduce = hidden², prefetch = 0.9·hidden²,
// persistence = 10·hidden); and the smaller buckets of HF's ZeRO-2 example (2e8). With any bucket
// override in `options`, a single "custom" preset (unset fields keep DeepSpeed's defaults).
std::vector<BucketPreset> bucket_presets(const ModelSpec& model, const SearchOptions& options);

// Checks the batch shape and the fixed options; InputError naming the flag otherwise
// (global batch not divisible by dp, micro x accum x dp != global batch, offload_param without
// stage 3, ...).
void validate_search(const PlanContext& context, const SearchOptions& options);

// Every candidate the search would evaluate, in enumeration order.
std::vector<Candidate> enumerate_candidates(const PlanContext& context, const SearchOptions& options);

std::uint64_t usable_cpu_bytes(const PlanContext& context);  // headroom x CPU memory per node

// Memory, DeepSpeed's estimate, fit flags and step time of one candidate.
EvaluatedCandidate evaluate_candidate(const PlanContext& context, const Candidate& candidate,
                                      const StepTimeModel& step_time);

// The search. plan.candidates holds the top_k fitting candidates, fastest first, at most one per
// visible configuration (stage, offloads, micro-batch, checkpointing: the best bucket variant).
// plan.best is null when nothing fits; plan.rejections says why the others were rejected.
Plan search_plans(const PlanContext& context, const SearchOptions& options, const StepTimeModel& step_time);

// Evaluation mode: exactly the configuration in `options` (all five fixed). Checkpointing "auto"
// resolves to off when that fits, else on. Returns a plan whose single candidate may not fit.
Plan evaluate_configuration(const PlanContext& context, const SearchOptions& options,
                            const StepTimeModel& step_time);
// Evaluates a fully specified candidate (e.g. read from a DeepSpeed config).
Plan evaluate_exact(const PlanContext& context, const Candidate& candidate, const StepTimeModel& step_time);

// "What would fit" when nothing does: variations of the request (free stage/offload, checkpointing
// on, micro-batch 1, shorter sequences, more GPUs), each searched; the ones that fit, with their best.
std::vector<Suggestion> suggest_fixes(const PlanContext& context, const SearchOptions& options,
                                      const StepTimeModel& step_time);

}  // namespace zeroplan
