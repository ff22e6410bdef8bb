// The tracking CPU allocator with real LibTorch tensors: exact bytes per category, the free charged
// to the allocating category, peaks per phase through the Profiler.
#include "profiler/tracking_allocator.h"

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/mul.h>
#include <c10/core/CPUAllocator.h>
#include <gtest/gtest.h>

#include "profiler/memory_scope.h"
#include "profiler/profiler.h"

namespace zeroplan::profiler {
namespace {

std::uint64_t live(Category c) { return cpu_memory_ledger().snapshot().live[c]; }

struct TrackingAllocator : ::testing::Test {
  void SetUp() override { install_cpu_memory_tracking(); }
};

TEST_F(TrackingAllocator, InstallsOnceAndWrapsTheCpuAllocator) {
  EXPECT_TRUE(cpu_memory_tracking_installed());
  c10::Allocator* a = c10::GetCPUAllocator();
  install_cpu_memory_tracking();  // idempotent
  EXPECT_EQ(c10::GetCPUAllocator(), a);
  EXPECT_NE(a->raw_deleter(), nullptr);  // the raw interface still works through the wrapper
  void* p = a->raw_allocate(1000);
  EXPECT_EQ(cpu_memory_ledger().snapshot().live.total >= 1000, true);
  a->raw_deallocate(p);
}

TEST_F(TrackingAllocator, CountsExactTensorBytesPerCategory) {
  auto before_params = live(Category::kParams);
  auto before_act = live(Category::kActivations);
  {
    MemoryScope scope(Category::kParams);
    at::Tensor w = at::empty({256, 128}, at::kFloat);  // 256 * 128 * 4 = 131072 B
    EXPECT_EQ(live(Category::kParams) - before_params, 131072u);
    {
      MemoryScope act(Category::kActivations);
      at::Tensor y = at::mul(w, 2.0);  // same shape, fp32
      at::Tensor h = at::empty({3, 7}, at::kDouble);  // 3 * 7 * 8 = 168 B
      EXPECT_EQ(live(Category::kActivations) - before_act, 131072u + 168u);
    }
    EXPECT_EQ(live(Category::kActivations), before_act);
  }
  EXPECT_EQ(live(Category::kParams), before_params);
}

TEST_F(TrackingAllocator, FreeIsChargedToTheAllocatingCategory) {
  auto before_grads = live(Category::kGradients);
  auto before_opt = live(Category::kOptimizerStates);
  at::Tensor g;
  {
    MemoryScope scope(Category::kGradients);
    g = at::empty({1000}, at::kFloat);  // 4000 B
  }
  EXPECT_EQ(live(Category::kGradients) - before_grads, 4000u);
  {
    MemoryScope scope(Category::kOptimizerStates);
    g.reset();  // freed while another category is open
  }
  EXPECT_EQ(live(Category::kGradients), before_grads);
  EXPECT_EQ(live(Category::kOptimizerStates), before_opt);
}

TEST_F(TrackingAllocator, PeaksPerPhaseThroughTheProfiler) {
  ProfilerOptions options;
  options.rank = 0;
  Profiler profiler(std::move(options));  // reads the tracking allocator's ledger
  at::Tensor params;
  {
    MemoryScope scope(Category::kParams);
    params = at::empty({1024}, at::kFloat);  // 4096 B, lives through the step
  }
  profiler.reset_peaks();
  std::uint64_t base = cpu_memory_ledger().snapshot().live.total;
  {
    StepScope step(profiler);
    at::Tensor act;
    {
      PhaseScope phase(profiler, Phase::kForward);
      MemoryScope scope(Category::kActivations);
      act = at::empty({2048}, at::kFloat);               // 8192 B
      at::Tensor temp = at::empty({512}, at::kFloat);    // 2048 B, freed inside forward
    }
    {
      PhaseScope phase(profiler, Phase::kBackward);
      MemoryScope scope(Category::kGradients);
      at::Tensor grad = at::empty({1024}, at::kFloat);   // 4096 B
      act.reset();
    }
  }
  reports::MeasuredRank r = profiler.measured_rank();
  EXPECT_EQ(r.by_phase.at("forward").peak.total - base, 8192u + 2048u);
  EXPECT_EQ(r.by_phase.at("forward").peak.activations, 8192u + 2048u);
  // Backward starts with the 8192 B of activations live and adds 4096 B of gradients.
  EXPECT_EQ(r.by_phase.at("backward").peak.total - base, 8192u + 4096u);
  EXPECT_EQ(r.by_phase.at("backward").peak.gradients, 4096u);
  EXPECT_EQ(r.peak.total - base, 8192u + 4096u);
  EXPECT_GE(r.peak.params, 4096u);
  EXPECT_EQ(r.step_times_s.size(), 1u);
}

}  // namespace
}  // namespace zeroplan::profiler
