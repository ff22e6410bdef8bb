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

PlannedRun apply_plan(RunOptions& o, const std::vector<std::string>& explicit_flags, int world) {
  const Plan plan = read_plan_json(o.plan);
  const EvaluatedCandidate& e = pick(plan, o.plan, o.candidate);
  const Candidate& c = e.candidate;
  const std::string which = fmt::format("{} candidate #{}", o.plan, o.candidate == 0 ? 1 : o.candidate);
  // dp == ranks of this job (no tensor/pipeline parallelism).
  if (c.dp != world)
    throw InputError(fmt::format("{}: planned for dp {} but this job has {} rank{}: run it with "
                                 "--nproc-per-node {} (x --nnodes), or plan for {} rank{}",
                                 which, c.dp, world, world == 1 ? "" : "s", c.dp, world, world == 1 ? "" : "s"));

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
  if (o.zero_stage) agree("--zero-stage", std::to_string(*o.zero_stage), "zero_stage", std::to_string(c.zero_stage));
  if (o.offload_optimizer)
    agree("--offload-optimizer", *o.offload_optimizer, "offload_optimizer", offload_name(c.offload_optimizer));
  if (o.offload_param) agree("--offload-param", *o.offload_param, "offload_param", offload_name(c.offload_param));
  auto agree_elements = [&](const std::optional<std::int64_t>& flag_value, const char* flag, const char* field,
                            std::uint64_t plan_value) {
    if (flag_value && static_cast<std::uint64_t>(*flag_value) != plan_value)
      throw InputError(fmt::format("{} {} disagrees with {} ({} {}): drop the flag or plan again", flag, *flag_value,
                                   which, field, plan_value));
  };
  agree_elements(o.reduce_bucket_size, "--reduce-bucket-size", "reduce_bucket_size", c.reduce_bucket_size);
  agree_elements(o.allgather_bucket_size, "--allgather-bucket-size", "allgather_bucket_size", c.allgather_bucket_size);
  agree_elements(o.stage3_prefetch_bucket_size, "--stage3-prefetch-bucket-size", "prefetch_bucket_size",
                 c.prefetch_bucket_size);
  agree_elements(o.stage3_max_live_parameters, "--stage3-max-live-parameters", "max_live_parameters",
                 c.max_live_parameters);
  agree_elements(o.stage3_param_persistence_threshold, "--stage3-param-persistence-threshold",
                 "param_persistence_threshold", c.param_persistence_threshold);

  o.micro_batch = c.micro_batch;
  o.grad_accum = c.grad_accum;
  o.precision = precision;
  o.max_seq_len = plan.context.training.seq_len;
  o.activation_checkpointing = c.activation_checkpointing;
  RunZeroConfig& z = o.zero;
  z.stage = c.zero_stage;
  z.offload_optimizer = c.offload_optimizer == OffloadDevice::kCpu;
  z.offload_param = c.offload_param == OffloadDevice::kCpu;
  z.overlap_comm = c.overlap_comm;
  z.contiguous_gradients = c.contiguous_gradients;
  z.reduce_bucket_size = static_cast<std::int64_t>(c.reduce_bucket_size);
  z.allgather_bucket_size = static_cast<std::int64_t>(c.allgather_bucket_size);
  z.stage3_prefetch_bucket_size = static_cast<std::int64_t>(c.prefetch_bucket_size);
  z.stage3_max_live_parameters = static_cast<std::int64_t>(c.max_live_parameters);
  z.stage3_param_persistence_threshold = static_cast<std::int64_t>(c.param_persistence_threshold);
  PlannedRun out;
  out.candidate = nlohmann::json::parse(candidate_to_json(e).dump());
  out.model_name = plan.context.model.name;
  out.num_params = count_params(plan.context.model).total;
  return out;
}

}  // namespace zeroplan::executor
