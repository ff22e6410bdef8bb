#include "executor/calibrate/probes.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "executor/dist/communicator.h"
#include "executor/train/adamw.h"
#include "executor/train/precision_dtype.h"
#include "planner/error.h"
#include "planner/units.h"

namespace zeroplan::executor::calibrate {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Runs `body` once (warm-up, timed); if that took longer than the budget, it is the measurement;
// otherwise the budget's statistic of budget.reps further runs.
template <typename F>
double time_repetitions(const ProbeBudget& budget, F&& body) {
  auto t0 = Clock::now();
  body();
  const double first = seconds_since(t0);
  if (first > budget.max_seconds || budget.reps < 1) return first;
  std::vector<double> times;
  for (int r = 0; r < budget.reps; ++r) {
    t0 = Clock::now();
    body();
    times.push_back(seconds_since(t0));
  }
  return pick_repetition(std::move(times), budget.statistic);
}

}  // namespace

const char* timing_statistic_name(TimingStatistic s) {
  return s == TimingStatistic::kMedian ? "median" : "fastest";
}

TimingStatistic parse_timing_statistic(const std::string& text) {
  if (text == "fastest") return TimingStatistic::kFastest;
  if (text == "median") return TimingStatistic::kMedian;
  throw InputError(fmt::format("--statistic: unknown \"{}\"; expected fastest or median", text));
}

// kFastest: on a shared machine other processes only ever add time, so the minimum is the least disturbed
// estimate of what the code costs (as Python's timeit documentation argues for its `min(repeat(...))`).
double pick_repetition(std::vector<double> reps, TimingStatistic s) {
  ZP_ASSERT(!reps.empty(), "no repetitions");
  std::sort(reps.begin(), reps.end());
  if (s == TimingStatistic::kFastest) return reps.front();
  const size_t n = reps.size();
  return n % 2 == 1 ? reps[n / 2] : 0.5 * (reps[n / 2 - 1] + reps[n / 2]);
}

std::vector<MatmulShape> model_matmul_shapes(const ModelSpec& m, std::int64_t seq_len, std::int64_t micro_batch) {
  if (seq_len < 1 || micro_batch < 1) {
    throw InputError(fmt::format("calibrate: seq_len and micro_batch must be >= 1 (got {}, {})", seq_len, micro_batch));
  }
  const std::int64_t T = seq_len * micro_batch;  // tokens per micro-step
  const std::int64_t h = m.hidden_size;
  const std::int64_t heads = m.num_attention_heads;
  const std::int64_t kv = m.num_key_value_heads > 0 ? m.num_key_value_heads : heads;
  const std::int64_t hd = m.head_dim > 0 ? m.head_dim : h / std::max<std::int64_t>(heads, 1);
  const std::int64_t L = m.num_hidden_layers;
  std::vector<MatmulShape> s;
  //                name                 batch           m        k              n            calls
  s.push_back({"q_proj", 1, T, h, heads * hd, L});
  s.push_back({"k_proj, v_proj", 1, T, h, kv * hd, 2 * L});
  s.push_back({"o_proj", 1, T, heads * hd, h, L});
  s.push_back({"gate_proj, up_proj", 1, T, h, m.intermediate_size, 2 * L});
  s.push_back({"down_proj", 1, T, m.intermediate_size, h, L});
  // Attention: scores Q K^T [s, hd] x [hd, s] and values P V [s, s] x [s, hd] per (sequence, head).
  s.push_back({"attention scores", micro_batch * heads, seq_len, hd, seq_len, L});
  s.push_back({"attention values", micro_batch * heads, seq_len, seq_len, hd, L});
  s.push_back({"lm_head", 1, T, h, m.vocab_size, 1});
  return s;
}

MatmulProbeResult probe_matmul(const std::vector<MatmulShape>& shapes, Precision precision, const ProbeBudget& budget,
                               const ProgressFn& progress) {
  at::NoGradGuard no_grad;
  MatmulProbeResult r;
  r.precision = precision;
  r.threads = at::get_num_threads();
  const auto opts = at::TensorOptions().dtype(compute_dtype(precision));
  for (const MatmulShape& s : shapes) {
    at::Tensor x = at::randn({s.batch, s.m, s.k}, opts);
    at::Tensor w = at::randn({s.batch, s.n, s.k}, opts);
    at::Tensor dy = at::randn({s.batch, s.m, s.n}, opts);
    if (s.batch == 1) {  // what at::linear runs: 2-D GEMMs
      x = x.squeeze(0);
      w = w.squeeze(0);
      dy = dy.squeeze(0);
    }
    const double seconds = time_repetitions(budget, [&] {
      if (s.batch == 1) {
        at::Tensor y = at::matmul(x, w.t());       // forward
        at::Tensor dx = at::matmul(dy, w);         // input gradient
        at::Tensor dw = at::matmul(dy.t(), x);     // weight gradient
      } else {
        at::Tensor y = at::bmm(x, w.transpose(1, 2));
        at::Tensor dx = at::bmm(dy, w);
        at::Tensor dw = at::bmm(dy.transpose(1, 2), x);
      }
    });
    MatmulShapeResult sr{s, seconds, s.flops() / seconds / 1e12};
    r.step_flops += s.flops() * static_cast<double>(s.calls_per_step);
    r.step_seconds += seconds * static_cast<double>(s.calls_per_step);
    r.shapes.push_back(sr);
    if (progress) {
      progress(fmt::format("matmul {} {}: [{}x{}x{}]x{} {:.2f} ms, {:.1f} GFLOP/s", precision_name(precision), s.name,
                           s.m, s.k, s.n, s.batch, seconds * 1e3, sr.tflops * 1e3));
    }
  }
  r.tflops = r.step_seconds > 0 ? r.step_flops / r.step_seconds / 1e12 : 0;
  return r;
}

AdamwProbeResult probe_adamw(std::int64_t params, const ProbeBudget& budget) {
  if (params < 1) throw InputError(fmt::format("calibrate: AdamW probe needs >= 1 parameter (got {})", params));
  const auto n = static_cast<size_t>(params);
  std::vector<float> p(n, 0.5f), g(n, 0.01f), m(n, 0.0f), v(n, 0.0f);
  AdamWOptions o;
  o.weight_decay = 0.1;
  std::int64_t step = 0;
  AdamwProbeResult r;
  r.params = params;
  r.threads = at::get_num_threads();
  r.seconds = time_repetitions(budget, [&] {
    const AdamWStepScalars s = adamw_scalars(o, 1e-4, o.weight_decay, ++step, 1.0);
    adamw_update(p.data(), g.data(), m.data(), v.data(), params, s);
  });
  r.params_per_s = static_cast<double>(params) / r.seconds;
  return r;
}

MemoryProbeResult probe_host_memory(std::uint64_t bytes, const ProbeBudget& budget) {
  if (bytes < 1) throw InputError("calibrate: memory probe needs >= 1 byte");
  at::Tensor src = at::ones({static_cast<std::int64_t>(bytes)}, at::kByte);
  at::Tensor dst = at::empty_like(src);
  MemoryProbeResult r;
  r.bytes = bytes;
  r.seconds = time_repetitions(budget, [&] { dst.copy_(src); });
  r.copy_GBps = static_cast<double>(bytes) / r.seconds / 1e9;
  return r;
}

void check_collective_op(const std::string& op) {
  if (op != "all_reduce" && op != "reduce_scatter" && op != "all_gather" && op != "broadcast") {
    throw InputError(fmt::format("calibrate: unknown collective \"{}\"; expected all_reduce, reduce_scatter, "
                                 "all_gather or broadcast",
                                 op));
  }
}

std::vector<CollectivePoint> probe_collectives(dist::Communicator& comm, const std::vector<std::string>& ops,
                                               const std::vector<std::uint64_t>& sizes, const ProbeBudget& budget,
                                               const ProgressFn& progress) {
  const int w = comm.world_size();
  std::vector<CollectivePoint> out;
  struct Size {
    std::uint64_t requested = 0;
    std::int64_t elems = 0;
    at::Tensor full, part;
    int reps = 0;
    std::vector<float> times;
  };
  for (const std::string& op : ops) {
    check_collective_op(op);
    auto run_once = [&](Size& z) {
      if (op == "all_reduce") {
        comm.all_reduce(z.full);
      } else if (op == "reduce_scatter") {
        comm.reduce_scatter(z.part, z.full);
      } else if (op == "all_gather") {
        comm.all_gather(z.full, z.part);
      } else {
        comm.broadcast(z.full, 0);
      }
    };
    auto timed = [&](Size& z) {
      comm.barrier();
      const auto t0 = Clock::now();
      run_once(z);
      z.times.push_back(static_cast<float>(seconds_since(t0)));
    };
    auto prepare = [&](std::uint64_t requested) {
      Size z;
      z.requested = requested;
      // Whole fp32 elements, a multiple of the world size (each rank owns elems / w of them).
      z.elems = std::max<std::int64_t>(static_cast<std::int64_t>(requested / 4) / w * w, w);
      z.full = at::ones({z.elems}, at::kFloat);
      z.part = at::ones({z.elems / w}, at::kFloat);
      z.reps = std::max(1, budget.reps) * (requested < (1u << 20) ? 8 : 1);
      comm.barrier();
      run_once(z);  // warm-up (connections, allocations)
      return z;
    };
    auto finish = [&](Size& z) {
      at::Tensor times = at::from_blob(z.times.data(), {static_cast<std::int64_t>(z.times.size())}, at::kFloat).clone();
      comm.all_reduce(times, dist::ReduceOp::kMax);  // each repetition takes as long as its slowest rank
      CollectivePoint p;
      p.op = op;
      p.ranks = w;
      p.bytes = static_cast<std::uint64_t>(z.elems) * 4;
      for (std::int64_t r = 0; r < times.numel(); ++r) p.rep_times_s.push_back(times.data_ptr<float>()[r]);
      p.time_s = pick_repetition(p.rep_times_s, budget.statistic);
      if (progress) {
        progress(fmt::format("{} {} ranks {:>10}: {:.1f} us ({} of {} reps, algbw {:.2f} GB/s)", op, w,
                             format_bytes(p.bytes), p.time_s * 1e6, timing_statistic_name(budget.statistic),
                             p.rep_times_s.size(), static_cast<double>(p.bytes) / p.time_s / 1e9));
      }
      return p;
    };
    // Below 1 MiB the repetitions of all sizes are interleaved (round r times every small size once):
    // a slow spell of the shared host (seconds long) then costs every size the same repetition instead
    // of all the repetitions of one size, which bent the curve between neighbouring sizes by 30-50%.
    // Larger sizes run one after the other, their buffers allocated for that size only (interleaving them
    // too, all buffers live at once, was tried: held-out error 14.7% in one run against 6.5-16.2% without).
    // With budget.rounds > 1 the whole sweep is repeated (buffers of a large size re-made, with a fresh
    // warm-up, in each round) and the statistic is taken over every round's repetitions: a slow spell
    // longer than one size's repetitions then no longer decides that size.
    std::vector<Size> small;
    std::vector<Size> large;
    for (const std::uint64_t requested : sizes) {
      if (requested < (1u << 20)) {
        small.push_back(prepare(requested));
      } else {
        Size z;
        z.requested = requested;
        large.push_back(std::move(z));
      }
    }
    for (int round = 0; round < std::max(1, budget.rounds); ++round) {
      const int small_reps = small.empty() ? 0 : small.front().reps;
      for (int r = 0; r < small_reps; ++r) {
        for (Size& z : small) timed(z);
      }
      for (Size& slot : large) {
        Size z = prepare(slot.requested);
        z.times = std::move(slot.times);
        for (int r = 0; r < z.reps; ++r) timed(z);
        slot.elems = z.elems;
        slot.times = std::move(z.times);  // z's buffers are freed here: one large size is live at a time
      }
    }
    size_t next_small = 0, next_large = 0;
    for (const std::uint64_t requested : sizes) {
      out.push_back(finish(requested < (1u << 20) ? small[next_small++] : large[next_large++]));
    }
  }
  return out;
}

}  // namespace zeroplan::executor::calibrate
