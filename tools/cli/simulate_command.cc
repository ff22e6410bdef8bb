// `zeroplan simulate`: where one optimizer step's time goes (compute, exposed communication, offload,
// optimizer), per collective, with a Chrome-trace timeline. Thin: parse flags, call the simulator, print.
//
//   zeroplan simulate [model/cluster/training flags] [--zero-stage ... knobs as in `plan`] [--json] [--trace F]
//   zeroplan simulate --plan plan.json [--json] [--trace F]
//   zeroplan simulate collective --op all_reduce --bytes 1GiB --cluster 1x8-h100-80gb [--algorithm A] [--json]
//
// Knobs left unset are chosen the way `plan` would (its search, ranked by the simulator); with all five
// of --zero-stage, --offload-optimizer, --offload-param, --micro-batch and --grad-accum it simulates
// exactly that configuration, whether or not it fits.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <memory>

#include "planner/error.h"
#include "planner/plan_json.h"
#include "planner/search.h"
#include "planner/units.h"
#include "simulator/collective_model.h"
#include "simulator/hardware_profile.h"
#include "simulator/simulated_step_time_model.h"
#include "simulator/simulation_json.h"
#include "simulator/topology_presets.h"
#include "tools/cli/cli_context.h"
#include "tools/cli/context_flags.h"
#include "tools/cli/knob_flags.h"

namespace zeroplan::cli {
namespace {

struct SimulateFlags {
  ContextFlags context;
  std::string plan;
  KnobFlags knobs;
  std::string overlap_comm = "auto";
  std::string hardware_profile;
  bool json = false;
  std::string trace;
};

struct CollectiveFlags {
  std::string op = "all_reduce";
  std::vector<std::string> bytes = {"1GiB"};  // several: one estimate each (a JSON list with --json)
  std::string cluster = "1x8-h100-80gb";
  int ranks = 0;  // 0 = the whole cluster
  int gpus_per_node = 0;  // 0 = the cluster's (CPU ranks for local-cpu)
  std::string algorithm = "auto";
  std::string hardware_profile;
  bool json = false;
};

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw InputError(fmt::format("{}: cannot write file", path));
  out << text;
  if (!out) throw InputError(fmt::format("{}: cannot write file", path));
}

std::shared_ptr<const sim::HardwareProfile> profile_from(const std::string& path) {
  if (path.empty()) return nullptr;
  return std::make_shared<sim::HardwareProfile>(sim::load_hardware_profile(path));
}

// The context and candidate to simulate: from --plan, or the flags (unset knobs searched as `plan` does).
std::pair<PlanContext, Candidate> resolve(const SimulateFlags& f, const CliContext& cli,
                                          const sim::SimulatedStepTimeModel& model) {
  if (!f.plan.empty()) {
    if (f.knobs.any_given()) throw InputError("--plan already fixes the configuration; drop --zero-stage, --micro-batch, ...");
    Plan plan = read_plan_json(f.plan);
    if (!plan.best) throw InputError(fmt::format("{}: field \"best\" is null: the plan has no candidate to simulate", f.plan));
    return {plan.context, plan.best->candidate};
  }
  PlanContext context = build_plan_context(f.context, cli.configs_dir);
  SearchOptions o = knob_search_options(f.knobs);
  o.top_k = 1;
  if (f.context.global_batch_option->count() == 0 && o.micro_batch && o.grad_accum) {
    context.training.global_batch = *o.micro_batch * *o.grad_accum * context.cluster.world_size();
  }
  const Plan plan = o.evaluation_mode() ? evaluate_configuration(context, o, model) : search_plans(context, o, model);
  if (!plan.best && plan.candidates.empty()) {
    throw InputError("nothing fits with these flags (run `zeroplan plan` with the same flags to see why); "
                     "give all of --zero-stage --offload-optimizer --offload-param --micro-batch --grad-accum "
                     "to simulate a configuration that does not fit");
  }
  Candidate c = plan.best ? plan.best->candidate : plan.candidates.front().candidate;
  if (f.overlap_comm == "on") c.overlap_comm = true;
  if (f.overlap_comm == "off") c.overlap_comm = false;
  return {plan.context, c};
}

std::string render(const PlanContext& context, const Candidate& c, const sim::SimulationResult& r) {
  std::string t = describe_context(context) + "\n";
  t += fmt::format("stage {}, offload {}/{}, micro-batch {}, grad-accum {}, dp {}, checkpointing {}, overlap_comm {}\n\n",
                   c.zero_stage, offload_name(c.offload_optimizer), offload_name(c.offload_param), c.micro_batch,
                   c.grad_accum, c.dp, c.activation_checkpointing ? "on" : "off", c.overlap_comm ? "on" : "off");
  const StepTimeEstimate& s = r.step;
  t += fmt::format("step {:.4f} s   {:.0f} tokens/s   MFU {:.1f}%\n", s.total_s, s.tokens_per_s, 100 * r.mfu);
  auto pct = [&](double v) { return s.total_s > 0 ? 100 * v / s.total_s : 0.0; };
  t += fmt::format("  compute         {:9.4f} s  {:5.1f}%  (forward {:.4f}, backward {:.4f} incl. recompute {:.4f}, "
                   "gradient bucket copies and accumulation {:.4f})\n",
                   s.compute_s, pct(s.compute_s), r.forward_s, r.backward_s, r.recompute_s, r.grad_buffer_s);
  t += fmt::format("  comm exposed    {:9.4f} s  {:5.1f}%  (communication stream busy {:.4f} s; parameter uploads {:.4f} s)\n",
                   s.comm_exposed_s, pct(s.comm_exposed_s), r.comm_busy_s, r.param_offload_s);
  t += fmt::format("  offload         {:9.4f} s  {:5.1f}%\n", s.offload_s, pct(s.offload_s));
  t += fmt::format("  optimizer       {:9.4f} s  {:5.1f}%\n\n", s.optimizer_s, pct(s.optimizer_s));
  if (!r.collectives.empty()) {
    t += fmt::format("  {:<28} {:<15} {:<13} {:>11} {:>7} {:>10}\n", "collective", "op", "algorithm", "size", "calls", "time");
    for (const sim::CollectiveSummary& cs : r.collectives) {
      t += fmt::format("  {:<28} {:<15} {:<13} {:>11} {:>7} {:>8.4f} s\n", cs.purpose, cs.op, cs.algorithm,
                       format_bytes(static_cast<std::uint64_t>(cs.bytes)), cs.count, cs.time_s);
    }
    std::string per_gpu;
    for (const auto& [k, v] : r.comm_bytes_per_gpu) {
      per_gpu += fmt::format("{}{} {}", per_gpu.empty() ? "" : ", ", k, format_bytes(static_cast<std::uint64_t>(v)));
    }
    t += "  sent per GPU per step: " + per_gpu + "\n";
  }
  for (const std::string& n : r.notes) t += "note: " + n + "\n";
  return t;
}

void run_simulate(const SimulateFlags& f, CliContext& cli) {
  sim::SimulatedStepTimeModel model(sim::SimulationOptions{}, profile_from(f.hardware_profile));
  auto [context, candidate] = resolve(f, cli, model);
  const sim::SimulationResult r = model.simulate(context, candidate, !f.trace.empty());
  if (!f.trace.empty()) {
    write_file(f.trace, sim::trace_to_json(r, fmt::format("zeroplan simulate: {} on {}", context.model.name,
                                                           context.cluster.name)).dump() + "\n");
  }
  if (f.json) {
    std::fputs((sim::simulation_to_json(context, candidate, r).dump(2) + "\n").c_str(), stdout);
  } else {
    std::string text = render(context, candidate, r);
    if (!f.trace.empty()) text += fmt::format("wrote {} (open in https://ui.perfetto.dev)\n", f.trace);
    std::fputs(text.c_str(), stdout);
  }
}

void run_collective(const CollectiveFlags& f, CliContext& cli) {
  const sim::CollectiveOp op = sim::parse_op(f.op, "--op");
  const sim::Algorithm algorithm = sim::parse_algorithm(f.algorithm, "--algorithm");
  std::vector<std::uint64_t> sizes;
  for (const std::string& text : f.bytes) {
    sizes.push_back(parse_bytes(text, "--bytes"));
    if (sizes.back() == 0) throw InputError("--bytes: must be > 0");
  }
  ClusterSpec cluster = load_cluster_spec(f.cluster, cli.configs_dir);
  if (f.gpus_per_node > 0 && f.gpus_per_node != cluster.gpus_per_node) {
    if (f.gpus_per_node > cluster.gpu.node.max_gpus_per_node) {
      throw InputError(fmt::format("--gpus-per-node: {} GPUs per node, but a {} node holds at most {}", f.gpus_per_node,
                                   cluster.gpu.name, cluster.gpu.node.max_gpus_per_node));
    }
    cluster.gpus_per_node = f.gpus_per_node;
    cluster.name = fmt::format("{}x{}-{}", cluster.nodes, cluster.gpus_per_node, cluster.gpu.name);
  }
  auto profile = profile_from(f.hardware_profile);
  sim::SimulationOptions options;
  options.profile = profile.get();
  const int ranks = f.ranks > 0 ? f.ranks : cluster.world_size();
  sim::ClusterModel model(cluster, ranks, options);
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const std::uint64_t bytes : sizes) {
    const sim::CollectiveEstimate e = model.collectives().estimate(op, static_cast<double>(bytes), algorithm);
    const std::string algo = e.measured ? "measured" : sim::algorithm_name(e.algorithm);
    if (f.json) {
      nlohmann::ordered_json j = {{"op", sim::op_name(op)},         {"bytes", bytes},
                                  {"ranks", ranks},                  {"cluster", cluster.name},
                                  {"time_s", e.time_s},              {"algbw_GBps", e.algbw_GBps},
                                  {"busbw_GBps", e.busbw_GBps},      {"algorithm", algo},
                                  {"protocol", e.measured ? "" : e.calibrated ? "gloo" : sim::protocol_name(e.protocol)},
                                  {"source", e.measured ? "measured points" : e.calibrated ? "gloo fit" : "model"}};
      list.push_back(j);
    } else {
      std::fputs(fmt::format("{} of {} on {} ranks of {} ({})\n{:.2f} us  algbw {:.1f} GB/s  busbw {:.1f} GB/s  via {}{}\n",
                             sim::op_name(op), format_bytes(bytes), ranks, cluster.name, model.topology().layout().description,
                             e.time_s * 1e6, e.algbw_GBps, e.busbw_GBps, algo,
                             e.measured ? "" : e.calibrated ? std::string("/gloo (calibrated fit)") : std::string("/") + sim::protocol_name(e.protocol))
                     .c_str(),
                 stdout);
    }
  }
  if (f.json) std::fputs(((list.size() == 1 ? list[0] : list).dump(2) + "\n").c_str(), stdout);
}

}  // namespace

void register_simulate_command(CLI::App& app, CliContext& cli) {
  auto flags = std::make_shared<SimulateFlags>();
  CLI::App* cmd = app.add_subcommand("simulate", "Simulate one optimizer step: compute, communication, offload, optimizer");
  cmd->footer("Knobs left unset are searched as `plan` does (ranked by the simulator). Exit codes: 0 ok, 2 bad input.");
  cmd->require_subcommand(0, 1);
  add_context_flags(*cmd, flags->context);
  cmd->add_option("--plan", flags->plan, "Simulate the best candidate of a zeroplan.plan/v1 file");
  add_knob_flags(*cmd, flags->knobs);
  cmd->add_option("--overlap-comm", flags->overlap_comm, "on, off or auto (DeepSpeed's default: on for stage 3)")
      ->check(CLI::IsMember({"on", "off", "auto"}))
      ->capture_default_str();
  cmd->add_option("--hardware-profile", flags->hardware_profile,
                  "zeroplan.hardware_profile/v1 JSON: measured figures that replace datasheet ones");
  cmd->add_flag("--json", flags->json, "Print zeroplan.simulation/v1 JSON");
  cmd->add_option("--trace", flags->trace, "Write the step's timeline as Chrome-trace JSON (Perfetto) to FILE");

  auto cflags = std::make_shared<CollectiveFlags>();
  CLI::App* coll = cmd->add_subcommand("collective", "Time one collective on a cluster's topology (nccl-tests' algbw/busbw)");
  coll->add_option("--op", cflags->op, "all_reduce, reduce_scatter, all_gather, broadcast or reduce")->capture_default_str();
  coll->add_option("--bytes", cflags->bytes,
                   "Buffer size with a unit (nccl-tests' S: the whole gathered buffer); a comma list gives one "
                   "estimate per size (a JSON list)")
      ->delimiter(',')
      ->capture_default_str();
  coll->add_option("--cluster", cflags->cluster, "Cluster preset or file")->capture_default_str();
  coll->add_option("--ranks", cflags->ranks, "Ranks in the group (default: the whole cluster)")->check(CLI::PositiveNumber);
  coll->add_option("--gpus-per-node", cflags->gpus_per_node,
                   "Override the cluster's GPUs per node (CPU ranks for --cluster local-cpu)")
      ->check(CLI::PositiveNumber);
  coll->add_option("--algorithm", cflags->algorithm, "ring, tree, hierarchical, nvls or auto (fastest, as NCCL picks)")
      ->capture_default_str();
  coll->add_option("--hardware-profile", cflags->hardware_profile, "Measured collective times to use instead of the model");
  coll->add_flag("--json", cflags->json, "Print {time_s, algbw_GBps, busbw_GBps, algorithm, ...} as JSON");
  coll->callback([cflags, &cli]() { run_collective(*cflags, cli); });

  cmd->callback([flags, coll, &cli]() {
    if (coll->parsed()) return;
    run_simulate(*flags, cli);
  });
}

}  // namespace zeroplan::cli
