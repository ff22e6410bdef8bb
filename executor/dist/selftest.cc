#include "executor/dist/selftest.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <signal.h>

#include <ostream>
#include <stdexcept>
#include <thread>

#include "executor/dist/rendezvous.h"

namespace zeroplan::executor::dist {

namespace {

// Rank q's gradient at step s: element i = i + 10 q + s (exact in fp32 for these sizes).
at::Tensor gradient(int q, int64_t numel, int step) {
  return at::arange(numel, at::kFloat) + static_cast<double>(10 * q + step);
}

void inject_fault(const SelftestOptions& o, int rank, int step) {
  if (step != o.fault_step) return;
  if (rank == o.kill_rank) raise(SIGKILL);
  if (rank == o.throw_rank) throw std::runtime_error("injected failure (selftest --throw-rank)");
  if (rank == o.hang_rank) {
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

int run_steps(DistContext& ctx, const SelftestOptions& o, std::ostream& log) {
  Communicator& comm = *ctx.comm;
  const int r = comm.rank();
  const int w = comm.world_size();
  const int64_t n = o.numel_per_rank;
  int failures = 0;
  auto check = [&](bool ok, const char* what, int step) {
    if (!ok) {
      ++failures;
      log << fmt::format("rank {}: step {}: wrong result of {}\n", r, step, what);
    }
  };
  for (int step = 0; step < o.steps; ++step) {
    ctx.status->set_phase("forward", step);
    at::Tensor params = at::full({8}, static_cast<float>(r == 0 ? step : -1));
    comm.broadcast(params, 0);
    check(at::equal(params, at::full({8}, static_cast<float>(step))), "broadcast", step);

    ctx.status->set_phase("backward", step);
    inject_fault(o, r, step);
    const at::Tensor grad = gradient(r, w * n, step);
    at::Tensor partition = at::empty({n});
    comm.reduce_scatter(partition, grad);
    // sum_q (i + 10 q + s) = w i + 10 w (w-1)/2 + w s, i in this rank's chunk
    const at::Tensor expected = at::arange(r * n, (r + 1) * n, at::kFloat) * w + (10.0 * w * (w - 1) / 2 + w * step);
    check(at::equal(partition, expected), "reduce_scatter", step);

    ctx.status->set_phase("optimizer step", step);
    at::Tensor full = at::empty({w * n});
    comm.all_gather(full, partition);
    const at::Tensor expected_full = at::arange(w * n, at::kFloat) * w + (10.0 * w * (w - 1) / 2 + w * step);
    check(at::equal(full, expected_full), "all_gather", step);
    at::Tensor overflow = at::full({1}, static_cast<float>(r == step % w ? 1 : 0));
    comm.all_reduce(overflow, ReduceOp::kMax);
    check(overflow.item<float>() == 1.0f, "all_reduce(max)", step);
  }
  ctx.status->set_phase("done", o.steps);
  comm.barrier();
  if (failures == 0 && r == 0) {
    log << fmt::format("dist selftest: {} ranks x {} steps ({} backend): all collectives correct\n", w, o.steps,
                       comm.backend_name());
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

int run_selftest_rank(const RankEnv& env, const SelftestOptions& options, std::ostream& log) {
  DistContext ctx = init_distributed(env, DistOptions{});
  try {
    return run_steps(ctx, options, log);
  } catch (const CommError& e) {
    ctx.status->report_error(RankErrorKind::kComm, e.what());
    throw;
  } catch (const std::exception& e) {
    ctx.status->report_error(RankErrorKind::kError, e.what());
    throw;
  }
}

}  // namespace zeroplan::executor::dist
