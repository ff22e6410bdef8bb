#pragma once
// `zeroplan calibrate`: measures this machine and returns a hardware profile
// (zeroplan.hardware_profile/v1, simulator/hardware_profile.h) that `plan` and `simulate` read.
//
//   local probes (this process, probes.h): matmul at the model's shapes per precision, AdamW, host copy;
//   train: one training micro-step of the executor's model per precision, in this process (1 rank) and,
//   for each N in `ranks`, in N local ranks at once (launched as the collectives are, below), so the
//   profile's "training_step" entries carry the contention of N ranks on this host as `zeroplan run
//   --nproc-per-node N` has it;
//   collectives: for each group size N in `ranks`, launches N local ranks of this binary through the
//   executor's launcher (as `zeroplan dist-selftest` does); they rendezvous over a TCPStore, build the
//   GlooCommunicator the ZeRO engines use (ring reduce-scatter / all-gather, c10d all-reduce) and time
//   every op x size; rank 0 writes the points to a file this process reads back and fits (gloo_cost.h).
// No LibTorch types in this header: the CLI file that includes it compiles without LibTorch's headers.
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "executor/calibrate/probes.h"
#include "executor/dist/rank_env.h"
#include "planner/model_spec.h"
#include "planner/training_spec.h"
#include "simulator/hardware_profile.h"

namespace zeroplan::executor::calibrate {

struct CalibrateOptions {
  std::set<std::string> probes = {"matmul", "adamw", "memory", "collectives", "train"};
  // matmul, train
  ModelSpec model;
  std::string model_arg;    // --model as given (the launched ranks load the spec from it)
  std::string configs_dir;  // the presets folder the ranks read (empty: their default)
  bool activation_checkpointing = false;  // train
  std::int64_t seq_len = 128;
  std::int64_t micro_batch = 1;
  std::vector<Precision> precisions = {Precision::kFp32, Precision::kBf16};
  int threads = 0;  // intra-op threads for the local probes and the launched ranks (0 = LibTorch's default)
  // adamw / memory
  std::int64_t adam_params = 4 << 20;
  std::uint64_t memory_bytes = 256ull << 20;
  // collectives
  std::vector<int> ranks = {2};
  std::vector<std::string> ops = {"all_reduce", "reduce_scatter", "all_gather"};
  // Powers of 4 from 4 KiB to 64 MiB: each pair of neighbours bounds one regime of the Gloo fit (gloo_cost.h).
  std::vector<std::uint64_t> sizes = {4096,      16384,     65536,       262144,
                                      1ull << 20, 4ull << 20, 16ull << 20, 64ull << 20};
  std::vector<std::uint64_t> fit_sizes;  // sizes the alpha-beta fit uses (empty = all measured)
  double collective_timeout_s = 120;
  int reps = 5;  // repetitions per measurement (x8 below 1 MiB for collectives); `statistic` picks one
  int rounds = 1;  // collectives: sweeps of every size, the statistic over all of them (probes.h)
  TimingStatistic statistic = TimingStatistic::kMedian;  // which repetition every timing is (probes.h)
  std::string program;  // the rank executable (empty = this binary)
};

using ProgressFn = std::function<void(const std::string& line)>;

// InputError (one line naming the flag) for unknown probes or ops, ranks < 2, no sizes, ...
void check_calibrate_options(const CalibrateOptions& options);

// Runs the probes; collectives launch ranks of `options.program` with collective_rank_arguments().
sim::HardwareProfile run_calibration(const CalibrateOptions& options, const ProgressFn& progress);

// The command line each launched rank runs (argv[1..]): `[--configs-dir D] calibrate --rank-output FILE ...`
// with the requested rank-side probes (collectives, train).
std::vector<std::string> collective_rank_arguments(const CalibrateOptions& options, int nproc, const std::string& output);

// Rank side of the collective and training-step probes (called when the launcher's variables are set):
// rendezvous, probe, rank 0 writes {"points": [...], "training_step": [...]} to `output`. Returns the exit code.
int run_collective_rank(const dist::RankEnv& env, const CalibrateOptions& options, const std::string& output);

// Adds measured points (as "collectives") and their fits (on options.fit_sizes) to `profile`.
struct MeasuredCollective {
  std::string op;
  int ranks = 0;
  std::uint64_t bytes = 0;
  double time_s = 0;
};
void add_collective_results(sim::HardwareProfile& profile, const std::vector<MeasuredCollective>& points,
                            const std::vector<std::uint64_t>& fit_sizes);

}  // namespace zeroplan::executor::calibrate
