// The CPU device kind (`--cluster local-cpu`): ranks are processes on this host, each rank's budget is
// the host's memory / ranks, offloaded states share the same host memory, no CUDA/NCCL overhead.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "planner/hardware_spec.h"
#include "planner/memory_model.h"
#include "planner/model_spec.h"
#include "planner/roofline_step_time.h"
#include "planner/search.h"
#include "planner/units.h"

namespace zeroplan {
namespace {

const std::string kConfigs = std::string(ZEROPLAN_SOURCE_DIR) + "/configs";

// MemTotal read independently of the planner.
std::uint64_t mem_total_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MemTotal:", 0) == 0) return std::stoull(line.substr(9)) * 1024;
  }
  return 0;
}

ClusterSpec local_cpu(int ranks) {
  ClusterSpec c = load_cluster_spec("local-cpu", kConfigs);
  c.gpus_per_node = ranks;
  split_host_memory(c);
  return c;
}

TEST(CpuDevice, LocalCpuPresetSplitsTheHostOverRanks) {
  const std::uint64_t host = mem_total_bytes();
  ASSERT_GT(host, 0u);
  const ClusterSpec one = load_cluster_spec("local-cpu", kConfigs);
  EXPECT_EQ(one.gpu.kind, DeviceKind::kCpu);
  EXPECT_EQ(one.nodes, 1);
  EXPECT_EQ(one.gpus_per_node, 1);
  EXPECT_EQ(one.topology, "cpu");
  EXPECT_EQ(one.cpu_memory_bytes_per_node, host);
  EXPECT_EQ(one.gpu.memory_bytes, host);
  EXPECT_EQ(one.gpu.cuda_context_bytes, 0u);
  EXPECT_EQ(one.gpu.nccl_buffer_bytes, 0u);
  EXPECT_GT(one.gpu.peak_fp32_tflops, 0);
  EXPECT_EQ(local_cpu(2).gpu.memory_bytes, host / 2);
  EXPECT_EQ(local_cpu(3).gpu.memory_bytes, host / 3);
  // The generic NODESxRANKS-cpu name gives the same split.
  EXPECT_EQ(load_cluster_spec("1x4-cpu", kConfigs).gpu.memory_bytes, host / 4);
  // GPUs are left alone.
  ClusterSpec gpu = load_cluster_spec("1x4-rtx4090-24gb", kConfigs);
  const std::uint64_t before = gpu.gpu.memory_bytes;
  gpu.gpus_per_node = 2;
  split_host_memory(gpu);
  EXPECT_EQ(gpu.gpu.memory_bytes, before);
}

PlanContext tiny_on_cpu(int ranks) {
  PlanContext ctx;
  ctx.model = load_model_spec("tiny-test", kConfigs);
  ctx.cluster = local_cpu(ranks);
  ctx.training.seq_len = 4;
  ctx.training.global_batch = 2;
  ctx.training.precision = Precision::kFp32;
  ctx.training.attention = AttentionImpl::kSdpa;
  ctx.training.headroom_fraction = 0.9;
  // These tests check DeepSpeed's formulas on CPU ranks. Since the plan's runtime exists
  // (memory_model.h "Runtimes"), CPU ranks default to zeroplan's executor, whose states, buffers and
  // activations differ (executor_memory_test.cc): pin DeepSpeed here so the by-hand figures stay.
  ctx.training.runtime = Runtime::kDeepSpeed;
  return ctx;
}

Candidate tiny_candidate(int stage) {
  Candidate c;
  c.zero_stage = stage;
  c.dp = 2;
  c.micro_batch = 1;
  c.grad_accum = 1;
  c.activation_checkpointing = true;
  c.reduce_bucket_size = 1000;
  c.allgather_bucket_size = 500;
  c.prefetch_bucket_size = 50;
  c.max_live_parameters = 3000;
  c.param_persistence_threshold = 100;
  c.overlap_comm = true;
  return c;
}

// tiny-test: Ψ = 9552 (model_spec_test), 2 ranks -> Ψ/N = 4776; fp32, stage 2, b = 1, s = 4, checkpointing.
TEST(CpuDevice, TinyTestStage2EveryCategoryByHand) {
  const PlanContext ctx = tiny_on_cpu(2);
  const MemoryBreakdown m = estimate_memory(ctx, tiny_candidate(2));
  EXPECT_EQ(m.gpu.params, 4u * 9552u);            // fp32 weights, whole: 38208
  EXPECT_EQ(m.gpu.gradients, 4u * 4776u);         // fp32 gradient partition: 19104
  EXPECT_EQ(m.gpu.optimizer_states, 8u * 4776u);  // Adam m + v, no separate master in fp32: 38208
  // memory_model_test TinyActivations.Fp32AliasesUpcasts: the loss backward peak, 7632 B (fp32 has no
  // 16-bit kernel transients, so the CPU kernels change nothing here).
  EXPECT_EQ(m.gpu.activations, 7632u);
  // buffers = reduce buckets 1000 x 4 B x 2 (overlap) = 8000
  //         + max(act 7632 + embedding's full fp32 gradient 2048 x 4 = 8192, step: allgather 500 x 4 = 2000) - act
  EXPECT_EQ(m.gpu.buffers, 8000u + 8192u);
  EXPECT_EQ(m.gpu.overhead, 0u);  // no CUDA context, no NCCL buffers, no caching allocator
  const std::uint64_t rank = 38208u + 19104u + 38208u + 7632u + 16192u;
  EXPECT_EQ(m.gpu.total(), rank);  // 119344
  EXPECT_EQ(m.cpu.total(), 0u);
  // The node's host holds both ranks.
  EXPECT_EQ(node_host_bytes(ctx, m), 2u * rank);
  EXPECT_EQ(usable_gpu_bytes(ctx), static_cast<std::uint64_t>(0.9 * static_cast<double>(mem_total_bytes() / 2)));
}

// Offloading on a CPU device moves states to the same host memory: they are counted once (on the CPU
// side, not on the rank) and the ranks + offloaded states together must fit the host.
TEST(CpuDevice, OffloadedStatesShareTheHostAndAreCountedOnce) {
  PlanContext ctx = tiny_on_cpu(2);
  Candidate c = tiny_candidate(3);
  c.offload_optimizer = OffloadDevice::kCpu;
  c.offload_param = OffloadDevice::kCpu;
  const MemoryBreakdown m = estimate_memory(ctx, c);
  EXPECT_EQ(m.gpu.params + m.gpu.gradients + m.gpu.optimizer_states, 0u);
  // Per rank (model_states.cc, fp32): fp32 param partition 4 + fp32 gradient partition 4 + the CPU
  // optimizer's fp32 params + m + v 12 = 20 B x Ψ/N; 2 ranks: 191040.
  const std::uint64_t offloaded = 2u * (4u + 4u + 12u) * 4776u;
  EXPECT_EQ(m.cpu.total(), offloaded);
  const std::uint64_t needed = 2u * m.gpu.total() + offloaded;
  EXPECT_EQ(node_host_bytes(ctx, m), needed);

  // A host 2 bytes too small: each rank's share (host / 2) still holds the rank, and the offloaded
  // states alone fit too, but together they exceed the host: rejected as cpu_memory.
  ctx.training.headroom_fraction = 1.0;
  ctx.cluster.cpu_memory_bytes_per_node = needed - 2;
  split_host_memory(ctx.cluster);
  ASSERT_GE(ctx.cluster.gpu.memory_bytes, m.gpu.total());
  const RooflineStepTimeModel roofline;
  const Plan over = evaluate_exact(ctx, c, roofline);
  ASSERT_TRUE(over.best);
  EXPECT_TRUE(over.best->fits_gpu);
  EXPECT_FALSE(over.best->fits_cpu);
  ASSERT_EQ(over.rejections.size(), 1u);
  EXPECT_EQ(over.rejections[0].overflow, Overflow::kCpuMemory);
  EXPECT_EQ(over.rejections[0].needed_bytes, needed);
  EXPECT_EQ(over.rejections[0].usable_bytes, needed - 2);
  // The same numbers on a GPU device: the ranks' memory is not host memory, so it fits.
  PlanContext gpu = ctx;
  gpu.cluster.gpu.kind = DeviceKind::kGpu;
  EXPECT_TRUE(evaluate_exact(gpu, c, roofline).best->fits());
  // Exactly the host: fits.
  ctx.cluster.cpu_memory_bytes_per_node = needed;
  split_host_memory(ctx.cluster);
  EXPECT_TRUE(evaluate_exact(ctx, c, roofline).best->fits());
}

TEST(CpuDevice, SearchOnTinyLlamaFitsWithoutCudaOverhead) {
  PlanContext ctx;
  ctx.model = load_model_spec("tiny-llama-25m", kConfigs);
  ctx.cluster = local_cpu(2);
  ctx.training.seq_len = 128;
  ctx.training.global_batch = 8;
  ctx.training.precision = Precision::kFp32;
  const RooflineStepTimeModel roofline;
  const Plan plan = search_plans(ctx, SearchOptions{}, roofline);
  ASSERT_TRUE(plan.best);
  EXPECT_GT(plan.fitting_count, 0);
  for (const EvaluatedCandidate& e : plan.candidates) {
    EXPECT_EQ(e.memory.gpu.overhead, 0u);
    EXPECT_LE(node_host_bytes(ctx, e.memory), plan.usable_cpu_bytes);
  }
}

}  // namespace
}  // namespace zeroplan
