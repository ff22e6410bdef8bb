#include "executor/train/run_plan.h"

#include <fmt/format.h>

#include <algorithm>

#include "planner/error.h"
#include "planner/model_spec.h"
#include "planner/plan_json.h"

namespace zeroplan::executor {

namespace {

const EvaluatedCandidate& pick(const Plan& plan, const std::string& path, int index) {
  if (index == 0) {
    if (plan.best) return *plan.best;
    if (!plan.candidates.empty()) return plan.candidates.front();
    throw InputError(path + ": the plan has no fitting candidate to run");
  }
  if (index < 1 || static_cast<std::size_t>(index) > plan.candidates.size())
    throw InputError(fmt::format("{}: --candidate {} is out of range (the plan lists {} candidate{})", path, index,
                                 plan.candidates.size(), plan.candidates.size() == 1 ? "" : "s"));
  return plan.candidates[static_cast<std::size_t>(index - 1)];
}

}  // namespace

PlannedRun apply_plan(RunOptions& o, const std::vector<std::string>& explicit_flags) {
  const Plan plan = read_plan_json(o.plan);
  const EvaluatedCandidate& e = pick(plan, o.plan, o.candidate);
  const Candidate& c = e.candidate;
  const std::string which = fmt::format("{} candidate #{}", o.plan, o.candidate == 0 ? 1 : o.candidate);
  // Single process, everything in this process: ZeRO stage 0 on one rank, nothing offloaded.
  if (c.dp != 1 || c.zero_stage != 0)
    throw InputError(fmt::format("{}: stage {} on {} ranks is not supported by `zeroplan run` yet (it trains in one "
                                 "process: pick a stage 0, dp 1 candidate with --candidate K)",
                                 which, c.zero_stage, c.dp));
  if (c.offload_optimizer != OffloadDevice::kNone || c.offload_param != OffloadDevice::kNone)
    throw InputError(fmt::format("{}: offload (optimizer {}, param {}) is not supported by `zeroplan run` yet", which,
                                 offload_name(c.offload_optimizer), offload_name(c.offload_param)));

  auto given = [&](const char* flag) {
    return std::find(explicit_flags.begin(), explicit_flags.end(), flag) != explicit_flags.end();
  };
  auto agree = [&](const char* flag, const std::string& flag_value, const char* field, const std::string& plan_value) {
    if (given(flag) && flag_value != plan_value)
      throw InputError(fmt::format("{} {} disagrees with {} ({} {}): drop the flag or plan again", flag, flag_value,
                                   which, field, plan_value));
  };
  const std::string precision = zeroplan::precision_name(plan.context.training.precision);
  agree("--micro-batch", std::to_string(o.micro_batch), "micro_batch", std::to_string(c.micro_batch));
  agree("--grad-accum", std::to_string(o.grad_accum), "grad_accum", std::to_string(c.grad_accum));
  agree("--precision", o.precision, "precision", precision);
  agree("--max-seq-len", std::to_string(o.max_seq_len), "seq_len", std::to_string(plan.context.training.seq_len));
  agree("--activation-checkpointing", o.activation_checkpointing ? "on" : "off", "activation_checkpointing",
        c.activation_checkpointing ? "on" : "off");

  o.micro_batch = c.micro_batch;
  o.grad_accum = c.grad_accum;
  o.precision = precision;
  o.max_seq_len = plan.context.training.seq_len;
  o.activation_checkpointing = c.activation_checkpointing;
  PlannedRun out;
  out.candidate = nlohmann::json::parse(candidate_to_json(e).dump());
  out.model_name = plan.context.model.name;
  out.num_params = count_params(plan.context.model).total;
  return out;
}

}  // namespace zeroplan::executor
