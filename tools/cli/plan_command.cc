// `zeroplan plan`: size a ZeRO SFT run. Thin: parse flags, call the planner, print.
//
// Modes:
//  - search (default): every stage x offload x micro-batch x accumulation x buckets x checkpointing;
//    the fitting ones ranked by step time. Exit 3 when nothing fits (after saying what would).
//  - evaluation: --zero-stage, --offload-optimizer, --offload-param, --micro-batch and --grad-accum
//    all given: exactly that configuration, exit 0 whether or not it fits. Giving only some of them
//    fixes those dimensions and searches the rest.
//  - --ds-config-in FILE: evaluate an existing DeepSpeed config (HF Trainer "auto" values resolved
//    from the flags), exit 0 whether or not it fits.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <fstream>

#include "planner/ds_config.h"
#include "planner/error.h"
#include "planner/plan_json.h"
#include "planner/search.h"
#include "planner/units.h"
#include "tools/cli/cli_context.h"
#include "tools/cli/context_flags.h"
#include "tools/cli/knob_flags.h"
#include "tools/cli/plan_output.h"
#include "tools/cli/step_time_models.h"

namespace zeroplan::cli {
namespace {

struct PlanFlags {
  ContextFlags context;
  KnobFlags knobs;
  std::size_t top = 5;
  bool json = false;
  std::string out;
  std::string ds_config;
  std::string ds_config_in;
  std::string step_model = kDefaultStepTimeModel;
  std::string hardware_profile;
};

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw InputError(fmt::format("{}: cannot write file", path));
  out << text;
  if (!out) throw InputError(fmt::format("{}: cannot write file", path));
}

SearchOptions search_options(const PlanFlags& f) {
  SearchOptions o = knob_search_options(f.knobs);
  o.top_k = f.top;
  return o;
}

Plan plan_from_ds_config(const PlanFlags& f, const PlanContext& context, const StepTimeModel& step_time) {
  if (f.knobs.zero_stage_given() || !f.knobs.offload_optimizer.empty() || !f.knobs.offload_param.empty()) {
    throw InputError("--ds-config-in: the config sets the ZeRO stage and offloads; drop --zero-stage/--offload-*");
  }
  DsConfigFlags flags;
  if (f.knobs.micro_batch_given()) flags.micro_batch = f.knobs.micro_batch;
  if (f.knobs.grad_accum_given()) flags.grad_accum = f.knobs.grad_accum;
  if (f.context.global_batch_option->count() > 0) flags.global_batch = f.context.global_batch;
  if (f.context.precision_option->count() > 0) flags.precision = context.training.precision;
  const DsConfigResolved resolved = read_ds_config_file(f.ds_config_in, context, flags);
  return evaluate_exact(resolved.context, resolved.candidate, step_time);
}

void run_plan(const PlanFlags& f, CliContext& cli) {
  PlanContext context = build_plan_context(f.context, cli.configs_dir);
  const auto step_time = make_step_time_model(f.step_model, f.hardware_profile);
  SearchOptions options = search_options(f);
  // Without --global-batch, a fixed micro-batch x accumulation defines it (DeepSpeed's rule).
  if (f.context.global_batch_option->count() == 0 && options.micro_batch && options.grad_accum) {
    context.training.global_batch = *options.micro_batch * *options.grad_accum * context.cluster.world_size();
  }
  const bool from_ds_config = !f.ds_config_in.empty();
  const bool evaluation = from_ds_config || options.evaluation_mode();
  Plan plan = from_ds_config         ? plan_from_ds_config(f, context, *step_time)
                    : evaluation           ? evaluate_configuration(context, options, *step_time)
                                           : search_plans(context, options, *step_time);

  plan.hardware_profile = f.hardware_profile;
  std::string text;
  if (!plan.best && !evaluation) plan.suggestions = suggest_fixes(plan.context, options, *step_time);
  if (f.json) {
    std::fputs(write_plan_json(plan).c_str(), stdout);
  } else {
    text += describe_context(plan.context) + "\n";
    if (from_ds_config) text += fmt::format("evaluating {} (DeepSpeed config)\n", f.ds_config_in);
    text += "\n";
    if (!plan.candidates.empty()) text += render_candidate_table(plan, evaluation);
    else text += fmt::format("nothing fits: all {} candidates were rejected\n", plan.evaluated_count);
    text += render_rejections(plan);
    if (plan.best) text += render_deepspeed_comparison(*plan.best, evaluation ? "this configuration" : "#1");
    if (!plan.best && !evaluation) text += render_suggestions(plan.suggestions);
    const std::string profile =
        plan.hardware_profile.empty() ? "" : fmt::format(" with hardware profile {}", plan.hardware_profile);
    text += fmt::format("step times: {} model{}; {} candidates evaluated, {} fit\n", plan.step_time_model, profile,
                        plan.evaluated_count, plan.fitting_count);
  }
  std::vector<std::string> wrote;
  if (!f.out.empty()) {
    write_file(f.out, write_plan_json(plan));
    wrote.push_back(f.out);
  }
  if (!f.ds_config.empty()) {
    if (!plan.best) {
      text += "no DeepSpeed config written: nothing fits\n";
    } else {
      write_file(f.ds_config, ds_config_to_json(plan.context, plan.best->candidate).dump(2) + "\n");
      wrote.push_back(f.ds_config + (plan.best->fits() ? "" : " (for a configuration that does not fit)"));
    }
  }
  if (!wrote.empty()) {
    std::string list;
    for (const auto& w : wrote) list += (list.empty() ? "" : ", ") + w;
    text += "wrote " + list + "\n";
  }
  if (!f.json) std::fputs(text.c_str(), stdout);
  else if (!text.empty()) std::fputs(text.c_str(), stderr);
  cli.exit_code = (!plan.best && !evaluation) ? kExitNothingFits : kExitOk;
}

}  // namespace

void register_plan_command(CLI::App& app, CliContext& cli) {
  auto flags = std::make_shared<PlanFlags>();
  CLI::App* cmd = app.add_subcommand("plan", "Size a ZeRO SFT run: search the configurations that fit the GPUs");
  cmd->footer(
      "Evaluation mode: give all of --zero-stage, --offload-optimizer, --offload-param, --micro-batch and\n"
      "--grad-accum to evaluate exactly that configuration (exit 0 whether or not it fits); give only some\n"
      "to fix those and search the rest. Exit codes: 0 ok, 2 bad input, 3 nothing fits.");
  add_context_flags(*cmd, flags->context);
  add_knob_flags(*cmd, flags->knobs);
  cmd->add_option("--top", flags->top, "How many candidates to show and write")->capture_default_str()->check(
      positive_integer());
  cmd->add_flag("--json", flags->json, "Print the plan as zeroplan.plan/v1 JSON instead of the table");
  cmd->add_option("--out", flags->out, "Write the plan as zeroplan.plan/v1 JSON to FILE");
  cmd->add_option("--ds-config", flags->ds_config, "Write the best candidate as a DeepSpeed config to FILE");
  cmd->add_option("--ds-config-in", flags->ds_config_in,
                  "Evaluate an existing DeepSpeed config (HF Trainer \"auto\" values resolved from the flags)");
  cmd->add_option("--step-model", flags->step_model,
                  "Step-time model that ranks candidates: simulator (topology, collectives, ZeRO schedule) or "
                  "roofline (FLOPs and volumes over peak figures)")
      ->capture_default_str();
  cmd->add_option("--hardware-profile", flags->hardware_profile,
                  "zeroplan.hardware_profile/v1 JSON (measured matmul rate, collectives, PCIe, CPU Adam) that "
                  "replaces datasheet figures in the simulator's ranking");
  cmd->callback([flags, &cli]() { run_plan(*flags, cli); });
}

}  // namespace zeroplan::cli
