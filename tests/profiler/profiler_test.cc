// The Profiler's timing, phases, collectives and trace with a manual clock, a private ledger and
// the fake CUPTI source (no LibTorch tensors needed).
#include "profiler/profiler.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "planner/error.h"
#include "planner/json_fields.h"
#include "profiler/fake_cupti_record_source.h"

namespace zeroplan::profiler {
namespace {

const void* ptr(std::uintptr_t v) { return reinterpret_cast<const void*>(v); }

struct ProfilerFixture : ::testing::Test {
  ManualClock clock;
  MemoryLedger ledger;
  FakeCuptiRecordSource* fake = nullptr;

  std::unique_ptr<Profiler> make(int rank, bool with_cupti, std::string cupti_error = "") {
    ProfilerOptions o;
    o.rank = rank;
    o.track_cpu_memory = false;
    o.ledger = &ledger;
    o.clock = &clock;
    if (with_cupti) {
      auto source = std::make_unique<FakeCuptiRecordSource>(cupti_error);
      fake = source.get();
      o.cupti = std::move(source);
    }
    return std::make_unique<Profiler>(std::move(o));
  }

  // One step: forward 0.3 s (+80 B activations), backward 0.5 s with a nested 0.1 s reduce,
  // optimizer 0.2 s.
  void step(Profiler& p, std::uintptr_t base) {
    StepScope s(p);
    {
      PhaseScope f(p, Phase::kForward);
      ledger.on_alloc(ptr(base + 1), 80, Category::kActivations);
      clock.advance_s(0.3);
    }
    {
      PhaseScope b(p, Phase::kBackward);
      ledger.on_alloc(ptr(base + 2), 20, Category::kGradients);
      clock.advance_s(0.2);
      {
        PhaseScope r(p, Phase::kReduce);
        ledger.on_alloc(ptr(base + 3), 200, Category::kComm);
        CollectiveScope c(p, "reduce_scatter", 4096);
        if (fake) fake->launch_kernel("ncclDevKernel_ReduceScatter_Sum_f32_RING_LL", 1000, 51000, 20);
        clock.advance_s(0.1);
        ledger.on_free(ptr(base + 3));
      }
      ledger.on_free(ptr(base + 1));
      clock.advance_s(0.2);
    }
    {
      PhaseScope o(p, Phase::kOptimizerStep);
      clock.advance_s(0.2);
      ledger.on_free(ptr(base + 2));
    }
  }
};

TEST_F(ProfilerFixture, TimesPhasesStepsAndCollectives) {
  auto p = make(1, false);
  ledger.on_alloc(ptr(0x1), 1000, Category::kParams);  // setup
  p->reset_peaks();
  step(*p, 0x100);
  step(*p, 0x200);
  p->record_collective("all_gather", 512, 0.25);
  reports::MeasuredRank r = p->measured_rank();
  EXPECT_EQ(r.rank, 1);
  ASSERT_EQ(r.step_times_s.size(), 2u);
  EXPECT_NEAR(r.step_times_s[0], 1.0, 1e-9);
  EXPECT_NEAR(r.step_time_s, 1.0, 1e-9);
  EXPECT_EQ(r.by_phase.at("forward").count, 2);
  EXPECT_NEAR(r.by_phase.at("forward").wall_s, 0.6, 1e-9);
  EXPECT_NEAR(r.by_phase.at("backward").wall_s, 1.0, 1e-9);  // inclusive of the nested reduce
  EXPECT_NEAR(r.by_phase.at("reduce").wall_s, 0.2, 1e-9);
  EXPECT_NEAR(r.by_phase.at("optimizer_step").wall_s, 0.4, 1e-9);
  // Memory: params 1000 live throughout; the peak is inside reduce: 1000 + 80 + 20 + 200.
  EXPECT_EQ(r.peak.total, 1300u);
  EXPECT_EQ(r.peak.comm, 200u);
  EXPECT_EQ(r.peak.activations, 80u);
  EXPECT_EQ(r.by_phase.at("reduce").peak.total, 1300u);
  EXPECT_EQ(r.by_phase.at("backward").peak.total, 1100u);  // the comm block lives in the nested reduce
  EXPECT_EQ(r.by_phase.at("forward").peak.total, 1080u);
  EXPECT_EQ(r.by_phase.at("optimizer_step").peak.total, 1020u);
  // Collectives aggregated by (op, bytes).
  ASSERT_EQ(r.collectives.size(), 2u);
  const auto& rs = r.collectives[1].op == "reduce_scatter" ? r.collectives[1] : r.collectives[0];
  EXPECT_EQ(rs.count, 2);
  EXPECT_EQ(rs.bytes, 4096u);
  EXPECT_NEAR(rs.total_s, 0.2, 1e-9);
  // Timeline: one sample per phase transition, each labelled with the phase it closes.
  ASSERT_FALSE(r.timeline.empty());
  bool saw_reduce_peak = false;
  for (const auto& s : r.timeline) saw_reduce_peak |= (s.phase == "reduce" && s.peak_bytes == 1300u);
  EXPECT_TRUE(saw_reduce_peak);
  EXPECT_GT(r.process_peak_rss_bytes, 0u);
  EXPECT_FALSE(r.device_peak.has_value());  // no GPU asked for
}

TEST_F(ProfilerFixture, TraceIsValidChromeTraceJsonWithCuptiKernels) {
  auto p = make(3, true);
  EXPECT_TRUE(p->cupti_active());
  fake->set_now_ns(0);
  step(*p, 0x100);
  auto path = std::filesystem::temp_directory_path() / "zeroplan_profiler_trace.json";
  p->write_trace(path.string());
  nlohmann::json trace = read_json_file(path.string());
  ASSERT_TRUE(trace["traceEvents"].is_array());
  int phases = 0, kernels = 0, collectives = 0, steps = 0, metadata = 0;
  for (const auto& e : trace["traceEvents"]) {
    ASSERT_TRUE(e.contains("ph") && e.contains("pid") && e.contains("tid") && e.contains("name")) << e.dump();
    EXPECT_EQ(e["pid"], 3);
    if (e["ph"] == "M") {
      ++metadata;
      continue;
    }
    ASSERT_EQ(e["ph"], "X");
    ASSERT_TRUE(e["ts"].is_number() && e["dur"].is_number()) << e.dump();
    EXPECT_GE(e["dur"].get<double>(), 0);
    if (e["cat"] == "phase") ++phases;
    if (e["cat"] == "step") ++steps;
    if (e["cat"] == "collective") {
      ++collectives;
      EXPECT_EQ(e["args"]["bytes"], 4096);
    }
    if (e["cat"] == "kernel") {
      ++kernels;
      EXPECT_EQ(e["tid"], kCudaStreamLaneBase + 20);
      EXPECT_EQ(e["args"]["collective"], "reduce_scatter");  // attributed via the external id
      EXPECT_DOUBLE_EQ(e["dur"].get<double>(), 50.0);        // 50,000 ns
    }
  }
  EXPECT_EQ(phases, 4);
  EXPECT_EQ(steps, 1);
  EXPECT_EQ(collectives, 1);
  EXPECT_EQ(kernels, 1);
  EXPECT_GE(metadata, 5);  // process name + sort index + steps/phases/collectives + the stream
  const auto& summary = p->cupti_summary();
  ASSERT_EQ(summary.collectives.size(), 1u);
  EXPECT_EQ(summary.collectives[0].kernels, 1);
  std::filesystem::remove(path);
}

TEST_F(ProfilerFixture, BusyCuptiIsAWarningNotAnError) {
  auto p = make(0, true, "CUPTI is already in use (another profiler is attached)");
  EXPECT_FALSE(p->cupti_active());
  auto warnings = p->warnings();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("continuing without CUPTI"), std::string::npos);
  step(*p, 0x100);  // still works
  EXPECT_EQ(p->measured_rank().step_times_s.size(), 1u);
}

TEST_F(ProfilerFixture, CudaStatsAreSkippedWithoutAGpu) {
  if (cuda_memory_stats_available()) GTEST_SKIP() << "a GPU is visible";
  ProfilerOptions o;
  o.track_cpu_memory = false;
  o.ledger = &ledger;
  o.clock = &clock;
  o.cuda_device = 0;
  Profiler p(std::move(o));
  EXPECT_EQ(p.warnings().size(), 1u);
  step(p, 0x100);
  EXPECT_FALSE(p.measured_rank().device_peak.has_value());
}

TEST(ChromeTrace, MergesRanks) {
  auto dir = std::filesystem::temp_directory_path();
  auto a = (dir / "zeroplan_trace_a.json").string(), b = (dir / "zeroplan_trace_b.json").string(),
       out = (dir / "zeroplan_trace_merged.json").string();
  write_chrome_trace(a, {{"forward", "phase", 0, 10, 0, kPhaseLane}}, {{0, kPhaseLane, "phases"}});
  write_chrome_trace(b, {{"forward", "phase", 0, 12, 1, kPhaseLane}}, {{1, kPhaseLane, "phases"}});
  merge_chrome_traces({a, b}, out);
  nlohmann::json merged = read_json_file(out);
  int x = 0;
  std::set<int> pids;
  for (const auto& e : merged["traceEvents"]) {
    if (e["ph"] == "X") {
      ++x;
      pids.insert(e["pid"].get<int>());
    }
  }
  EXPECT_EQ(x, 2);
  EXPECT_EQ(pids.size(), 2u);
  EXPECT_THROW(merge_chrome_traces({a, "/nonexistent/trace.json"}, out), InputError);
  for (const auto& f : {a, b, out}) std::filesystem::remove(f);
}

}  // namespace
}  // namespace zeroplan::profiler
