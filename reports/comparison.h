#pragma once
// Predicted (plan.json, one candidate) vs measured (measured.json) per rank and per memory
// category, step time and collectives. Errors are signed fractions of the measured value:
//   error = (measured - predicted) / measured
// (+0.05: the plan under-predicted by 5% of what was measured). When measured is 0 the error is
// 0 if predicted is 0 too, else undefined (nullopt; "n/a" in tables, null in JSON).
//
// What is compared against what:
//   params, gradients, optimizer_states, activations: the measured per-category peak.
//   buffers: measured buffers + comm peaks (the plan's buffers include communication buckets).
//   overhead: the plan's CUDA context / NCCL / fragmentation; not measured on CPU (0).
//   other: tensor bytes allocated outside any category scope (the plan predicts none).
//   total: the largest sum at one instant; on CUDA runs the caching allocator's reserved peak.
// The verdict is on total only: max over ranks of |error(total)| <= tolerance.
#include <optional>
#include <string>
#include <vector>

#include "planner/plan.h"
#include "reports/measured_run.h"

namespace zeroplan::reports {

inline constexpr const char* kCompareSchema = "zeroplan.compare/v1";

std::optional<double> signed_error(double predicted, double measured);

struct CategoryComparison {
  std::string category;  // "params", ..., "overhead", "other", "total"
  std::uint64_t predicted = 0;
  std::uint64_t measured = 0;
  std::optional<double> error;
};

struct RankComparison {
  int rank = 0;
  std::vector<CategoryComparison> categories;  // in kCompareCategories order, "total" last
  const CategoryComparison& total() const { return categories.back(); }
};

struct TimeComparison {
  double predicted_s = 0;
  double measured_s = 0;
  std::optional<double> error;
};

// One row of the step-time breakdown: what the plan's roofline splits a step into and what the
// profiler timed per step (phase wall time / steps).
struct StepPart {
  std::string name;  // "compute", "comm_exposed", "offload", "optimizer" | "forward", "backward", ...
  double seconds = 0;
};

struct CollectiveRow {
  int rank = 0;
  std::string op;
  std::uint64_t bytes = 0;
  std::int64_t count = 0;
  double measured_mean_s = 0;
  double measured_total_s = 0;
};

struct Comparison {
  std::string plan_path;
  std::string run_dir;
  int candidate_index = 1;  // 1-based, as plan tables number candidates
  std::string candidate_summary;  // "stage 2, offload none/none, mbs 4, gas 2, ckpt off, dp 2"
  std::string model_name;
  std::string device_kind;  // measured.json device.kind
  std::vector<RankComparison> ranks;
  double max_total_error = 0;  // max over ranks of |error(total)|; undefined errors count as infinite
  bool total_error_defined = true;
  int worst_rank = 0;
  TimeComparison step_time;  // rank-median of the measured step times vs the plan's step_time_s
  std::vector<StepPart> predicted_step_parts;
  std::vector<StepPart> measured_step_parts;  // rank 0
  std::vector<CollectiveRow> collectives;
  double tolerance = 0.03;
  bool within_tolerance = true;
  const MeasuredRun* measured = nullptr;  // for renderers that chart the timeline
};

extern const std::vector<std::string> kCompareCategories;

// Picks candidate `candidate_index` (1-based; 0 = the plan's best) and compares. InputError when the
// plan has no such candidate, the run's rank count is not the candidate's dp, or the run's config
// contradicts the candidate (zero_stage, offloads, micro_batch, grad_accum, dp,
// activation_checkpointing).
Comparison compare_run(const Plan& plan, const std::string& plan_path, const MeasuredRun& measured,
                       const std::string& run_dir, int candidate_index, double tolerance);

}  // namespace zeroplan::reports
