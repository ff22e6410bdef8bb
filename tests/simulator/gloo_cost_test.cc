// The Gloo collective cost model (simulator/gloo_cost.h): hand-computed formulas, the fit, the contention
// rule, the hardware profile's JSON round trip with fits, and how the collective model and the step
// simulator use a calibrated profile on CPU ranks.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "planner/error.h"
#include "simulator/collective_model.h"
#include "simulator/gloo_cost.h"
#include "simulator/hardware_profile.h"
#include "simulator/step_simulator.h"
#include "simulator/topology_presets.h"
#include "tests/simulator/tiny_model.h"

namespace zeroplan::sim {
namespace {

TEST(GlooCost, StepsAndPiecesHandComputed) {
  EXPECT_EQ(gloo_steps(CollectiveOp::kAllReduce, 4), 6);       // 2(w-1)
  EXPECT_EQ(gloo_steps(CollectiveOp::kAllGather, 4), 3);       // w-1
  EXPECT_EQ(gloo_steps(CollectiveOp::kReduceScatter, 2), 1);
  EXPECT_EQ(gloo_steps(CollectiveOp::kBroadcast, 4), 3);
  EXPECT_DOUBLE_EQ(gloo_piece_fraction(CollectiveOp::kAllGather, 4), 0.25);
  EXPECT_DOUBLE_EQ(gloo_piece_fraction(CollectiveOp::kBroadcast, 4), 1.0);
}

TEST(GlooCost, TimeHandComputed) {
  GlooCollectiveFit f;
  f.op = CollectiveOp::kAllGather;
  f.ranks = 4;
  f.alpha_s = 1e-4;
  f.beta_s_per_byte = 1e-9;
  // 3 steps x (100 us + 1 MiB x 1 ns) = 3 x 1.148576 ms
  EXPECT_NEAR(gloo_time_s(f, 4.0 * 1048576, 4, 2), 3 * (1e-4 + 1048576e-9), 1e-15);
  // Same fit on 8 ranks with 2 cores: beta x (8/2)/(4/2) = 2; 7 steps of S/8.
  EXPECT_NEAR(gloo_time_s(f, 8.0 * 1048576, 8, 2), 7 * (1e-4 + 1048576 * 2e-9), 1e-15);
  // cores 0: no contention scaling.
  EXPECT_NEAR(gloo_time_s(f, 8.0 * 1048576, 8, 0), 7 * (1e-4 + 1048576e-9), 1e-15);
  EXPECT_EQ(gloo_time_s(f, 1e6, 1, 2), 0);
}

TEST(GlooCost, FitRecoversTheFormulaAndNamesBadInput) {
  GlooCollectiveFit truth;
  truth.op = CollectiveOp::kAllReduce;
  truth.ranks = 2;
  truth.alpha_s = 5e-5;
  truth.beta_s_per_byte = 7e-10;
  std::vector<double> bytes = {4096, 1 << 20, 64 << 20}, times;
  for (double b : bytes) times.push_back(gloo_time_s(truth, b, 2, 0));
  const GlooCollectiveFit f = fit_gloo_collective(CollectiveOp::kAllReduce, 2, bytes, times, "t");
  EXPECT_NEAR(f.alpha_s / truth.alpha_s, 1.0, 1e-9);
  EXPECT_NEAR(f.beta_s_per_byte / truth.beta_s_per_byte, 1.0, 1e-9);
  EXPECT_EQ(f.fitted_bytes, bytes);
  // Noisy points: the fit is close in relative terms at every point.
  std::vector<double> noisy = {times[0] * 1.05, times[1] * 0.97, times[2] * 1.02};
  const GlooCollectiveFit g = fit_gloo_collective(CollectiveOp::kAllReduce, 2, bytes, noisy, "t");
  for (size_t i = 0; i < bytes.size(); ++i) EXPECT_NEAR(gloo_time_s(g, bytes[i], 2, 0) / noisy[i], 1.0, 0.06);
  // Decreasing times would give a negative slope: clamped to a flat line.
  const GlooCollectiveFit flat = fit_gloo_collective(CollectiveOp::kAllGather, 2, {4096, 8192}, {2e-4, 1e-4}, "t");
  EXPECT_EQ(flat.beta_s_per_byte, 0);
  EXPECT_GT(flat.alpha_s, 0);
  EXPECT_THROW(fit_gloo_collective(CollectiveOp::kAllGather, 2, {4096, 4096}, {1e-4, 1e-4}, "t"), InputError);
  EXPECT_THROW(fit_gloo_collective(CollectiveOp::kAllGather, 2, {4096, 8192}, {1e-4, 0}, "t"), InputError);
  EXPECT_THROW(fit_gloo_collective(CollectiveOp::kAllGather, 1, {4096, 8192}, {1e-4, 2e-4}, "t"), InputError);
}

// Two regimes, as this machine's all_reduce on 2 ranks (README): in cache to 1 MiB, then ~10x slower per
// byte. The segments interpolate between calibrated sizes and pick the regime by the per-step piece.
TEST(GlooCost, SegmentsFollowEachRegimeHandComputed) {
  const double KiB = 1024, MiB = 1048576;
  // reduce_scatter on 2 ranks: 1 step of S/2.
  const std::vector<double> bytes = {64 * KiB, 1 * MiB, 4 * MiB, 64 * MiB};
  const std::vector<double> times = {100e-6, 400e-6, 4000e-6, 64000e-6};
  const GlooCollectiveFit f = fit_gloo_collective(CollectiveOp::kReduceScatter, 2, bytes, times, "t");
  ASSERT_EQ(f.segments.size(), 3u);
  EXPECT_DOUBLE_EQ(f.segments[0].from_piece_bytes, 32 * KiB);
  // Segment 1 (pieces 512 KiB .. 2 MiB): beta = (4000 - 400) us / (2 MiB - 512 KiB).
  EXPECT_NEAR(f.segments[1].beta_s_per_byte, 3600e-6 / (1.5 * MiB), 1e-20);
  // At every calibrated size the fit gives the measured time back.
  for (size_t i = 0; i < bytes.size(); ++i) EXPECT_NEAR(gloo_time_s(f, bytes[i], 2, 0), times[i], 1e-12);
  // Between: linear within the regime; 2 MiB lies 1/3 of the way from 1 MiB to 4 MiB.
  EXPECT_NEAR(gloo_time_s(f, 2 * MiB, 2, 0), 400e-6 + 3600e-6 / 3, 1e-12);
  // Above the largest size, the last regime's bandwidth extends: 128 MiB = 64 MiB + 64 x 1000 us / 60 x 4 ...
  const double last_beta = (64000e-6 - 4000e-6) / (32 * MiB - 2 * MiB);
  EXPECT_NEAR(gloo_time_s(f, 128 * MiB, 2, 0), 64000e-6 + 32 * MiB * last_beta, 1e-12);
  // Below the smallest, its time (the latency floor).
  EXPECT_NEAR(gloo_time_s(f, 4 * KiB, 2, 0), 100e-6, 1e-15);
  // A smaller time at a larger size is noise: pooled (here 1 MiB and 4 MiB average to 2200 us).
  const GlooCollectiveFit g =
      fit_gloo_collective(CollectiveOp::kReduceScatter, 2, {1 * MiB, 4 * MiB, 16 * MiB}, {2400e-6, 2000e-6, 9000e-6}, "t");
  EXPECT_NEAR(gloo_time_s(g, 1 * MiB, 2, 0), 2200e-6, 1e-12);
  EXPECT_NEAR(gloo_time_s(g, 2 * MiB, 2, 0), 2200e-6, 1e-12);
  EXPECT_NEAR(gloo_time_s(g, 16 * MiB, 2, 0), 9000e-6, 1e-12);
  // Another group size (4 ranks, 2 cores): the regime of its piece S/4, beta doubled (contention), 3 steps.
  const double S = 8 * MiB;  // piece 2 MiB: the last segment of f
  const GlooSegment& s = f.segments[2];
  EXPECT_NEAR(gloo_time_s(f, S, 4, 2), 3 * (s.alpha_s + S / 4 * 2 * s.beta_s_per_byte), 1e-12);
}

TEST(GlooCost, FindsExactThenNearestGroup) {
  std::vector<GlooCollectiveFit> fits(3);
  fits[0].op = CollectiveOp::kAllGather, fits[0].ranks = 2;
  fits[1].op = CollectiveOp::kAllGather, fits[1].ranks = 4;
  fits[2].op = CollectiveOp::kAllReduce, fits[2].ranks = 2;
  EXPECT_EQ(find_gloo_fit(fits, CollectiveOp::kAllGather, 4), &fits[1]);
  EXPECT_EQ(find_gloo_fit(fits, CollectiveOp::kAllGather, 8), &fits[1]);
  EXPECT_EQ(find_gloo_fit(fits, CollectiveOp::kAllGather, 3), &fits[1]);  // tie: the larger
  EXPECT_EQ(find_gloo_fit(fits, CollectiveOp::kAllReduce, 4), &fits[2]);
  EXPECT_EQ(find_gloo_fit(fits, CollectiveOp::kReduceScatter, 2), nullptr);
}

HardwareProfile full_profile() {
  HardwareProfile p;
  p.machine = "box: 2 logical CPUs";
  p.backend = "gloo";
  p.calibrated_for = "tiny, 128 tokens";
  p.timing_statistic = "median";
  p.cpu_cores = 2;
  p.matmul_fp32_tflops = 0.08;
  p.matmul_bf16_tflops = 0.03;
  p.cpu_adam_params_per_s = 3.5e8;
  p.host_memory_GBps = 6.5;
  CollectiveMeasurement m;
  m.op = CollectiveOp::kAllGather;
  m.ranks = 2;
  m.bytes = {4096, 1048576};
  m.time_s = {6e-5, 9e-4};
  p.collectives.push_back(m);
  GlooCollectiveFit f;
  f.op = CollectiveOp::kAllGather;
  f.ranks = 2;
  f.alpha_s = 5.5e-5;
  f.beta_s_per_byte = 1.6e-9;
  f.fitted_bytes = {4096, 1048576};
  f.segments = {{2048, 5.6e-5, 1.7e-9}};
  p.collective_fits.push_back(f);
  return p;
}

TEST(HardwareProfileJson, RoundTripKeepsEveryField) {
  const HardwareProfile p = full_profile();
  const nlohmann::json j = nlohmann::json::parse(hardware_profile_to_json(p).dump());
  const HardwareProfile q = parse_hardware_profile(j, "p.json");
  EXPECT_EQ(q.machine, p.machine);
  EXPECT_EQ(q.backend, "gloo");
  EXPECT_EQ(q.calibrated_for, p.calibrated_for);
  EXPECT_EQ(q.timing_statistic, "median");
  EXPECT_EQ(q.cpu_cores, 2);
  EXPECT_DOUBLE_EQ(*q.matmul_fp32_tflops, 0.08);
  EXPECT_DOUBLE_EQ(*q.matmul_bf16_tflops, 0.03);
  EXPECT_FALSE(q.matmul_fp16_tflops.has_value());
  EXPECT_DOUBLE_EQ(*q.cpu_adam_params_per_s, 3.5e8);
  EXPECT_DOUBLE_EQ(*q.host_memory_GBps, 6.5);
  ASSERT_EQ(q.collectives.size(), 1u);
  EXPECT_EQ(q.collectives[0].time_s, p.collectives[0].time_s);
  ASSERT_EQ(q.collective_fits.size(), 1u);
  EXPECT_EQ(q.collective_fits[0].op, CollectiveOp::kAllGather);
  EXPECT_DOUBLE_EQ(q.collective_fits[0].alpha_s, 5.5e-5);
  EXPECT_DOUBLE_EQ(q.collective_fits[0].beta_s_per_byte, 1.6e-9);
  EXPECT_EQ(q.collective_fits[0].fitted_bytes, p.collective_fits[0].fitted_bytes);
  ASSERT_EQ(q.collective_fits[0].segments.size(), 1u);
  EXPECT_DOUBLE_EQ(q.collective_fits[0].segments[0].from_piece_bytes, 2048);
  EXPECT_DOUBLE_EQ(q.collective_fits[0].segments[0].beta_s_per_byte, 1.7e-9);
  // A profile without segments (before the regimes) still reads: the single line.
  nlohmann::json old = nlohmann::json::parse(hardware_profile_to_json(p).dump());
  old["collective_fits"][0].erase("segments");
  EXPECT_TRUE(parse_hardware_profile(old, "old.json").collective_fits[0].segments.empty());
  // An empty profile writes only the schema and reads back.
  EXPECT_EQ(hardware_profile_to_json(HardwareProfile{}).size(), 1u);
  EXPECT_NO_THROW(parse_hardware_profile(nlohmann::json::parse(hardware_profile_to_json(HardwareProfile{}).dump()), "e"));
}

TEST(HardwareProfileJson, BadFitsAreOneLineErrors) {
  const nlohmann::json ok = nlohmann::json::parse(hardware_profile_to_json(full_profile()).dump());
  auto message = [&](auto mutate) -> std::string {
    nlohmann::json j = ok;
    mutate(j);
    try {
      parse_hardware_profile(j, "p.json");
    } catch (const InputError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(message([](auto& j) { j["collective_fits"][0]["ranks"] = 1; }).find("collective_fits[0].ranks"), std::string::npos);
  EXPECT_NE(message([](auto& j) { j["collective_fits"][0]["alpha_s"] = -1; }).find("alpha_s"), std::string::npos);
  EXPECT_NE(message([](auto& j) { j["collective_fits"][0]["op"] = "scan"; }).find("scan"), std::string::npos);
  EXPECT_NE(message([](auto& j) { j["collective_fits"][0]["gamma"] = 1; }).find("gamma"), std::string::npos);
  EXPECT_NE(message([](auto& j) { j["collective_fits"].push_back(j["collective_fits"][0]); }).find("two fits"),
            std::string::npos);
  EXPECT_NE(message([](auto& j) { j["cpu_cores"] = 0; }).find("cpu_cores"), std::string::npos);
  EXPECT_NE(message([](auto& j) { j["timing_statistic"] = "mean"; }).find("p.json: field \"timing_statistic\""),
            std::string::npos);
  EXPECT_NE(message([](auto& j) { j["collective_fits"][0]["segments"][0]["beta_s_per_byte"] = -1; })
                .find("collective_fits[0].segments[0].beta_s_per_byte"),
            std::string::npos);
  EXPECT_NE(message([](auto& j) { j["collective_fits"][0]["segments"][0]["alpha_s"] = -1; })
                .find("segments[0].alpha_s"),
            std::string::npos);
  EXPECT_NE(message([](auto& j) { j["collective_fits"][0]["segments"].push_back(j["collective_fits"][0]["segments"][0]); })
                .find("ascending"),
            std::string::npos);
  EXPECT_NE(message([](auto& j) { j["collective_fits"][0]["segments"][0]["delta"] = 1; }).find("delta"), std::string::npos);
  for (auto m : {message([](auto& j) { j["cpu_cores"] = 0; }), message([](auto& j) { j["collective_fits"] = 3; })}) {
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
}

TEST(GlooCost, CollectiveModelUsesFitsOnCpuRanksOnly) {
  const HardwareProfile p = full_profile();
  const ClusterSpec cpu = preset_cluster("cpu", 1);  // 4 CPU ranks per node
  Topology cpu_topology(cpu, layout_for(cpu));
  CollectiveModel two(cpu_topology, 2, {}, p.collectives, p.collective_fits, 2);
  const CollectiveEstimate e = two.estimate(CollectiveOp::kAllGather, 64.0 * 1048576);
  EXPECT_TRUE(e.calibrated);
  EXPECT_EQ(e.algorithm, Algorithm::kRing);
  // The segment (5.6e-5, 1.7e-9) takes precedence over the single line (5.5e-5, 1.6e-9).
  EXPECT_NEAR(e.time_s, 1 * (5.6e-5 + 32.0 * 1048576 * 1.7e-9), 1e-12);
  // 4 ranks on 2 cores: 3 steps of S/4 at twice the per-byte time.
  CollectiveModel four(cpu_topology, 4, {}, p.collectives, p.collective_fits, 2);
  EXPECT_NEAR(four.time_s(CollectiveOp::kAllGather, 64.0 * 1048576), 3 * (5.6e-5 + 16.0 * 1048576 * 3.4e-9), 1e-12);
  // No fit for all_reduce: the graph model answers.
  EXPECT_FALSE(four.estimate(CollectiveOp::kAllReduce, 1e6).calibrated);
  // GPU clusters ignore Gloo fits.
  const ClusterSpec gpu = preset_cluster("hgx-h100", 1);
  Topology gpu_topology(gpu, layout_for(gpu));
  CollectiveModel nccl(gpu_topology, 8, {}, {}, p.collective_fits, 2);
  EXPECT_FALSE(nccl.estimate(CollectiveOp::kAllGather, 1e6).calibrated);
}

TEST(GlooCost, CpuRanksShareTheHostsMatmulAndAdamRates) {
  const ModelSpec m = test_models::tiny_model();
  PlanContext ctx;
  ctx.model = m;
  ctx.cluster = preset_cluster("cpu", 1);
  ctx.training.seq_len = 128;
  ctx.training.precision = Precision::kFp32;
  const HardwareProfile p = full_profile();
  SimulationOptions opt;
  opt.profile = &p;
  auto run = [&](int dp) {
    Candidate c;
    c.zero_stage = 0;
    c.dp = dp;
    c.micro_batch = 1;
    c.grad_accum = 1;
    return simulate_step(ctx, c, opt);
  };
  const SimulationResult one = run(1), two = run(2);
  // Two ranks share the host's matmul rate (compute_s at 2 ranks also holds the reducer's gradient passes).
  EXPECT_NEAR((two.forward_s + two.backward_s) / (one.forward_s + one.backward_s), 2.0, 1e-9);
  EXPECT_DOUBLE_EQ(one.grad_buffer_s, 0);  // one process at stage 0: no reducer
  const double params = static_cast<double>(count_params(m).total);
  EXPECT_NEAR(one.step.optimizer_s, params / 3.5e8, 1e-12);  // the measured AdamW rate, not HBM bandwidth
  EXPECT_NEAR(two.step.optimizer_s, 2 * params / 3.5e8, 1e-12);  // stage 0: both ranks update everything
}

}  // namespace
}  // namespace zeroplan::sim
