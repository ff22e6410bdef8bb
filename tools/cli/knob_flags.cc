#include "tools/cli/knob_flags.h"

#include <CLI/CLI.hpp>

#include <optional>

#include "planner/candidate.h"
#include "planner/units.h"
#include "tools/cli/context_flags.h"

namespace zeroplan::cli {
namespace {

std::optional<std::uint64_t> elements_flag(const std::string& text, const char* flag) {
  if (text.empty()) return std::nullopt;
  return parse_elements(text, flag);
}

}  // namespace

bool KnobFlags::zero_stage_given() const { return zero_stage_option && zero_stage_option->count() > 0; }
bool KnobFlags::micro_batch_given() const { return micro_batch_option && micro_batch_option->count() > 0; }
bool KnobFlags::grad_accum_given() const { return grad_accum_option && grad_accum_option->count() > 0; }

bool KnobFlags::any_given() const {
  return zero_stage_given() || !offload_optimizer.empty() || !offload_param.empty() || micro_batch_given() ||
         grad_accum_given() || !reduce_bucket_size.empty() || !allgather_bucket_size.empty() ||
         !prefetch_bucket_size.empty() || !max_live_parameters.empty() || !param_persistence_threshold.empty();
}

void add_knob_flags(CLI::App& cmd, KnobFlags& flags) {
  flags.zero_stage_option =
      cmd.add_option("--zero-stage", flags.zero_stage, "Fix the ZeRO stage (0-3)")->check(CLI::Range(0, 3));
  cmd.add_option("--offload-optimizer", flags.offload_optimizer, "Fix optimizer offload: none or cpu (stages 1-3)")
      ->check(CLI::IsMember({"none", "cpu"}));
  cmd.add_option("--offload-param", flags.offload_param, "Fix parameter offload: none or cpu (stage 3)")
      ->check(CLI::IsMember({"none", "cpu"}));
  flags.micro_batch_option =
      cmd.add_option("--micro-batch", flags.micro_batch, "Fix the micro-batch per GPU")->check(positive_integer());
  flags.grad_accum_option =
      cmd.add_option("--grad-accum", flags.grad_accum, "Fix gradient accumulation steps")->check(positive_integer());
  cmd.add_option("--reduce-bucket-size", flags.reduce_bucket_size, "reduce_bucket_size in elements (e.g. 5e8)");
  cmd.add_option("--allgather-bucket-size", flags.allgather_bucket_size, "allgather_bucket_size in elements");
  cmd.add_option("--prefetch-bucket-size", flags.prefetch_bucket_size, "stage3_prefetch_bucket_size in elements");
  cmd.add_option("--max-live-parameters", flags.max_live_parameters, "stage3_max_live_parameters in elements");
  cmd.add_option("--param-persistence-threshold", flags.param_persistence_threshold,
                 "stage3_param_persistence_threshold in elements");
}

SearchOptions knob_search_options(const KnobFlags& f) {
  SearchOptions o;
  if (f.zero_stage_given()) o.zero_stage = f.zero_stage;
  if (!f.offload_optimizer.empty()) o.offload_optimizer = parse_offload(f.offload_optimizer, "--offload-optimizer");
  if (!f.offload_param.empty()) o.offload_param = parse_offload(f.offload_param, "--offload-param");
  if (f.micro_batch_given()) o.micro_batch = f.micro_batch;
  if (f.grad_accum_given()) o.grad_accum = f.grad_accum;
  o.reduce_bucket_size = elements_flag(f.reduce_bucket_size, "--reduce-bucket-size");
  o.allgather_bucket_size = elements_flag(f.allgather_bucket_size, "--allgather-bucket-size");
  o.prefetch_bucket_size = elements_flag(f.prefetch_bucket_size, "--prefetch-bucket-size");
  o.max_live_parameters = elements_flag(f.max_live_parameters, "--max-live-parameters");
  o.param_persistence_threshold = elements_flag(f.param_persistence_threshold, "--param-persistence-threshold");
  return o;
}

}  // namespace zeroplan::cli
