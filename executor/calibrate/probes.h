#pragma once
// The measurements behind `zeroplan calibrate` (hardware profile, simulator/hardware_profile.h), each a
// small function returning plain numbers (no LibTorch types in this header):
//   - matmul:      achieved FLOP/s of the model's GEMMs (forward, input gradient and weight gradient of
//                  every projection, the attention score/value batched matmuls, lm_head), weighted by
//                  how often one training step runs each;
//   - adamw:       the executor's AdamW update (executor/train/adamw.h) in parameters per second;
//   - host memory: sustained copy rate of a buffer larger than the caches (bytes copied per second);
//   - collectives: time vs size of all_reduce / reduce_scatter / all_gather / broadcast through a
//                  dist::Communicator (the executor's GlooCommunicator when run by calibrate).
// Timings are the fastest of several repetitions after one warm-up run (other processes on a shared host
// only add time; see probes.cc).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "planner/model_spec.h"
#include "planner/training_spec.h"

namespace zeroplan::executor {
namespace dist {
class Communicator;
}

namespace calibrate {

using ProgressFn = std::function<void(const std::string& line)>;

struct ProbeBudget {
  int reps = 5;               // timed repetitions (the fastest counts) after one warm-up
  double max_seconds = 2.0;   // a measurement whose first run exceeds this is timed once, without warm-up
};

// One GEMM family: Y[batch, m, n] = X[batch, m, k] @ W[batch, n, k]^T, plus its two backward GEMMs
// (dX = dY @ W, dW = dY^T @ X): 3 x 2 x batch x m x k x n FLOPs per call.
struct MatmulShape {
  std::string name;
  std::int64_t batch = 1, m = 0, k = 0, n = 0;
  std::int64_t calls_per_step = 1;  // e.g. the number of layers
  double flops() const { return 6.0 * static_cast<double>(batch * m) * static_cast<double>(k * n); }
};

// The GEMMs of one forward + backward of `model` on micro_batch x seq_len tokens (one entry per distinct
// shape, calls_per_step = how many times a step runs it).
std::vector<MatmulShape> model_matmul_shapes(const ModelSpec& model, std::int64_t seq_len, std::int64_t micro_batch);

struct MatmulShapeResult {
  MatmulShape shape;
  double seconds = 0;  // one call (forward + both backward GEMMs)
  double tflops = 0;
};

struct MatmulProbeResult {
  Precision precision = Precision::kFp32;
  int threads = 0;
  double step_flops = 0;    // sum over shapes of calls x flops
  double step_seconds = 0;  // sum over shapes of calls x seconds
  double tflops = 0;        // step_flops / step_seconds / 1e12
  std::vector<MatmulShapeResult> shapes;
};

MatmulProbeResult probe_matmul(const std::vector<MatmulShape>& shapes, Precision precision, const ProbeBudget& budget,
                               const ProgressFn& progress = {});

struct AdamwProbeResult {
  std::int64_t params = 0;
  int threads = 0;
  double seconds = 0;  // one update of `params` parameters
  double params_per_s = 0;
};
AdamwProbeResult probe_adamw(std::int64_t params, const ProbeBudget& budget);

struct MemoryProbeResult {
  std::uint64_t bytes = 0;
  double seconds = 0;  // one copy of `bytes`
  double copy_GBps = 0;  // bytes copied per second / 1e9 (each byte is read once and written once)
};
MemoryProbeResult probe_host_memory(std::uint64_t bytes, const ProbeBudget& budget);

// Collectives, run by every rank of `comm` with the same arguments. `bytes` is nccl-tests' S (for
// all_gather / reduce_scatter the whole gathered buffer), rounded down to whole fp32 elements divisible
// by the world size. Each repetition starts after a barrier; its time is the slowest rank's.
struct CollectivePoint {
  std::string op;  // "all_reduce", "reduce_scatter", "all_gather", "broadcast"
  int ranks = 0;
  std::uint64_t bytes = 0;
  double time_s = 0;  // fastest repetition (each repetition: its slowest rank)
  std::vector<double> rep_times_s;
};
// Repetitions: budget.reps, times 4 below 1 MiB (small collectives are noisy and cheap).
std::vector<CollectivePoint> probe_collectives(dist::Communicator& comm, const std::vector<std::string>& ops,
                                               const std::vector<std::uint64_t>& sizes, const ProbeBudget& budget,
                                               const ProgressFn& progress = {});

// Throws InputError naming the op for anything but the four above.
void check_collective_op(const std::string& op);

}  // namespace calibrate
}  // namespace zeroplan::executor
