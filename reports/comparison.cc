#include "reports/comparison.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "planner/error.h"
#include "planner/plan_json.h"

namespace zeroplan::reports {

const std::vector<std::string> kCompareCategories = {
    "params", "gradients", "optimizer_states", "activations", "buffers", "overhead", "other", "total"};

std::optional<double> signed_error(double predicted, double measured) {
  if (measured == 0) return predicted == 0 ? std::optional<double>(0.0) : std::nullopt;
  return (measured - predicted) / measured;
}

namespace {

CategoryComparison row(const std::string& name, std::uint64_t predicted, std::uint64_t measured) {
  return CategoryComparison{name, predicted, measured,
                            signed_error(static_cast<double>(predicted), static_cast<double>(measured))};
}

const EvaluatedCandidate& pick_candidate(const Plan& plan, const std::string& plan_path, int index) {
  if (index == 0) {
    if (plan.best) return *plan.best;
    if (!plan.candidates.empty()) return plan.candidates.front();
    throw InputError(fmt::format("{}: the plan has no fitting candidate to compare against", plan_path));
  }
  if (index < 1 || static_cast<std::size_t>(index) > plan.candidates.size()) {
    throw InputError(fmt::format("{}: --candidate {} is out of range (the plan lists {} candidate{})", plan_path,
                                 index, plan.candidates.size(), plan.candidates.size() == 1 ? "" : "s"));
  }
  return plan.candidates[static_cast<std::size_t>(index - 1)];
}

// The run's config must be the candidate compared against (fields the run can change).
void check_config(const nlohmann::json& config, const std::string& measured_path, const EvaluatedCandidate& e,
                  const std::string& plan_path, int index) {
  nlohmann::json expected = nlohmann::json::parse(candidate_to_json(e).dump());
  static const char* kKeys[] = {"zero_stage", "offload_optimizer", "offload_param", "micro_batch",
                                "grad_accum",  "dp",                "activation_checkpointing"};
  for (const char* key : kKeys) {
    if (!config.contains(key)) continue;
    if (config[key] != expected[key]) {
      throw InputError(fmt::format(
          "{}: field \"config.{}\" is {} but {} candidate #{} has {} (pick the candidate that ran with "
          "--candidate K)",
          measured_path, key, config[key].dump(), plan_path, index == 0 ? 1 : index, expected[key].dump()));
    }
  }
}

}  // namespace

Comparison compare_run(const Plan& plan, const std::string& plan_path, const MeasuredRun& measured,
                       const std::string& run_dir, int candidate_index, double tolerance) {
  const std::string measured_path = run_dir + "/" + kMeasuredFileName;
  const EvaluatedCandidate& e = pick_candidate(plan, plan_path, candidate_index);
  const Candidate& c = e.candidate;
  if (static_cast<std::int64_t>(measured.ranks.size()) != c.dp) {
    throw InputError(fmt::format("{}: field \"ranks\" has {} rank{} but {} candidate #{} runs on dp = {} ranks",
                                 measured_path, measured.ranks.size(), measured.ranks.size() == 1 ? "" : "s",
                                 plan_path, candidate_index == 0 ? 1 : candidate_index, c.dp));
  }
  check_config(measured.config, measured_path, e, plan_path, candidate_index);

  Comparison out;
  out.plan_path = plan_path;
  out.run_dir = run_dir;
  out.candidate_index = candidate_index == 0 ? 1 : candidate_index;
  out.candidate_summary = fmt::format("stage {}, offload {}/{}, mbs {}, gas {}, ckpt {}, dp {}", c.zero_stage,
                                      offload_name(c.offload_optimizer), offload_name(c.offload_param),
                                      c.micro_batch, c.grad_accum, c.activation_checkpointing ? "on" : "off", c.dp);
  out.model_name = plan.context.model.name;
  out.device_kind = measured.device.kind;
  out.tolerance = tolerance;
  out.measured = &measured;

  const GpuMemory& p = e.memory.gpu;
  double worst = -1;
  for (const MeasuredRank& r : measured.ranks) {
    RankComparison rc;
    rc.rank = r.rank;
    const MeasuredMemory& m = r.peak;
    std::uint64_t measured_total = m.total;
    if (measured.device.kind == "cuda" && r.device_peak) measured_total = r.device_peak->reserved_bytes;
    rc.categories = {row("params", p.params, m.params),
                     row("gradients", p.gradients, m.gradients),
                     row("optimizer_states", p.optimizer_states, m.optimizer_states),
                     row("activations", p.activations, m.activations),
                     row("buffers", p.buffers, m.buffers + m.comm),
                     row("overhead", p.overhead, 0),
                     row("other", 0, m.other),
                     row("total", p.total(), measured_total)};
    const auto& total = rc.total();
    double magnitude = total.error ? std::fabs(*total.error) : std::numeric_limits<double>::infinity();
    if (magnitude > worst) {
      worst = magnitude;
      out.worst_rank = r.rank;
    }
    out.ranks.push_back(std::move(rc));
  }
  out.total_error_defined = std::isfinite(worst);
  out.max_total_error = out.total_error_defined ? worst : 0;
  out.within_tolerance = out.total_error_defined && worst <= tolerance;

  // Step time: the median over ranks of each rank's median step.
  std::vector<double> rank_steps;
  for (const auto& r : measured.ranks) rank_steps.push_back(r.step_time_s);
  std::sort(rank_steps.begin(), rank_steps.end());
  double measured_step = rank_steps[rank_steps.size() / 2];
  out.step_time = TimeComparison{e.step.total_s, measured_step, signed_error(e.step.total_s, measured_step)};

  out.predicted_step_parts = {{"compute", e.step.compute_s},
                              {"comm_exposed", e.step.comm_exposed_s},
                              {"offload", e.step.offload_s},
                              {"optimizer", e.step.optimizer_s}};
  const MeasuredRank& r0 = measured.ranks.front();
  double steps = r0.step_times_s.empty() ? 1.0 : static_cast<double>(r0.step_times_s.size());
  for (const char* phase : {"forward", "backward", "reduce", "optimizer_step"}) {
    auto it = r0.by_phase.find(phase);
    if (it != r0.by_phase.end()) out.measured_step_parts.push_back({phase, it->second.wall_s / steps});
  }

  for (const auto& r : measured.ranks) {
    for (const auto& col : r.collectives) {
      out.collectives.push_back(CollectiveRow{r.rank, col.op, col.bytes, col.count, col.mean_s(), col.total_s});
    }
  }
  return out;
}

}  // namespace zeroplan::reports
