#include "profiler/memory_ledger.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "profiler/memory_scope.h"
#include "profiler/process_memory.h"

namespace zeroplan::profiler {
namespace {

const void* ptr(std::uintptr_t v) { return reinterpret_cast<const void*>(v); }

TEST(MemoryLedger, CountsLiveAndPeakPerCategory) {
  MemoryLedger ledger;
  ledger.on_alloc(ptr(0x10), 100, Category::kParams);
  ledger.on_alloc(ptr(0x20), 40, Category::kActivations);
  ledger.on_alloc(ptr(0x30), 60, Category::kActivations);
  ledger.on_free(ptr(0x20));
  auto s = ledger.snapshot();
  EXPECT_EQ(s.live[Category::kParams], 100u);
  EXPECT_EQ(s.live[Category::kActivations], 60u);
  EXPECT_EQ(s.live.total, 160u);
  EXPECT_EQ(s.overall.peak[Category::kActivations], 100u);
  EXPECT_EQ(s.overall.peak.total, 200u);
  EXPECT_EQ(s.overall.at_peak[Category::kActivations], 100u);
  EXPECT_EQ(s.overall.at_peak[Category::kParams], 100u);
  EXPECT_EQ(s.live_blocks, 2u);
}

TEST(MemoryLedger, FreeIsChargedToTheAllocatingCategory) {
  MemoryLedger ledger;
  ledger.on_alloc(ptr(0x10), 64, Category::kGradients);
  {
    MemoryScope scope(Category::kOptimizerStates);  // irrelevant to the free
    ledger.on_free(ptr(0x10));
  }
  auto s = ledger.snapshot();
  EXPECT_EQ(s.live[Category::kGradients], 0u);
  EXPECT_EQ(s.live[Category::kOptimizerStates], 0u);
  EXPECT_EQ(s.live.total, 0u);
  EXPECT_EQ(s.overall.peak[Category::kGradients], 64u);
}

TEST(MemoryLedger, PeaksPerPhase) {
  MemoryLedger ledger;
  ledger.on_alloc(ptr(0x1), 10, Category::kParams);  // setup
  ledger.set_phase(Phase::kForward);
  ledger.on_alloc(ptr(0x2), 50, Category::kActivations);
  ledger.on_alloc(ptr(0x3), 30, Category::kActivations);
  ledger.set_phase(Phase::kBackward);
  ledger.on_free(ptr(0x3));
  ledger.on_alloc(ptr(0x4), 10, Category::kGradients);
  ledger.on_free(ptr(0x2));
  ledger.set_phase(Phase::kOptimizerStep);
  ledger.on_alloc(ptr(0x5), 20, Category::kOptimizerStates);
  auto s = ledger.snapshot();
  auto fw = s.by_phase[static_cast<int>(Phase::kForward)];
  auto bw = s.by_phase[static_cast<int>(Phase::kBackward)];
  auto opt = s.by_phase[static_cast<int>(Phase::kOptimizerStep)];
  EXPECT_EQ(fw.peak.total, 90u);
  EXPECT_EQ(fw.peak[Category::kActivations], 80u);
  // Backward is charged what was live on entry (90) and its own allocations (10 + 50 + 10 = 70 later).
  EXPECT_EQ(bw.peak.total, 90u);
  EXPECT_EQ(bw.peak[Category::kGradients], 10u);
  EXPECT_EQ(opt.peak.total, 40u);  // params 10 + grads 10 + optimizer 20
  EXPECT_EQ(opt.peak[Category::kActivations], 0u);
  EXPECT_FALSE(s.phase_seen[static_cast<int>(Phase::kReduce)]);
  EXPECT_EQ(s.overall.peak.total, 90u);
}

TEST(MemoryLedger, ResetPeaksRestartsFromLive) {
  MemoryLedger ledger;
  ledger.on_alloc(ptr(0x1), 1000, Category::kOther);
  ledger.on_free(ptr(0x1));
  ledger.on_alloc(ptr(0x2), 10, Category::kParams);
  ledger.reset_peaks();
  ledger.on_alloc(ptr(0x3), 5, Category::kBuffers);
  auto s = ledger.snapshot();
  EXPECT_EQ(s.overall.peak.total, 15u);
  EXPECT_EQ(s.overall.peak[Category::kOther], 0u);
}

TEST(MemoryLedger, WindowPeak) {
  MemoryLedger ledger;
  ledger.on_alloc(ptr(0x1), 100, Category::kActivations);
  ledger.on_free(ptr(0x1));
  ledger.reset_window();
  ledger.on_alloc(ptr(0x2), 30, Category::kActivations);
  EXPECT_EQ(ledger.snapshot().window_peak_total, 30u);
}

TEST(MemoryLedger, UnknownFreesAreCountedNotCharged) {
  MemoryLedger ledger;
  ledger.on_free(ptr(0x99));
  ledger.on_alloc(nullptr, 10, Category::kParams);
  ledger.on_alloc(ptr(0x1), 0, Category::kParams);
  auto s = ledger.snapshot();
  EXPECT_EQ(s.untracked_frees, 1u);
  EXPECT_EQ(s.live.total, 0u);
  EXPECT_EQ(s.allocations, 0u);
}

TEST(MemoryLedger, ThreadSafe) {
  MemoryLedger ledger;
  constexpr int kThreads = 4, kBlocks = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kBlocks; ++i) {
        auto p = ptr(static_cast<std::uintptr_t>(0x100000 * (t + 1) + i * 16));
        ledger.on_alloc(p, 8, Category::kActivations);
        if (i % 2 == 0) ledger.on_free(p);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ledger.snapshot().live.total, static_cast<std::uint64_t>(kThreads * kBlocks / 2 * 8));
}

TEST(MemoryScope, NestsAndFallsBackForThreadsWithoutAScope) {
  EXPECT_EQ(current_category(), Category::kOther);
  {
    MemoryScope a(Category::kParams);
    EXPECT_EQ(current_category(), Category::kParams);
    {
      MemoryScope b(Category::kComm);
      EXPECT_EQ(current_category(), Category::kComm);
      Category seen = Category::kOther;
      std::thread helper([&] { seen = current_category(); });  // no scope of its own
      helper.join();
      EXPECT_EQ(seen, Category::kComm);
    }
    EXPECT_EQ(current_category(), Category::kParams);
  }
  EXPECT_EQ(current_category(), Category::kOther);
}

TEST(MemoryScope, AThisThreadScopeLeavesWhatOtherThreadsInheritAlone) {
  MemoryScope rank(Category::kActivations);
  Category worker_saw = Category::kOther;
  Category helper_saw = Category::kOther;
  Category after_worker = Category::kOther;
  std::thread worker([&] {
    MemoryScope comm(Category::kComm, ScopeReach::kThisThread);
    worker_saw = current_category();
    std::thread helper([&] { helper_saw = current_category(); });  // inherits the rank's category
    helper.join();
  });
  worker.join();
  std::thread later([&] { after_worker = current_category(); });
  later.join();
  EXPECT_EQ(worker_saw, Category::kComm);
  EXPECT_EQ(helper_saw, Category::kActivations);
  EXPECT_EQ(after_worker, Category::kActivations);
  EXPECT_EQ(current_category(), Category::kActivations);
}

TEST(ProcessMemory, ParsesProcStatus) {
  auto m = parse_proc_status("Name:\tx\nVmPeak:\t  9 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->peak_rss_bytes, 2048u * 1024);
  EXPECT_EQ(m->rss_bytes, 1024u * 1024);
  EXPECT_FALSE(parse_proc_status("VmRSS: 1 kB\n").has_value());
  auto self = read_process_memory();
  ASSERT_TRUE(self.has_value());
  EXPECT_GE(self->peak_rss_bytes, self->rss_bytes);
  EXPECT_GT(self->rss_bytes, 0u);
}

}  // namespace
}  // namespace zeroplan::profiler
