// `zeroplan calibrate`'s probes (executor/calibrate/): the matmul shapes against the simulator's FLOP
// count, each probe's result structure at tiny sizes, collectives on fake ranks, the fit of the measured
// points, option checks, and the CLI end to end (a 2-rank Gloo probe at tiny sizes; bad input exits 2
// with one line).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "executor/calibrate/calibrate.h"
#include "executor/calibrate/probes.h"
#include "executor/train/host_allocator.h"
#include "executor/dist/fake_communicator.h"
#include "planner/error.h"
#include "simulator/hardware_profile.h"
#include "simulator/step_simulator.h"

namespace zeroplan::executor::calibrate {
namespace {

namespace fs = std::filesystem;

ModelSpec tiny() {
  ModelSpec m;
  m.name = "tiny";
  m.hidden_size = 32;
  m.intermediate_size = 64;
  m.num_hidden_layers = 2;
  m.num_attention_heads = 4;
  m.num_key_value_heads = 2;
  m.head_dim = 8;
  m.vocab_size = 100;
  m.max_position_embeddings = 64;
  return m;
}

TEST(CalibrateShapes, MatchTheSimulatorsFlopCount) {
  const ModelSpec m = tiny();
  const std::int64_t seq = 16, mb = 3;
  const auto shapes = model_matmul_shapes(m, seq, mb);
  ASSERT_EQ(shapes.size(), 8u);
  double flops = 0;
  for (const MatmulShape& s : shapes) flops += s.flops() * static_cast<double>(s.calls_per_step);
  // The simulator's model FLOPs per token (forward + backward = 3 x forward) x tokens; it charges every
  // layer parameter 2 FLOPs per token, the two RMSNorm weights (2h per layer) included, which are no GEMM.
  const sim::ModuleCosts costs = sim::module_costs(m, seq, 0);
  const double norm_flops_per_token = 3.0 * 2.0 * (2.0 * 32) * 2;  // 3 x 2 FLOPs x 2h x 2 layers
  EXPECT_NEAR(flops / ((costs.model_flops_per_token - norm_flops_per_token) * seq * mb), 1.0, 1e-12);
  // Hand-computed q_proj: 6 x 48 tokens x 32 x 32, once per layer.
  EXPECT_EQ(shapes[0].name, "q_proj");
  EXPECT_DOUBLE_EQ(shapes[0].flops(), 6.0 * 48 * 32 * 32);
  EXPECT_EQ(shapes[0].calls_per_step, 2);
  EXPECT_THROW(model_matmul_shapes(m, 0, 1), InputError);
}

TEST(CalibrateProbes, ReturnPositiveRatesAtTinySizes) {
  ProbeBudget budget;
  budget.reps = 1;
  std::vector<std::string> lines;
  const MatmulProbeResult mm =
      probe_matmul(model_matmul_shapes(tiny(), 8, 1), Precision::kFp32, budget, [&](const std::string& l) { lines.push_back(l); });
  ASSERT_EQ(mm.shapes.size(), 8u);
  EXPECT_EQ(lines.size(), 8u);  // one progress line per shape
  double seconds = 0;
  for (const auto& s : mm.shapes) {
    EXPECT_GT(s.seconds, 0);
    EXPECT_GT(s.tflops, 0);
    seconds += s.seconds * static_cast<double>(s.shape.calls_per_step);
  }
  EXPECT_NEAR(mm.step_seconds, seconds, 1e-12);
  EXPECT_NEAR(mm.tflops, mm.step_flops / mm.step_seconds / 1e12, 1e-12);
  EXPECT_GT(probe_matmul(model_matmul_shapes(tiny(), 8, 1), Precision::kBf16, budget).tflops, 0);

  const AdamwProbeResult adam = probe_adamw(1000, budget);
  EXPECT_EQ(adam.params, 1000);
  EXPECT_GT(adam.params_per_s, 0);
  EXPECT_THROW(probe_adamw(0, budget), InputError);

  const MemoryProbeResult mem = probe_host_memory(1 << 20, budget);
  EXPECT_EQ(mem.bytes, 1u << 20);
  EXPECT_NEAR(mem.copy_GBps, (1 << 20) / mem.seconds / 1e9, 1e-9);
}

// probe_collectives on 2 fake ranks at once; rank 0's points.
std::vector<CollectivePoint> rank0_collectives(const std::vector<std::string>& ops,
                                               const std::vector<std::uint64_t>& sizes, const ProbeBudget& budget) {
  std::mutex mu;
  std::vector<CollectivePoint> rank0;
  dist::run_fake_ranks(2, std::chrono::seconds(20), [&](dist::Communicator& comm) {
    auto points = probe_collectives(comm, ops, sizes, budget);
    if (comm.rank() == 0) {
      std::lock_guard<std::mutex> lock(mu);
      rank0 = points;
    }
  });
  return rank0;
}

TEST(CalibrateProbes, CollectivesOnFakeRanks) {
  ProbeBudget budget;
  budget.reps = 1;
  const std::vector<CollectivePoint> rank0 =
      rank0_collectives({"all_reduce", "reduce_scatter", "all_gather", "broadcast"}, {4096, 10}, budget);
  ASSERT_EQ(rank0.size(), 8u);
  EXPECT_EQ(rank0[0].op, "all_reduce");
  EXPECT_EQ(rank0[0].bytes, 4096u);
  EXPECT_EQ(rank0[1].bytes, 8u);  // 10 bytes: 2 whole fp32 elements, one per rank
  EXPECT_EQ(rank0[0].ranks, 2);
  EXPECT_EQ(rank0[0].rep_times_s.size(), 8u);  // below 1 MiB: 8 x reps
  for (const auto& p : rank0) EXPECT_GT(p.time_s, 0);
  EXPECT_THROW(check_collective_op("all_to_all"), InputError);
}

TEST(CalibrateProbes, TimingStatisticPicksTheRepetition) {
  EXPECT_EQ(pick_repetition({3, 1, 2}, TimingStatistic::kFastest), 1);
  EXPECT_EQ(pick_repetition({3, 1, 2}, TimingStatistic::kMedian), 2);
  EXPECT_EQ(pick_repetition({4, 1, 2, 9}, TimingStatistic::kMedian), 3);  // even count: mean of the middle two
  EXPECT_EQ(pick_repetition({5}, TimingStatistic::kMedian), 5);
  EXPECT_EQ(parse_timing_statistic("median"), TimingStatistic::kMedian);
  EXPECT_EQ(parse_timing_statistic("fastest"), TimingStatistic::kFastest);
  try {
    parse_timing_statistic("mean");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--statistic"), std::string::npos);
  }
}

TEST(HostAllocator, UsersTunablesWin) {
  EXPECT_TRUE(should_configure_host_allocator(nullptr));
  EXPECT_TRUE(should_configure_host_allocator("glibc.pthread.rseq=0"));
  EXPECT_FALSE(should_configure_host_allocator("glibc.malloc.mmap_threshold=65536"));
  EXPECT_FALSE(should_configure_host_allocator("glibc.pthread.rseq=0:glibc.malloc.trim_threshold=0"));
}

// The property the probes and the runs rely on: a freed block below 32 MiB is reused from the heap, not
// mapped or grown afresh (which page-faults on every 4 KiB page). With glibc's defaults the first 24 MiB
// block is mapped, its free moves the threshold above it, and the second one grows the heap: both fault
// on all 6144 pages (measured); only the third is reused. Configured, the second is already reused.
TEST(HostAllocator, FreedBlocksAreReusedWithoutPageFaults) {
  if (!should_configure_host_allocator(std::getenv("GLIBC_TUNABLES"))) {
    GTEST_SKIP() << "GLIBC_TUNABLES sets malloc";
  }
  if (!configure_host_allocator()) GTEST_SKIP() << "not glibc";
  constexpr std::size_t kBytes = 24u << 20;  // 6144 pages
  long faults = 0;
  for (int round = 0; round < 2; ++round) {
    rusage before{}, after{};
    getrusage(RUSAGE_SELF, &before);
    auto* p = static_cast<char*>(std::malloc(kBytes));
    ASSERT_NE(p, nullptr);
    std::memset(p, round + 1, kBytes);
    volatile char sink = p[kBytes - 1];
    (void)sink;
    std::free(p);
    getrusage(RUSAGE_SELF, &after);
    faults = after.ru_minflt - before.ru_minflt;
  }
  EXPECT_LT(faults, 600) << "the second 24 MiB block page-faulted: it was not reused";
}

TEST(CalibrateProbes, RoundsPoolEveryRepetitionOfEverySize) {
  ProbeBudget budget;
  budget.reps = 2;
  budget.rounds = 3;
  const std::vector<CollectivePoint> rank0 = rank0_collectives({"all_gather"}, {4096, 1u << 20, 2u << 20}, budget);
  ASSERT_EQ(rank0.size(), 3u);
  EXPECT_EQ(rank0[0].rep_times_s.size(), 48u);  // small: 3 rounds x 8 x 2 reps
  EXPECT_EQ(rank0[1].bytes, 1u << 20);          // large sizes keep their order and size
  EXPECT_EQ(rank0[1].rep_times_s.size(), 6u);   // large: 3 rounds x 2 reps
  EXPECT_EQ(rank0[2].bytes, 2u << 20);
  EXPECT_EQ(rank0[2].rep_times_s.size(), 6u);
  for (const auto& p : rank0) {  // the default statistic over every repetition of every round
    EXPECT_EQ(p.time_s, pick_repetition(p.rep_times_s, TimingStatistic::kMedian));
    EXPECT_GE(p.time_s, *std::min_element(p.rep_times_s.begin(), p.rep_times_s.end()));
  }
}

TEST(CalibrateFit, UsesOnlyTheFitSizes) {
  std::vector<MeasuredCollective> pts;
  for (std::uint64_t b : {4096ull, 65536ull, 1048576ull, 16777216ull}) {
    pts.push_back({"all_gather", 2, b, 1e-4 + 1e-9 * static_cast<double>(b)});
    pts.push_back({"all_gather", 4, b, 3e-4 + 2e-9 * static_cast<double>(b)});
  }
  pts.push_back({"all_gather", 2, 65536, 5.0});  // duplicate size: the first is kept
  sim::HardwareProfile p;
  add_collective_results(p, pts, {4096, 16777216});
  ASSERT_EQ(p.collectives.size(), 2u);
  ASSERT_EQ(p.collective_fits.size(), 2u);
  EXPECT_EQ(p.collectives[0].bytes.size(), 4u);
  EXPECT_EQ(p.collective_fits[0].fitted_bytes, (std::vector<double>{4096, 16777216}));
  // Points on a line: the fit reproduces the held-out ones.
  const auto& f2 = *sim::find_gloo_fit(p.collective_fits, sim::CollectiveOp::kAllGather, 2);
  EXPECT_NEAR(sim::gloo_time_s(f2, 65536, 2, 0) / (1e-4 + 1e-9 * 65536), 1.0, 1e-9);
}

TEST(CalibrateOptions, BadValuesNameTheFlag) {
  auto msg = [](auto mutate) -> std::string {
    CalibrateOptions o;
    mutate(o);
    try {
      check_calibrate_options(o);
    } catch (const InputError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(msg([](CalibrateOptions&) {}), "no error");
  EXPECT_NE(msg([](auto& o) { o.probes = {"gpu"}; }).find("--probes"), std::string::npos);
  EXPECT_NE(msg([](auto& o) { o.ranks = {1}; }).find("--nproc"), std::string::npos);
  EXPECT_NE(msg([](auto& o) { o.ops = {"scan"}; }).find("--ops"), std::string::npos);
  EXPECT_NE(msg([](auto& o) { o.fit_sizes = {123}; }).find("--fit-sizes"), std::string::npos);
  EXPECT_NE(msg([](auto& o) { o.sizes = {4096}; }).find("--sizes"), std::string::npos);
  EXPECT_NE(msg([](auto& o) { o.reps = 0; }).find("--reps"), std::string::npos);
  EXPECT_NE(msg([](auto& o) { o.rounds = 0; }).find("--rounds"), std::string::npos);
}

TEST(CalibrateProbes, TrainingStepOnOneAndTwoRanks) {
  ProbeBudget budget;
  budget.reps = 2;
  for (Precision p : {Precision::kFp32, Precision::kBf16}) {
    const TrainingStepProbeResult r = probe_training_step(tiny(), 8, 2, p, false, budget);
    EXPECT_EQ(r.precision, p);
    EXPECT_EQ(r.ranks, 1);
    EXPECT_EQ(r.tokens, 16);
    EXPECT_GT(r.threads, 0);
    ASSERT_EQ(r.rep_times_s.size(), 2u);
    EXPECT_DOUBLE_EQ(r.forward_backward_s, 0.5 * (r.rep_times_s[0] + r.rep_times_s[1]));  // the median of 2
    EXPECT_GT(r.forward_backward_s, 0);
    // The reducer's gradient passes over every parameter (probes.h).
    EXPECT_EQ(r.optimizer_params, count_params(tiny()).total);
    EXPECT_GT(r.grad_copy_s, 0);
    EXPECT_GT(r.grad_accumulate_s, 0);
    EXPECT_GT(r.grad_in_step_s, 0);
  }
  budget.statistic = TimingStatistic::kFastest;
  const TrainingStepProbeResult fastest = probe_training_step(tiny(), 8, 2, Precision::kFp32, false, budget);
  EXPECT_DOUBLE_EQ(fastest.forward_backward_s, std::min(fastest.rep_times_s[0], fastest.rep_times_s[1]));
  EXPECT_TRUE(probe_training_step(tiny(), 8, 1, Precision::kFp32, true, budget).activation_checkpointing);
  EXPECT_THROW(probe_training_step(tiny(), 1, 1, Precision::kFp32, false, budget), InputError);
  // Two ranks at once: every rank reports the same repetitions (each the slowest rank's).
  std::mutex mu;
  std::vector<TrainingStepProbeResult> results;
  dist::run_fake_ranks(2, std::chrono::seconds(60), [&](dist::Communicator& comm) {
    const TrainingStepProbeResult r = probe_training_step(tiny(), 8, 1, Precision::kFp32, false, budget, &comm);
    std::lock_guard<std::mutex> lock(mu);
    results.push_back(r);
  });
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].ranks, 2);
  EXPECT_EQ(results[0].rep_times_s, results[1].rep_times_s);
  EXPECT_GT(results[0].forward_backward_s, 0);
}

TEST(CalibrateOptions, TrainProbeFlagsAndRankArguments) {
  CalibrateOptions o;
  o.probes = {"train"};
  o.model = tiny();
  o.model_arg = "tiny-test";
  o.configs_dir = "/cfg";
  o.seq_len = 8;
  o.threads = 3;
  o.ranks = {1};
  try {
    check_calibrate_options(o);
    ADD_FAILURE() << "1 rank for train accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--nproc"), std::string::npos) << e.what();
  }
  o.ranks = {2};
  o.seq_len = 1;
  EXPECT_THROW(check_calibrate_options(o), InputError);
  o.seq_len = 8;
  EXPECT_NO_THROW(check_calibrate_options(o));
  const auto args = collective_rank_arguments(o, 2, "/tmp/x.json");
  auto after = [&](const std::string& flag) -> std::string {
    auto it = std::find(args.begin(), args.end(), flag);
    return it == args.end() || it + 1 == args.end() ? "(missing)" : *(it + 1);
  };
  EXPECT_EQ(args[0], "--configs-dir");
  EXPECT_EQ(args[2], "calibrate");
  EXPECT_EQ(after("--probes"), "train");
  EXPECT_EQ(after("--model"), "tiny-test");
  EXPECT_EQ(after("--seq-len"), "8");
  EXPECT_EQ(after("--precision"), "fp32,bf16");
  EXPECT_EQ(after("--threads"), "3");  // the ranks run with calibrate's --threads, as `run --threads` ranks
  EXPECT_EQ(std::find(args.begin(), args.end(), "--sizes"), args.end());  // no collectives asked for
}

struct Result {
  int exit_code = -1;
  std::string err;
};

Result run_zeroplan(const std::string& args, const fs::path& dir) {
  const fs::path err = dir / "stderr.txt";
  const std::string cmd = std::string(ZEROPLAN_BINARY) + " " + args + " >/dev/null 2>" + err.string();
  const int status = std::system(cmd.c_str());
  Result r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err);
  std::stringstream ss;
  ss << in.rdbuf();
  r.err = ss.str();
  return r;
}

TEST(CalibrateCli, WritesAProfileThatReadsBack) {
  const fs::path dir = fs::temp_directory_path() / ("zp_calibrate_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path out = dir / "p.json";
  const Result r = run_zeroplan("calibrate --probes adamw,memory,collectives --nproc 2 --sizes 4KiB,64KiB --reps 1 "
                                "--adam-params 10K --memory-bytes 1MiB --out " + out.string(), dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("calibrate: all_gather 2 ranks"), std::string::npos) << r.err;  // progress per probe
  const sim::HardwareProfile p = sim::load_hardware_profile(out.string());
  EXPECT_EQ(p.backend, "gloo");
  EXPECT_GT(*p.cpu_adam_params_per_s, 0);
  EXPECT_GT(*p.host_memory_GBps, 0);
  EXPECT_EQ(p.collectives.size(), 3u);
  EXPECT_EQ(p.collective_fits.size(), 3u);
  fs::remove_all(dir);
}

TEST(CalibrateCli, TrainProbeOnOneAndTwoRanks) {
  const fs::path dir = fs::temp_directory_path() / ("zp_calibrate_train_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path out = dir / "p.json";
  const Result r = run_zeroplan("calibrate --probes train --nproc 2 --model tiny-test --seq-len 8 --precision fp32 "
                                "--reps 1 --out " + out.string(), dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("calibrate: train fp32 1 ranks"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("calibrate: train fp32 2 ranks"), std::string::npos) << r.err;
  const sim::HardwareProfile p = sim::load_hardware_profile(out.string());
  ASSERT_EQ(p.training_steps.size(), 2u);
  EXPECT_EQ(p.training_steps[0].ranks, 1);
  EXPECT_EQ(p.training_steps[1].ranks, 2);
  for (const auto& e : p.training_steps) {
    EXPECT_EQ(e.model, "tiny-test");
    EXPECT_EQ(e.tokens, 8);
    EXPECT_EQ(e.threads, 0);
    EXPECT_GT(e.forward_backward_s, 0);
    EXPECT_TRUE(e.has_grad_passes());  // the rank processes' passes reach the profile
    EXPECT_GT(e.grad_accumulate_s, 0);
    EXPECT_GT(e.grad_in_step_s, 0);
  }
  EXPECT_TRUE(p.collective_fits.empty());
  fs::remove_all(dir);
}

TEST(CalibrateCli, BadInputIsOneLineAndExitTwo) {
  const fs::path dir = fs::temp_directory_path() / ("zp_calibrate_bad_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (const char* args : {"calibrate --nproc 1 --probes collectives", "calibrate --probes gpu",
                           "calibrate --sizes 4096 --probes collectives", "calibrate --ops scan --probes collectives",
                           "calibrate --model no-such-model --probes matmul", "calibrate --precision fp8 --probes matmul",
                           "calibrate --probes train --nproc 1", "calibrate --probes train --seq-len 1"}) {
    const Result r = run_zeroplan(args, dir);
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace zeroplan::executor::calibrate
