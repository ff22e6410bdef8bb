#include "executor/train/run_outputs.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <filesystem>
#include <vector>

#include "profiler/profiler.h"
#include "profiler/trace_writer.h"
#include "reports/measured_run.h"

namespace zeroplan::executor {

namespace {

std::string human_count(double n) {
  if (n >= 1e9) return fmt::format("{:.2f} B", n / 1e9);
  if (n >= 1e6) return fmt::format("{:.2f} M", n / 1e6);
  if (n >= 1e3) return fmt::format("{:.1f} k", n / 1e3);
  return fmt::format("{:.0f}", n);
}

std::string schedule_text(const LrScheduleOptions& lr) {
  if (lr.kind == LrScheduleKind::kConstant) return fmt::format("lr {:g} constant", lr.lr);
  return fmt::format("lr {:g} {}(warmup {} {})", lr.lr, lr_schedule_kind_name(lr.kind), lr.warmup_num_steps,
                     lr.warmup_type == WarmupType::kLog ? "log" : "linear");
}

std::string zero_text(const RunZeroConfig& z) {
  std::string text = fmt::format("ZeRO stage {}", z.stage);
  if (z.offload_optimizer) text += ", optimizer offload cpu";
  if (z.offload_param) text += ", param offload cpu";
  return text;
}

}  // namespace

std::string run_summary_line(const RunOptions& o, const RunInputs& in, const RunShape& shape) {
  const double steps_per_epoch = static_cast<double>(in.micro_per_epoch) / static_cast<double>(o.grad_accum);
  const std::string ranks =
      shape.world > 1 ? fmt::format(" x {} ranks", shape.world) : std::string();
  const std::string dist = shape.world > 1 || o.zero.stage > 0
                               ? fmt::format(" | {} rank{} ({}), {}", shape.world, shape.world == 1 ? "" : "s",
                                             shape.backend.empty() ? "one process" : shape.backend, zero_text(o.zero))
                               : std::string();
  return fmt::format(
      "{} ({} params, {}{}) | {}: {} examples ({} truncated, {} bad lines skipped), {} tokens | "
      "micro-batch {} x grad-accum {}{} = {} {}/step{} | {} steps ({:.2f} epochs) | {} | seed {} | threads {} | {}{}",
      in.spec.name, human_count(static_cast<double>(shape.num_parameters)), precision_name(in.precision),
      o.activation_checkpointing ? ", activation checkpointing" : "", o.data, in.examples, in.data.truncated,
      in.data.skipped_bad_lines, human_count(static_cast<double>(in.data_tokens)), o.micro_batch, o.grad_accum, ranks,
      o.micro_batch * o.grad_accum * shape.world, o.pack ? "packed rows" : "examples", dist, in.total_steps,
      static_cast<double>(in.total_steps) / steps_per_epoch, schedule_text(in.lr), o.seed, at::get_num_threads(),
      in.out, shape.resumed_step >= 0 ? fmt::format(" | resumed at step {}", shape.resumed_step) : "");
}

std::string rank_trace_file_name(int rank, int world) {
  return world > 1 ? fmt::format("trace_rank{}.json", rank) : std::string("trace.json");
}

void write_rank_outputs(profiler::Profiler& prof, const std::string& out_dir, int rank, int world) {
  reports::write_measured_rank(out_dir + "/" + reports::measured_rank_file_name(rank), prof.measured_rank());
  prof.write_trace(out_dir + "/" + rank_trace_file_name(rank, world));
}

void merge_run_outputs(const std::string& out_dir, int world, const nlohmann::json& config) {
  std::vector<std::string> rank_files, traces;
  for (int r = 0; r < world; ++r) {
    rank_files.push_back(out_dir + "/" + reports::measured_rank_file_name(r));
    // Traces of ranks on other nodes stay in their node's RUN_DIR.
    const std::string trace = out_dir + "/" + rank_trace_file_name(r, world);
    if (std::filesystem::exists(trace)) traces.push_back(trace);
  }
  reports::write_measured_run(out_dir + "/" + reports::kMeasuredFileName,
                              reports::assemble_measured_run(rank_files, {"cpu", "cpu"}, config));
  if (world > 1) profiler::merge_chrome_traces(traces, out_dir + "/trace.json");
}

}  // namespace zeroplan::executor
