// `zeroplan calibrate`: measures this machine (matmul at the model's shapes, one training micro-step of
// the model on 1 and N ranks at once, CPU AdamW, host copy bandwidth, Gloo collectives through the
// executor's communicator on N local ranks) and writes a
// zeroplan.hardware_profile/v1 file for `plan` / `simulate --hardware-profile`. Thin: parse, call
// executor/calibrate, write. Progress lines go to stderr.
//
//   zeroplan calibrate [--nproc 2,4] [--out profile.json] [--model M --seq-len S --micro-batch B]
//                      [--sizes 4KiB,16KiB,...,64MiB] [--fit-sizes ...] [--ops all_reduce,...] [--probes ...]
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <memory>

#include "executor/calibrate/calibrate.h"
#include "executor/dist/rank_env.h"
#include "executor/train/host_allocator.h"
#include "planner/error.h"
#include "planner/units.h"
#include "tools/cli/cli_context.h"

namespace zeroplan::cli {

namespace {

struct CalibrateFlags {
  executor::calibrate::CalibrateOptions options;
  std::string model = "tiny-llama-25m";
  std::vector<std::string> precisions = {"fp32", "bf16"};
  std::vector<std::string> probes = {"matmul", "adamw", "memory", "collectives", "train"};
  std::vector<std::string> sizes = {"4KiB", "16KiB", "64KiB", "256KiB", "1MiB", "4MiB", "16MiB", "64MiB"};
  std::vector<std::string> fit_sizes;
  std::string adam_params = "4M";
  std::string memory_bytes = "256MiB";
  std::string out = "hardware-profile.json";
  std::string statistic = "median";
  std::string rank_output;  // hidden: rank side of the collective probe
  bool json = false;
};

std::vector<std::uint64_t> parse_sizes(const std::vector<std::string>& texts, const char* flag) {
  std::vector<std::uint64_t> out;
  for (const std::string& t : texts) out.push_back(parse_bytes(t, flag));
  return out;
}

void run(CalibrateFlags& f, CliContext& cli) {
  executor::configure_host_allocator();  // as `zeroplan run` does: the probes must allocate as a run does
  auto& o = f.options;
  o.sizes = parse_sizes(f.sizes, "--sizes");
  o.fit_sizes = parse_sizes(f.fit_sizes, "--fit-sizes");
  o.statistic = executor::calibrate::parse_timing_statistic(f.statistic);
  o.probes = std::set<std::string>(f.probes.begin(), f.probes.end());
  o.precisions.clear();
  for (const std::string& p : f.precisions) o.precisions.push_back(parse_precision(p, "--precision"));
  if (o.probes.count("matmul") || o.probes.count("train")) o.model = load_model_spec(f.model, cli.configs_dir);
  o.model_arg = f.model;
  o.configs_dir = cli.configs_dir;
  if (!f.rank_output.empty()) {
    const auto env = executor::dist::rank_env_from_environment();
    if (!env) throw InputError("--rank-output is for the ranks calibrate launches (no RANK/WORLD_SIZE set)");
    cli.exit_code = executor::calibrate::run_collective_rank(*env, o, f.rank_output);
    return;
  }
  o.adam_params = static_cast<std::int64_t>(parse_elements(f.adam_params, "--adam-params"));
  o.memory_bytes = parse_bytes(f.memory_bytes, "--memory-bytes");
  executor::calibrate::check_calibrate_options(o);
  {  // fail before the measurements, not after, when the profile cannot be written
    std::ofstream probe(f.out, std::ios::app);
    if (!probe) throw InputError(fmt::format("--out {}: cannot write file", f.out));
  }
  const sim::HardwareProfile profile = executor::calibrate::run_calibration(
      o, [](const std::string& line) { std::fprintf(stderr, "calibrate: %s\n", line.c_str()); });
  const std::string text = sim::hardware_profile_to_json(profile).dump(2) + "\n";
  std::ofstream out(f.out, std::ios::binary);
  if (!out || !(out << text)) throw InputError(fmt::format("{}: cannot write file", f.out));
  out.close();
  if (f.json) std::fputs(text.c_str(), stdout);
  std::fprintf(stderr, "wrote %s (use: zeroplan simulate|plan ... --hardware-profile %s)\n", f.out.c_str(), f.out.c_str());
}

}  // namespace

void register_calibrate_command(CLI::App& app, CliContext& context) {
  auto f = std::make_shared<CalibrateFlags>();
  CLI::App* cmd = app.add_subcommand("calibrate", "Measure this machine and write a hardware profile for plan/simulate");
  cmd->footer("Exit codes: 0 ok, 2 bad input or a failed probe.");
  auto& o = f->options;
  cmd->add_option("--nproc", o.ranks, "Gloo group sizes to time collectives on, e.g. 2 or 2,4")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--out", f->out, "Profile file to write (zeroplan.hardware_profile/v1)")->capture_default_str();
  cmd->add_option("--model", f->model, "Model preset or config.json whose matmul shapes and training step are timed")->capture_default_str();
  cmd->add_option("--seq-len,--seq", o.seq_len, "Sequence length of the matmul shapes")->capture_default_str();
  cmd->add_option("--micro-batch", o.micro_batch, "Sequences per micro-step of the matmul shapes")->capture_default_str();
  cmd->add_option("--precision", f->precisions, "Matmul and training-step precisions: fp32, bf16, fp16")->delimiter(',')->capture_default_str();
  cmd->add_option("--threads", o.threads, "Intra-op threads of the probes (0 = as zeroplan run: LibTorch's default shared by the ranks)")
      ->capture_default_str();
  cmd->add_option("--probes", f->probes,
                  "Which probes: matmul, adamw, memory, collectives, train (one forward+loss+backward of the model, "
                  "in 1 and in each --nproc ranks at once)")->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--ops", o.ops, "Collectives: all_reduce, reduce_scatter, all_gather, broadcast")->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--sizes", f->sizes, "Collective sizes (nccl-tests' S), with units")->delimiter(',')->capture_default_str();
  cmd->add_option("--fit-sizes", f->fit_sizes, "Sizes the alpha-beta fit uses (default: all of --sizes)")->delimiter(',');
  cmd->add_option("--reps", o.reps, "Timed repetitions per measurement (x8 for collectives below 1 MiB)")
      ->capture_default_str();
  cmd->add_option("--statistic", f->statistic,
                  "Which repetition every timing is: median (the typical one, what a run's steps take) or fastest "
                  "(a quiet machine's cost)")
      ->capture_default_str();
  cmd->add_option("--rounds", o.rounds,
                  "Collectives: sweeps of every size, interleaved in time; the statistic is over all of them "
                  "(a noisy host: 3+)")
      ->capture_default_str();
  cmd->add_option("--adam-params", f->adam_params, "Parameters of the AdamW probe (elements, e.g. 4M)")->capture_default_str();
  cmd->add_option("--memory-bytes", f->memory_bytes, "Buffer of the host copy probe")->capture_default_str();
  cmd->add_option("--collective-timeout", o.collective_timeout_s, "Seconds before a collective counts as hung")
      ->capture_default_str();
  cmd->add_flag("--activation-checkpointing", o.activation_checkpointing,
                "Train probe: recompute each decoder layer in backward (as `run --activation-checkpointing`)");
  cmd->add_flag("--json", f->json, "Also print the profile on stdout");
  cmd->add_option("--rank-output", f->rank_output, "(internal) rank side of the collective probe")->group("");
  cmd->callback([f, &context] { run(*f, context); });
}

}  // namespace zeroplan::cli
