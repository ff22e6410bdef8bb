#pragma once
// The measurements behind `zeroplan calibrate` (hardware profile, simulator/hardware_profile.h), each a
// small function returning plain numbers (no LibTorch types in this header):
//   - matmul:      achieved FLOP/s of the model's GEMMs (forward, input gradient and weight gradient of
//                  every projection, the attention score/value batched matmuls, lm_head), weighted by
//                  how often one training step runs each;
//   - adamw:       the executor's AdamW update (executor/train/adamw.h) in parameters per second;
//   - host memory: sustained copy rate of a buffer larger than the caches (bytes copied per second);
//   - training step: one micro-step of the executor's own model (forward, fused lm_head loss, backward),
//                  the whole non-GEMM work included, optionally on every rank of a group at once;
//   - collectives: time vs size of all_reduce / reduce_scatter / all_gather / broadcast through a
//                  dist::Communicator (the executor's GlooCommunicator when run by calibrate).
// Timings are the median (or, with TimingStatistic::kFastest, the fastest) of several repetitions after one
// warm-up run; see probes.cc.
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

// Which repetition a timing is. kMedian (the default): the typical one, what a run's steps take on the
// whole -- a step is a sum of pieces, and medians add up where minima do not (the fastest step of a run
// is slower than the sum of its pieces' fastest), and on a shared host the median moves far less between
// sweeps than the minimum (tools/validate_machine.sh). kFastest: the least disturbed, what the code costs
// on a quiet machine (other processes only ever add time).
enum class TimingStatistic { kFastest, kMedian };
const char* timing_statistic_name(TimingStatistic s);  // "fastest", "median"
TimingStatistic parse_timing_statistic(const std::string& text);  // InputError naming --statistic
// The statistic of `reps` (not empty); the median of an even count is the mean of the middle two.
double pick_repetition(std::vector<double> reps, TimingStatistic s);

struct ProbeBudget {
  int reps = 5;               // timed repetitions after one warm-up (`statistic` picks one)
  double max_seconds = 2.0;   // a measurement whose first run exceeds this is timed once, without warm-up
  int rounds = 1;             // collectives: sweeps of every size (the statistic is over all rounds)
  TimingStatistic statistic = TimingStatistic::kMedian;
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
  double time_s = 0;  // the budget's statistic of the repetitions (each repetition: its slowest rank)
  std::vector<double> rep_times_s;
};
// Below 1 MiB the repetitions of all sizes are interleaved (a slow spell of the host hits every size alike).
// Repetitions: budget.reps, times 8 below 1 MiB (small collectives are noisy and cheap).
std::vector<CollectivePoint> probe_collectives(dist::Communicator& comm, const std::vector<std::string>& ops,
                                               const std::vector<std::uint64_t>& sizes, const ProbeBudget& budget,
                                               const ProgressFn& progress = {});

// One training micro-step as `zeroplan run` computes it (executor/train/trainer.cc): the executor's
// LlamaForCausalLM at `model` in the precision's dtype (bf16: the model cast as run_rank.cc builds it),
// random init (init_random, seed 0), micro_batch x seq_len random tokens with a label on every position,
// forward to the final hidden states, fused_causal_lm_loss_sum (fused_lm_loss.h), backward of the
// normalised loss into gradients that are views of one flat buffer (as the engines keep them; bf16/fp16
// add the 16-bit gradients into an fp32 buffer after each micro-step, grad_accumulation.h).
// With `comm`, every rank of it runs this at the same time: a barrier before each repetition and each
// repetition's time is its slowest rank's (ranks contend for the host's cores as in a multi-rank run).
// The time is the budget's statistic of max(1, budget.reps) repetitions after one warm-up, which is never the
// measurement (budget.max_seconds does not apply: the first micro-step allocates everything).
struct TrainingStepProbeResult {
  Precision precision = Precision::kFp32;
  int ranks = 1;
  int threads = 0;  // LibTorch intra-op threads of each rank
  bool activation_checkpointing = false;
  std::int64_t tokens = 0;        // micro_batch x seq_len
  double forward_backward_s = 0;  // one micro-step
  std::vector<double> rep_times_s;
  // The optimizer step of a one-rank engine over all `optimizer_params` parameters, timed the same way
  // after the micro-steps: the fp32 gradient norm (linalg_vector_norm) + AdamW (adamw.h) + for 16-bit
  // precisions the copy of the fp32 masters into the 16-bit parameters (sharded_engine.cc's step()) + the
  // zeroing of the gradients for the next step (grad_accumulation.h's begin_grad_accumulation).
  std::int64_t optimizer_params = 0;
  double optimizer_step_s = 0;
  // The gradient passes of the bucketed reduction (executor/zero/grad_reducer.h), over the same
  // optimizer_params elements, timed the same way (the simulator charges them per bucket, step_simulator.cc):
  //  - grad_copy_s: every parameter's gradient copied into a flat bucket buffer, one copy per parameter
  //    (GradReducer::on_grad), compute dtype;
  //  - grad_accumulate_s: a reduced bucket added into the fp32 accumulator (accumulate_into);
  //  - grad_in_step_s: the accumulation forward_backward_s already contains and the reducer does not do:
  //    autograd's in-place .grad += per parameter and, for 16-bit precisions, the fp32 add after the
  //    micro-step (accumulate_micro_step_grad).
  double grad_copy_s = 0;
  double grad_accumulate_s = 0;
  double grad_in_step_s = 0;
};
TrainingStepProbeResult probe_training_step(const ModelSpec& model, std::int64_t seq_len, std::int64_t micro_batch,
                                            Precision precision, bool activation_checkpointing,
                                            const ProbeBudget& budget, dist::Communicator* comm = nullptr);

// Throws InputError naming the op for anything but the four above.
void check_collective_op(const std::string& op);

}  // namespace calibrate
}  // namespace zeroplan::executor
