#include "planner/roofline_step_time.h"

#include <gtest/gtest.h>

#include "planner/error.h"
#include "tests/planner/search_fixtures.h"

namespace zeroplan {
namespace {

using testing::context_on;
using testing::tiny_llama_shape;

Candidate base(int stage, std::int64_t dp, std::int64_t mbs, std::int64_t gas) {
  Candidate c;
  c.zero_stage = stage;
  c.dp = dp;
  c.micro_batch = mbs;
  c.grad_accum = gas;
  return c;
}

TEST(Roofline, SingleGpuStage0IsComputePlusAdamByHand) {
  const PlanContext ctx = context_on(tiny_llama_shape(), 1, 1, 4);
  const Candidate c = base(0, 1, 2, 2);
  const StepTimeEstimate e = RooflineStepTimeModel().estimate(ctx, c);
  const double P = static_cast<double>(count_params(ctx.model).total);
  const double tokens = 4.0 * 2048;
  // 6·P·tokens + 12·L·s²·(heads·head_dim)·sequences, at 40% of 165 TFLOP/s.
  const double flops = 6 * P * tokens + 12.0 * 4 * 2048.0 * 2048.0 * (8 * 32) * 4;
  EXPECT_NEAR(e.compute_s, flops / (0.40 * 165e12), 1e-12);
  EXPECT_EQ(e.comm_exposed_s, 0);  // one rank: no collectives
  EXPECT_EQ(e.offload_s, 0);
  EXPECT_NEAR(e.optimizer_s, P * 28 / 1008e9, 1e-15);
  EXPECT_DOUBLE_EQ(e.total_s, e.compute_s + e.optimizer_s);
  EXPECT_DOUBLE_EQ(e.tokens_per_s, tokens / e.total_s);
}

TEST(Roofline, CheckpointingRecomputesTheForward) {
  const PlanContext ctx = context_on(tiny_llama_shape(), 1, 1, 4);
  Candidate c = base(0, 1, 1, 4);
  const double plain = RooflineStepTimeModel().estimate(ctx, c).compute_s;
  c.activation_checkpointing = true;
  EXPECT_NEAR(RooflineStepTimeModel().estimate(ctx, c).compute_s, plain * 4.0 / 3.0, plain * 1e-12);
}

TEST(Roofline, CommunicationFollowsTheZeroPaperVolumes) {
  const PlanContext ctx = context_on(tiny_llama_shape(), 1, 4, 16);
  RooflineStepTimeModel model;
  auto comm = [&](int stage) {
    Candidate c = base(stage, 4, 1, 4);
    c.overlap_comm = false;
    return model.estimate(ctx, c).comm_exposed_s;
  };
  // Stage 1 reduces once per step, stage 2 every micro-step (gradients are partitioned).
  EXPECT_GT(comm(1), 0);
  EXPECT_GT(comm(2), comm(1));
  // Stage 3 without overlap_comm: at least the gas reduce-scatters are exposed.
  const double P0 = static_cast<double>(count_params(ctx.model).total);
  EXPECT_GE(comm(3), 4 * 0.75 * P0 * 2 / 20e9);
  // Stage 2 without overlap: gas reduce-scatters + one all-gather of f·P bf16 elements.
  const double P = static_cast<double>(count_params(ctx.model).total);
  Candidate c = base(2, 4, 1, 4);
  c.reduce_bucket_size = 1ull << 40;  // one bucket per reduction
  const double bytes = (4 + 1) * 0.75 * P * 2;
  const double latency = (4 + 1) * 3 * 5e-6;  // 5 collectives x (dp-1) hops x 5 µs
  EXPECT_NEAR(model.estimate(ctx, c).comm_exposed_s, bytes / 20e9 + latency, 1e-12);
}

TEST(Roofline, OverlapHidesGradientReduction) {
  const PlanContext ctx = context_on(tiny_llama_shape(), 1, 4, 16);
  RooflineStepTimeModel model;
  Candidate c = base(2, 4, 1, 4);
  const double exposed = model.estimate(ctx, c).comm_exposed_s;
  c.overlap_comm = true;
  EXPECT_LT(model.estimate(ctx, c).comm_exposed_s, exposed);
}

TEST(Roofline, OffloadAddsPcieTrafficAndCpuAdam) {
  const PlanContext ctx = context_on(tiny_llama_shape(), 1, 4, 16);
  RooflineStepTimeModel model;
  Candidate c = base(3, 4, 1, 4);
  const StepTimeEstimate none = model.estimate(ctx, c);
  c.offload_optimizer = OffloadDevice::kCpu;
  const StepTimeEstimate opt = model.estimate(ctx, c);
  c.offload_param = OffloadDevice::kCpu;
  const StepTimeEstimate both = model.estimate(ctx, c);
  EXPECT_EQ(none.offload_s, 0);
  EXPECT_GT(opt.offload_s, 0);
  EXPECT_GT(both.offload_s, opt.offload_s);
  const double P = static_cast<double>(count_params(ctx.model).total);
  // CPU Adam for the node's four partitions at 100 GB/s.
  EXPECT_NEAR(opt.optimizer_s, P * 28 / 100e9, 1e-12);
}

TEST(Roofline, MultiNodeBandwidthIsTheNicShare) {
  PlanContext ctx = context_on(tiny_llama_shape(), 2, 4, 16);
  EXPECT_DOUBLE_EQ(collective_bandwidth_Bps(ctx.cluster), 50e9 / 4);  // min(20, 50/4) GB/s
  ctx.cluster.gpus_per_node = 1;
  EXPECT_DOUBLE_EQ(collective_bandwidth_Bps(ctx.cluster), 50e9);
}

TEST(Roofline, PrecisionWithoutPeakIsAnInputError) {
  PlanContext ctx = context_on(tiny_llama_shape(), 1, 1, 4);
  ctx.cluster.gpu.peak_bf16_tflops = 0;  // like a V100
  EXPECT_THROW(RooflineStepTimeModel().estimate(ctx, base(0, 1, 1, 4)), InputError);
  ctx.training.precision = Precision::kFp16;
  EXPECT_NO_THROW(RooflineStepTimeModel().estimate(ctx, base(0, 1, 1, 4)));
}

TEST(Roofline, CacheFollowsTheModel) {
  RooflineStepTimeModel model;
  PlanContext small = context_on(tiny_llama_shape(), 1, 1, 4);
  PlanContext bigger = small;
  bigger.model.num_hidden_layers = 8;
  const double a = model.estimate(small, base(0, 1, 1, 4)).compute_s;
  const double b = model.estimate(bigger, base(0, 1, 1, 4)).compute_s;
  EXPECT_GT(b, a * 1.5);
  EXPECT_DOUBLE_EQ(model.estimate(small, base(0, 1, 1, 4)).compute_s, a);
}

}  // namespace
}  // namespace zeroplan
