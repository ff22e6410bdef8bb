#include "executor/calibrate/calibrate.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <thread>

#include "executor/calibrate/probes.h"
#include "executor/dist/launcher.h"
#include "executor/dist/rendezvous.h"
#include "planner/error.h"
#include "planner/json_fields.h"
#include "planner/units.h"

namespace zeroplan::executor::calibrate {

namespace {

const std::set<std::string> kProbes = {"matmul", "adamw", "memory", "collectives", "train"};

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown host";
  return buf;
}

// Reads rank 0's points file (written by run_collective_rank).
std::vector<MeasuredCollective> read_points(const nlohmann::json& j) {
  std::vector<MeasuredCollective> out;
  for (const auto& p : j.at("points")) {
    out.push_back({p.at("op").get<std::string>(), p.at("ranks").get<int>(), p.at("bytes").get<std::uint64_t>(),
                   p.at("time_s").get<double>()});
  }
  return out;
}

// The profile entry of a training-step probe (threads: what calibrate was asked for, 0 = LibTorch's
// default, as `zeroplan run --threads`).
sim::TrainingStepMeasurement training_entry(const CalibrateOptions& o, const TrainingStepProbeResult& r) {
  sim::TrainingStepMeasurement m;
  m.precision = r.precision;
  m.ranks = r.ranks;
  m.model = o.model.name;
  m.seq_len = o.seq_len;
  m.micro_batch = o.micro_batch;
  m.activation_checkpointing = r.activation_checkpointing;
  m.threads = o.threads;
  m.forward_backward_s = r.forward_backward_s;
  m.tokens = r.tokens;
  m.optimizer_step_s = r.optimizer_step_s;
  m.optimizer_params = r.optimizer_params;
  m.grad_copy_s = r.grad_copy_s;
  m.grad_accumulate_s = r.grad_accumulate_s;
  m.grad_in_step_s = r.grad_in_step_s;
  return m;
}

std::string training_line(const CalibrateOptions& o, const TrainingStepProbeResult& r) {
  return fmt::format("train {} {} ranks at once: {} x {} tokens of {}, forward+loss+backward {:.1f} ms, optimizer "
                     "step {:.1f} ms, gradient copy / accumulate / in-step add {:.1f} / {:.1f} / {:.1f} ms ({} threads "
                     "per rank)",
                     precision_name(r.precision), r.ranks, o.micro_batch, o.seq_len, o.model.name,
                     r.forward_backward_s * 1e3, r.optimizer_step_s * 1e3, r.grad_copy_s * 1e3,
                     r.grad_accumulate_s * 1e3, r.grad_in_step_s * 1e3, r.threads);
}

}  // namespace

void check_calibrate_options(const CalibrateOptions& o) {
  for (const std::string& p : o.probes) {
    if (!kProbes.count(p)) {
      throw InputError(fmt::format("--probes: unknown probe \"{}\"; expected matmul, adamw, memory, collectives or train", p));
    }
  }
  if (o.probes.empty()) throw InputError("--probes: name at least one of matmul, adamw, memory, collectives, train");
  if (o.seq_len < 1) throw InputError(fmt::format("--seq-len: must be >= 1 (got {})", o.seq_len));
  if (o.micro_batch < 1) throw InputError(fmt::format("--micro-batch: must be >= 1 (got {})", o.micro_batch));
  if (o.reps < 1) throw InputError(fmt::format("--reps: must be >= 1 (got {})", o.reps));
  if (o.rounds < 1) throw InputError(fmt::format("--rounds: must be >= 1 (got {})", o.rounds));
  if (o.threads < 0) throw InputError(fmt::format("--threads: must be >= 0 (got {})", o.threads));
  if (o.adam_params < 1) throw InputError("--adam-params: must be >= 1");
  if (o.memory_bytes < 1) throw InputError("--memory-bytes: must be > 0");
  if (o.probes.count("train")) {
    if (o.seq_len < 2) throw InputError(fmt::format("--seq-len: the train probe needs >= 2 tokens (got {})", o.seq_len));
    for (int r : o.ranks) {
      if (r < 2 || r > 64) throw InputError(fmt::format("--nproc: {} ranks; expected 2..64 (train measures 1 rank in this process)", r));
    }
  }
  if (o.probes.count("collectives")) {
    if (o.ranks.empty()) throw InputError("--nproc: give at least one group size (e.g. 2 or 2,4)");
    for (int r : o.ranks) {
      if (r < 2 || r > 64) throw InputError(fmt::format("--nproc: {} ranks; expected 2..64 (a collective needs 2 ranks)", r));
    }
    if (o.sizes.empty()) throw InputError("--sizes: give at least one size (e.g. 4KiB,1MiB,64MiB)");
    for (std::uint64_t s : o.sizes) {
      if (s < 4) throw InputError(fmt::format("--sizes: {} bytes is smaller than one fp32 element", s));
    }
    if (o.ops.empty()) throw InputError("--ops: give at least one collective");
    for (const std::string& op : o.ops) {
      try {
        check_collective_op(op);
      } catch (const InputError& e) {
        throw InputError(fmt::format("--ops: unknown collective \"{}\"; expected all_reduce, reduce_scatter, all_gather or broadcast", op));
      }
    }
    std::set<std::uint64_t> distinct_fit(o.fit_sizes.begin(), o.fit_sizes.end());
    for (std::uint64_t s : o.fit_sizes) {
      if (std::find(o.sizes.begin(), o.sizes.end(), s) == o.sizes.end()) {
        throw InputError(fmt::format("--fit-sizes: {} is not one of --sizes", format_bytes(s)));
      }
    }
    if (!o.fit_sizes.empty() && distinct_fit.size() < 2) throw InputError("--fit-sizes: the fit needs at least 2 sizes");
    std::set<std::uint64_t> distinct(o.sizes.begin(), o.sizes.end());
    if (o.fit_sizes.empty() && distinct.size() < 2) throw InputError("--sizes: the fit needs at least 2 sizes");
  }
}

std::vector<std::string> collective_rank_arguments(const CalibrateOptions& o, int nproc, const std::string& output) {
  std::vector<std::string> sizes;
  for (std::uint64_t s : o.sizes) sizes.push_back(fmt::format("{}B", s));
  std::vector<std::string> probes;
  for (const char* p : {"collectives", "train"}) {
    if (o.probes.count(p)) probes.push_back(p);
  }
  std::vector<std::string> args;
  if (!o.configs_dir.empty()) args = {"--configs-dir", o.configs_dir};
  for (const std::string& a : {std::string("calibrate"), std::string("--rank-output"), output, std::string("--nproc"),
                               std::to_string(nproc), std::string("--probes"), join(probes)}) {
    args.push_back(a);
  }
  if (o.probes.count("collectives")) {
    for (const std::string& a : {std::string("--ops"), join(o.ops), std::string("--sizes"), join(sizes)}) args.push_back(a);
  }
  if (o.probes.count("train")) {
    std::vector<std::string> precisions;
    for (Precision p : o.precisions) precisions.push_back(precision_name(p));
    for (const std::string& a :
         {std::string("--model"), o.model_arg.empty() ? o.model.name : o.model_arg, std::string("--seq-len"),
          std::to_string(o.seq_len), std::string("--micro-batch"), std::to_string(o.micro_batch),
          std::string("--precision"), join(precisions)}) {
      args.push_back(a);
    }
    if (o.activation_checkpointing) args.push_back("--activation-checkpointing");
  }
  if (o.threads > 0) {
    args.push_back("--threads");
    args.push_back(std::to_string(o.threads));
  }
  for (const std::string& a : {std::string("--reps"), std::to_string(o.reps), std::string("--rounds"),
                               std::to_string(o.rounds), std::string("--statistic"),
                               std::string(timing_statistic_name(o.statistic)),
                               std::string("--collective-timeout"),
                               fmt::format("{}", o.collective_timeout_s)}) {
    args.push_back(a);
  }
  return args;
}

int run_collective_rank(const dist::RankEnv& env, const CalibrateOptions& o, const std::string& output) {
  dist::DistOptions d;
  d.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(o.collective_timeout_s * 1000));
  dist::DistContext ctx = dist::init_distributed(env, d);
  ProbeBudget budget;
  budget.reps = o.reps;
  budget.rounds = o.rounds;
  budget.statistic = o.statistic;
  ProgressFn progress;
  if (env.rank == 0) progress = [](const std::string& line) { std::fprintf(stderr, "calibrate: %s\n", line.c_str()); };
  // As the ranks of `zeroplan run` set theirs (--threads, else the host's share).
  const int threads = dist::rank_intra_op_threads(o.threads, at::get_num_threads(), env.local_world_size);
  if (threads != at::get_num_threads()) at::set_num_threads(threads);
  try {
    // The training step first: every rank builds and runs the model at once (contending for the cores
    // as the ranks of a run do); the collectives then start on a quiet host.
    std::vector<TrainingStepProbeResult> train;
    if (o.probes.count("train")) {
      ctx.status->set_phase("calibrate training step", -1);
      for (Precision p : o.precisions) {
        train.push_back(probe_training_step(o.model, o.seq_len, o.micro_batch, p, o.activation_checkpointing, budget,
                                            ctx.comm.get()));
        if (progress) progress(training_line(o, train.back()));
      }
    }
    std::vector<CollectivePoint> points;
    if (o.probes.count("collectives")) {
      ctx.status->set_phase("calibrate collectives", -1);
      points = probe_collectives(*ctx.comm, o.ops, o.sizes, budget, progress);
    }
    ctx.comm->barrier();
    if (env.rank == 0) {
      nlohmann::json j;
      j["training_step"] = nlohmann::json::array();
      for (const TrainingStepProbeResult& t : train) {
        j["training_step"].push_back({{"precision", precision_name(t.precision)},
                                      {"ranks", t.ranks},
                                      {"threads", t.threads},
                                      {"activation_checkpointing", t.activation_checkpointing},
                                      {"tokens", t.tokens},
                                      {"forward_backward_s", t.forward_backward_s},
                                      {"optimizer_step_s", t.optimizer_step_s},
                                      {"optimizer_params", t.optimizer_params},
                                      {"grad_copy_s", t.grad_copy_s},
                                      {"grad_accumulate_s", t.grad_accumulate_s},
                                      {"grad_in_step_s", t.grad_in_step_s},
                                      {"rep_times_s", t.rep_times_s}});
      }
      j["points"] = nlohmann::json::array();
      for (const CollectivePoint& p : points) {
        j["points"].push_back({{"op", p.op}, {"ranks", p.ranks}, {"bytes", p.bytes}, {"time_s", p.time_s},
                               {"rep_times_s", p.rep_times_s}});
      }
      std::ofstream out(output);
      out << j.dump(1) << "\n";
      if (!out) throw InputError(fmt::format("{}: cannot write file", output));
    }
  } catch (const dist::CommError& e) {
    ctx.status->report_error(dist::RankErrorKind::kComm, e.what());
    throw;
  } catch (const std::exception& e) {
    ctx.status->report_error(dist::RankErrorKind::kError, e.what());
    throw;
  }
  return 0;
}

void add_collective_results(sim::HardwareProfile& profile, const std::vector<MeasuredCollective>& points,
                            const std::vector<std::uint64_t>& fit_sizes) {
  std::map<std::pair<std::string, int>, std::vector<const MeasuredCollective*>> groups;
  for (const MeasuredCollective& p : points) groups[{p.op, p.ranks}].push_back(&p);
  for (auto& [key, list] : groups) {
    std::sort(list.begin(), list.end(), [](auto* a, auto* b) { return a->bytes < b->bytes; });
    const sim::CollectiveOp op = sim::parse_op(key.first, "calibrate");
    sim::CollectiveMeasurement m;
    m.op = op;
    m.ranks = key.second;
    std::vector<double> fb, ft;
    for (const MeasuredCollective* p : list) {
      if (!m.bytes.empty() && m.bytes.back() == static_cast<double>(p->bytes)) continue;  // sizes rounded together
      m.bytes.push_back(static_cast<double>(p->bytes));
      m.time_s.push_back(p->time_s);
      const bool fit = fit_sizes.empty() || std::any_of(fit_sizes.begin(), fit_sizes.end(), [&](std::uint64_t s) {
                         // requested sizes are rounded down to whole elements per rank: match within 4 x ranks bytes
                         return s >= p->bytes && s - p->bytes < 4ull * static_cast<std::uint64_t>(p->ranks);
                       });
      if (fit) {
        fb.push_back(static_cast<double>(p->bytes));
        ft.push_back(p->time_s);
      }
    }
    profile.collectives.push_back(m);
    profile.collective_fits.push_back(sim::fit_gloo_collective(
        op, key.second, fb, ft, fmt::format("calibrate: {} on {} ranks", key.first, key.second)));
  }
}

sim::HardwareProfile run_calibration(const CalibrateOptions& o, const ProgressFn& progress) {
  check_calibrate_options(o);
  if (o.threads > 0) at::set_num_threads(o.threads);
  sim::HardwareProfile profile;
  const unsigned cores = std::thread::hardware_concurrency();
  profile.machine = fmt::format("{}: {} logical CPUs, LibTorch {} intra-op threads", host_name(), cores,
                                at::get_num_threads());
  if (cores > 0) profile.cpu_cores = static_cast<int>(cores);
  profile.timing_statistic = timing_statistic_name(o.statistic);
  ProbeBudget budget;
  budget.reps = o.reps;
  budget.rounds = o.rounds;
  budget.statistic = o.statistic;
  auto say = [&](const std::string& line) {
    if (progress) progress(line);
  };

  if (o.probes.count("matmul")) {
    const auto shapes = model_matmul_shapes(o.model, o.seq_len, o.micro_batch);
    profile.calibrated_for = fmt::format("matmul at {} shapes, {} tokens (micro-batch {} x seq {}), {} threads",
                                         o.model.name, o.seq_len * o.micro_batch, o.micro_batch, o.seq_len,
                                         at::get_num_threads());
    for (Precision p : o.precisions) {
      const MatmulProbeResult r = probe_matmul(shapes, p, budget, progress);
      say(fmt::format("matmul {} at {} shapes: {:.1f} GFLOP/s ({:.3f} s per step's GEMMs)", precision_name(p),
                      o.model.name, r.tflops * 1e3, r.step_seconds));
      switch (p) {
        case Precision::kFp32: profile.matmul_fp32_tflops = r.tflops; break;
        case Precision::kBf16: profile.matmul_bf16_tflops = r.tflops; break;
        case Precision::kFp16: profile.matmul_fp16_tflops = r.tflops; break;
      }
    }
  }
  if (o.probes.count("adamw")) {
    const AdamwProbeResult r = probe_adamw(o.adam_params, budget);
    profile.cpu_adam_params_per_s = r.params_per_s;
    say(fmt::format("adamw: {} params in {:.2f} ms = {:.3g} params/s ({} threads)", format_count(r.params),
                    r.seconds * 1e3, r.params_per_s, r.threads));
  }
  if (o.probes.count("memory")) {
    const MemoryProbeResult r = probe_host_memory(o.memory_bytes, budget);
    profile.host_memory_GBps = r.copy_GBps;
    say(fmt::format("host memory: copy of {} in {:.2f} ms = {:.2f} GB/s", format_bytes(r.bytes), r.seconds * 1e3,
                    r.copy_GBps));
  }
  if (o.probes.count("train")) {
    for (Precision p : o.precisions) {
      const TrainingStepProbeResult r = probe_training_step(o.model, o.seq_len, o.micro_batch, p,
                                                            o.activation_checkpointing, budget);
      profile.training_steps.push_back(training_entry(o, r));
      say(training_line(o, r));
    }
  }
  if (o.probes.count("collectives") || o.probes.count("train")) {
    if (o.probes.count("collectives")) profile.backend = "gloo";
    std::vector<MeasuredCollective> all;
    for (int nproc : o.ranks) {
      char tmpl[] = "/tmp/zeroplan-calibrate-XXXXXX";
      const int fd = mkstemp(tmpl);
      if (fd < 0) throw InputError("calibrate: cannot create a temporary file in /tmp");
      close(fd);
      const std::string points_file = tmpl;
      say(o.probes.count("collectives")
              ? fmt::format("collectives: launching {} Gloo ranks ({} x {} sizes{})", nproc, join(o.ops), o.sizes.size(),
                            o.probes.count("train") ? ", training step first" : "")
              : fmt::format("train: launching {} ranks", nproc));
      dist::LaunchOptions launch;
      launch.nproc_per_node = nproc;
      launch.master_port = 0;
      launch.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(o.collective_timeout_s * 1000));
      launch.program = o.program;
      launch.args = collective_rank_arguments(o, nproc, points_file);
      const dist::LaunchResult result = dist::launch_local_ranks(launch);
      if (result.exit_code != 0) {
        std::remove(points_file.c_str());
        throw InputError(fmt::format("calibrate: the {}-rank collective probe failed: {}", nproc,
                                     result.failure.empty() ? "a rank exited with an error" : result.failure));
      }
      const nlohmann::json rank_results = read_json_file(points_file);
      std::remove(points_file.c_str());
      auto points = read_points(rank_results);
      all.insert(all.end(), points.begin(), points.end());
      for (const auto& t : rank_results.at("training_step")) {
        TrainingStepProbeResult r;
        r.precision = zeroplan::parse_precision(t.at("precision").get<std::string>(), "calibrate: a rank's training_step");
        r.ranks = t.at("ranks").get<int>();
        r.threads = t.at("threads").get<int>();
        r.activation_checkpointing = t.at("activation_checkpointing").get<bool>();
        r.tokens = t.at("tokens").get<std::int64_t>();
        r.forward_backward_s = t.at("forward_backward_s").get<double>();
        r.optimizer_step_s = t.at("optimizer_step_s").get<double>();
        r.optimizer_params = t.at("optimizer_params").get<std::int64_t>();
        r.grad_copy_s = t.at("grad_copy_s").get<double>();
        r.grad_accumulate_s = t.at("grad_accumulate_s").get<double>();
        r.grad_in_step_s = t.at("grad_in_step_s").get<double>();
        profile.training_steps.push_back(training_entry(o, r));
      }
    }
    if (o.probes.count("collectives")) add_collective_results(profile, all, o.fit_sizes);
    for (const sim::GlooCollectiveFit& f : profile.collective_fits) {
      const double smallest = f.fitted_bytes.front(), largest = f.fitted_bytes.back();
      const double beta_last = f.segments.empty() ? f.beta_s_per_byte : f.segments.back().beta_s_per_byte;
      say(fmt::format("fit {} {} ranks: {} regime(s); {:.1f} us at {:.0f} B, {:.3f} GB/s per rank per step above {:.0f} B",
                      sim::op_name(f.op), f.ranks, std::max<size_t>(1, f.segments.size()),
                      sim::gloo_time_s(f, smallest, f.ranks, 0) * 1e6, smallest,
                      beta_last > 0 ? 1e-9 / beta_last : 0.0, largest));
    }
  }
  return profile;
}

}  // namespace zeroplan::executor::calibrate
