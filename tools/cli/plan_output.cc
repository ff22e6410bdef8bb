#include "tools/cli/plan_output.h"

#include <fmt/format.h>

#include "planner/units.h"
#include "tools/cli/table.h"

namespace zeroplan::cli {
namespace {

std::string offloads(const Candidate& c) {
  return fmt::format("{}/{}", c.offload_optimizer == OffloadDevice::kCpu ? "cpu" : "-",
                     c.zero_stage == 3 ? (c.offload_param == OffloadDevice::kCpu ? "cpu" : "-") : "-");
}

std::string offloads(const RejectionGroup& r) {
  return fmt::format("{}/{}", r.offload_optimizer == OffloadDevice::kCpu ? "cpu" : "-",
                     r.offload_param == OffloadDevice::kCpu ? "cpu" : "-");
}

}  // namespace

std::string format_step_time(double s) {
  if (s >= 1.0) return fmt::format("{:.1f} s", s);
  return fmt::format("{:.0f} ms", s * 1e3);
}

std::string format_rate(double r) {
  if (r >= 1e6) return fmt::format("{:.1f}M", r / 1e6);
  if (r >= 1e3) return fmt::format("{:.1f}k", r / 1e3);
  return fmt::format("{:.0f}", r);
}

std::string render_candidate_table(const Plan& plan, bool evaluation_mode) {
  TextTable t;
  using A = TextTable::Align;
  t.add_column("rank", A::kLeft);
  t.add_column("stage", A::kLeft);
  t.add_column("offload(opt/param)", A::kLeft);
  t.add_column("mbs", A::kRight);
  t.add_column("gas", A::kRight);
  t.add_column("ckpt", A::kLeft);
  // On CPU ranks (--cluster local-cpu) the "device" is a share of host memory, not a GPU.
  const bool cpu_ranks = plan.context.cluster.gpu.kind == DeviceKind::kCpu;
  t.add_column(cpu_ranks ? "rank peak" : "GPU peak", A::kRight);
  t.add_column("(params grads optim   act   buf   ovh)", A::kLeft);
  t.add_column("CPU/node", A::kRight);
  t.add_column("step", A::kRight);
  t.add_column("tok/s", A::kRight);
  int rank = 1;
  for (const EvaluatedCandidate& e : plan.candidates) {
    const Candidate& c = e.candidate;
    const GpuMemory& g = e.memory.gpu;
    std::string rank_cell = evaluation_mode ? (e.fits() ? "fits" : "NO FIT") : std::to_string(rank++);
    t.add_row({rank_cell, std::to_string(c.zero_stage), offloads(c), std::to_string(c.micro_batch),
               std::to_string(c.grad_accum), c.activation_checkpointing ? "on" : "off",
               format_gib(g.total()) + " GiB",
               fmt::format("({:>6} {:>5} {:>5} {:>5} {:>5} {:>5})", format_gib(g.params), format_gib(g.gradients),
                           format_gib(g.optimizer_states), format_gib(g.activations), format_gib(g.buffers),
                           format_gib(g.overhead)),
               format_gib(e.memory.cpu.total()) + " GiB", format_step_time(e.step.total_s),
               format_rate(e.step.tokens_per_s)});
  }
  return t.render();
}

std::string render_rejections(const Plan& plan) {
  if (plan.rejections.empty()) return "";
  std::string out = fmt::format("rejected: {} of {} candidates (closest miss of each group; usable = {:.0f}% of memory)\n",
                                plan.evaluated_count - plan.fitting_count, plan.evaluated_count,
                                plan.context.training.headroom_fraction * 100.0);
  const char* device = plan.context.cluster.gpu.kind == DeviceKind::kCpu ? "per rank" : "GPU";
  for (const RejectionGroup& r : plan.rejections) {
    const std::string what = fmt::format("stage {} {}", r.zero_stage, offloads(r));
    const std::string over = format_bytes(r.needed_bytes > r.usable_bytes ? r.needed_bytes - r.usable_bytes : 0);
    std::string why;
    switch (r.overflow) {
      case Overflow::kModelStates:
        why = fmt::format("model states {} > {} usable {}", format_bytes(r.needed_bytes), format_bytes(r.usable_bytes),
                          device);
        break;
      case Overflow::kBuffers:
        why = fmt::format("model states + buffers + overhead {} > {} usable {} (+{})", format_bytes(r.needed_bytes),
                          format_bytes(r.usable_bytes), device, over);
        break;
      case Overflow::kActivations:
        why = fmt::format("activations +{} over (peak {} at mbs {}, ckpt {})", over, format_bytes(r.needed_bytes),
                          r.closest_micro_batch, r.closest_activation_checkpointing ? "on" : "off");
        break;
      case Overflow::kCpuMemory:
        why = fmt::format("CPU memory per node {} > {} usable (+{})", format_bytes(r.needed_bytes),
                          format_bytes(r.usable_bytes), over);
        break;
    }
    out += fmt::format("  {:<15} {} [{} candidate{}]\n", what, why, r.count, r.count == 1 ? "" : "s");
  }
  return out;
}

std::string render_deepspeed_comparison(const EvaluatedCandidate& e, const std::string& which) {
  const GpuMemory& g = e.memory.gpu;
  const std::uint64_t left_out = g.activations + g.buffers + g.overhead;
  return fmt::format(
      "DeepSpeed's estimator for {}: {} per GPU, {} CPU per node (model states only; it leaves out "
      "activations, buffers and overhead: {} here)\n",
      which, format_bytes(e.deepspeed_estimate.gpu), format_bytes(e.deepspeed_estimate.cpu), format_bytes(left_out));
}

std::string describe_candidate(const EvaluatedCandidate& e) {
  const Candidate& c = e.candidate;
  return fmt::format("stage {} offload {} mbs {} gas {} ckpt {}: GPU {}, CPU/node {}, {}/step", c.zero_stage,
                     offloads(c), c.micro_batch, c.grad_accum, c.activation_checkpointing ? "on" : "off",
                     format_bytes(e.memory.gpu.total()), format_bytes(e.memory.cpu.total()),
                     format_step_time(e.step.total_s));
}

std::string render_suggestions(const std::vector<Suggestion>& suggestions) {
  if (suggestions.empty()) {
    return "what would fit: nothing tried fits (not even shorter sequences or up to 64x the GPUs); "
           "consider a smaller model or GPUs with more memory\n";
  }
  std::string out = "what would fit:\n";
  for (const Suggestion& s : suggestions) out += fmt::format("  {}  ->  {}\n", s.change, describe_candidate(s.best));
  return out;
}

}  // namespace zeroplan::cli
