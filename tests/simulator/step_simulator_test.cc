// Step simulation: compute from FLOPs, the ZeRO communication volumes, overlap, offload, the fast path,
// the planner interface and the trace.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "planner/error.h"
#include "planner/model_spec.h"
#include "simulator/simulated_step_time_model.h"
#include "simulator/simulation_json.h"
#include "simulator/step_simulator.h"
#include "simulator/topology_presets.h"
#include "tests/simulator/tiny_model.h"

namespace zeroplan::sim {
namespace {

using test_models::tiny_model;

// Llama-2-7B's shape (Hugging Face config).
ModelSpec llama7b() {
  ModelSpec m;
  m.name = "llama-2-7b";
  m.hidden_size = 4096;
  m.intermediate_size = 11008;
  m.num_hidden_layers = 32;
  m.num_attention_heads = 32;
  m.num_key_value_heads = 32;
  m.head_dim = 128;
  m.vocab_size = 32000;
  m.max_position_embeddings = 4096;
  return m;
}

PlanContext context(ModelSpec m, const std::string& preset, int nodes, std::int64_t seq = 1024) {
  PlanContext c;
  c.model = std::move(m);
  c.cluster = preset_cluster(preset, nodes);
  c.training.seq_len = seq;
  c.training.precision = Precision::kBf16;
  return c;
}

Candidate candidate(int stage, int dp, std::int64_t gas = 1) {
  Candidate c;
  c.zero_stage = stage;
  c.dp = dp;
  c.micro_batch = 1;
  c.grad_accum = gas;
  c.overlap_comm = stage == 3;
  return c;
}

double total_bytes(const SimulationResult& r) { return r.comm_bytes_per_gpu.at("total"); }

TEST(StepSimulator, ComputeTimeFromFlopsHandComputed) {
  PlanContext ctx = context(tiny_model(), "hgx-h100", 1, 512);
  Candidate c = candidate(0, 1);
  const ParamCounts p = count_params(ctx.model);
  // Forward per token: 2 x per-layer params + 4 s d_attn per layer, plus the head's 2 V h.
  const double fwd_per_token = 4 * (2.0 * p.per_layer + 4.0 * 512 * 256) + 2.0 * 1000 * 256;
  const double rate = 989e12 * kDefaultMatmulEfficiency;
  SimulationResult r = simulate_step(ctx, c, SimulationOptions{});
  EXPECT_NEAR(r.forward_s, fwd_per_token * 512 / rate, 1e-15);
  EXPECT_NEAR(r.backward_s, 2 * fwd_per_token * 512 / rate, 1e-15);
  EXPECT_NEAR(r.step.compute_s, 3 * fwd_per_token * 512 / rate, 1e-15);
  // One rank: no communication; Adam over all params at 28 B/param over HBM.
  EXPECT_EQ(total_bytes(r), 0);
  EXPECT_NEAR(r.step.optimizer_s, p.total * 28.0 / 3350e9, 1e-15);
  EXPECT_NEAR(r.step.total_s, r.step.compute_s + r.step.optimizer_s, 1e-15);
  EXPECT_NEAR(r.step.tokens_per_s, 512 / r.step.total_s, 1e-6);
  // Recompute adds one forward of every decoder layer.
  c.activation_checkpointing = true;
  SimulationResult rc = simulate_step(ctx, c, SimulationOptions{});
  EXPECT_NEAR(rc.recompute_s, 4 * (2.0 * p.per_layer + 4.0 * 512 * 256) * 512 / rate, 1e-15);
  EXPECT_GT(rc.step.total_s, r.step.total_s);
  EXPECT_NEAR(rc.mfu, r.mfu * r.step.total_s / rc.step.total_s, 1e-12);  // model FLOPs exclude recompute
}

// Stage 0 all-reduces every gradient once per step: 2(n-1)/n x P x 2 bytes sent per GPU.
TEST(StepSimulator, StageZeroVolumeHandComputed) {
  PlanContext ctx = context(llama7b(), "hgx-h100", 1);
  SimulationResult r = simulate_step(ctx, candidate(0, 8), SimulationOptions{});
  const double P = static_cast<double>(count_params(ctx.model).total);
  // The gradients (2 bytes each) plus the trainer's 3 step scalars (8-byte doubles), each all-reduced:
  // 2 (n-1)/n = 1.75 x the payload per GPU.
  EXPECT_NEAR(r.comm_bytes_per_gpu.at("all_reduce"), 1.75 * P * 2 + 1.75 * 3 * 8, 1.0);
  // Buckets of at most 5e8 elements, filled in backward order (DeepSpeed sends the bucket before a
  // gradient that would overflow it): head (131.1M) + layer 31 (202.4M); then 15 pairs of layers
  // (404.8M each); then layer 0 + embedding (333.5M): 17 calls.
  std::int64_t calls = 0, scalars = 0, norms = 0;
  for (const CollectiveSummary& s : r.collectives) {
    if (s.purpose == "gradient all-reduce") calls += s.count;
    if (s.purpose == "trainer scalars") scalars += s.count;
    if (s.purpose == "gradient norm") norms += s.count;
  }
  EXPECT_EQ(calls, 17);
  EXPECT_EQ(scalars, 3);  // label and token counts before the first forward, the loss sum after
  EXPECT_EQ(norms, 0);    // stage 0 holds the whole reduced gradient: its norm is local
}

// Stages >= 1 all-reduce the squared partition norms every step, clipping or not (sharded_engine.cc).
TEST(StepSimulator, ShardedStagesAllReduceTheGradientNorm) {
  PlanContext ctx = context(llama7b(), "hgx-h100", 1);
  for (int stage : {1, 2, 3}) {
    for (double clip : {0.0, 1.0}) {
      ctx.training.gradient_clipping = clip;
      const SimulationResult r = simulate_step(ctx, candidate(stage, 8), SimulationOptions{});
      std::int64_t norms = 0, scalars = 0;
      for (const CollectiveSummary& s : r.collectives) {
        if (s.purpose == "gradient norm") norms += s.count;
        if (s.purpose == "trainer scalars") scalars += s.count;
      }
      EXPECT_EQ(norms, 1) << "stage " << stage << " clip " << clip;
      EXPECT_EQ(scalars, 3) << "stage " << stage << " clip " << clip;
    }
  }
}

// ZeRO paper: stage 3 moves 1.5x the communication of stage 2 per step (3 Psi vs 2 Psi) at gas = 1.
TEST(StepSimulator, StageThreeOverStageTwoVolumeIsOnePointFive) {
  PlanContext ctx = context(llama7b(), "hgx-h100", 1);
  SimulationResult s2 = simulate_step(ctx, candidate(2, 8), SimulationOptions{});
  SimulationResult s3 = simulate_step(ctx, candidate(3, 8), SimulationOptions{});
  const double ratio = total_bytes(s3) / total_bytes(s2);
  EXPECT_NEAR(ratio, 1.5, 0.03) << total_bytes(s3) << " / " << total_bytes(s2);
  // Stage 2: reduce-scatter + all-gather of P, each (n-1)/n x P x 2 bytes.
  const double P = static_cast<double>(count_params(ctx.model).total);
  EXPECT_NEAR(s2.comm_bytes_per_gpu.at("reduce_scatter"), 0.875 * P * 2, 1.0);
  EXPECT_NEAR(s2.comm_bytes_per_gpu.at("all_gather"), 0.875 * P * 2, 1.0);
}

TEST(StepSimulator, AccumulationBoundarySchedule) {
  PlanContext ctx = context(llama7b(), "hgx-h100", 1);
  // Stage 1 reduces only in step(): the volume does not grow with grad_accum.
  EXPECT_NEAR(total_bytes(simulate_step(ctx, candidate(1, 8, 4), SimulationOptions{})),
              total_bytes(simulate_step(ctx, candidate(1, 8, 1), SimulationOptions{})), 1.0);
  // Stage 2 (as the executor does it) reduce-scatters every micro-step; the post-step all-gather is once.
  const SimulationResult s2_1 = simulate_step(ctx, candidate(2, 8, 1), SimulationOptions{});
  const SimulationResult s2_4 = simulate_step(ctx, candidate(2, 8, 4), SimulationOptions{});
  EXPECT_NEAR(s2_4.comm_bytes_per_gpu.at("reduce_scatter") / s2_1.comm_bytes_per_gpu.at("reduce_scatter"), 4.0, 1e-9);
  EXPECT_NEAR(s2_4.comm_bytes_per_gpu.at("all_gather"), s2_1.comm_bytes_per_gpu.at("all_gather"), 1.0);
  // Stage 3 gathers and reduce-scatters every micro-step: 4x (plus the same one-off norm all-reduce).
  const double s3_1 = simulate_step(ctx, candidate(3, 8, 1), SimulationOptions{}).comm_bytes_per_gpu.at("all_gather");
  const double s3_4 = simulate_step(ctx, candidate(3, 8, 4), SimulationOptions{}).comm_bytes_per_gpu.at("all_gather");
  EXPECT_NEAR(s3_4 / s3_1, 4.0, 1e-9);
}

TEST(StepSimulator, FastPathMatchesFullSimulation) {
  PlanContext ctx = context(llama7b(), "hgx-h100", 2);
  for (int stage : {0, 2, 3}) {
    Candidate c = candidate(stage, 16, 9);
    SimulationOptions full;
    full.trace = true;
    SimulationResult a = simulate_step(ctx, c, SimulationOptions{});
    SimulationResult b = simulate_step(ctx, c, full);
    EXPECT_NEAR(a.step.total_s, b.step.total_s, 1e-9 * b.step.total_s) << "stage " << stage;
    EXPECT_NEAR(total_bytes(a), total_bytes(b), 1e-6 * total_bytes(b)) << "stage " << stage;
    EXPECT_FALSE(b.trace.empty());
  }
}

TEST(StepSimulator, OverlapHidesCommunication) {
  PlanContext ctx = context(llama7b(), "hgx-h100", 4);
  Candidate on = candidate(3, 32, 2);
  Candidate off = on;
  off.overlap_comm = false;
  SimulationResult a = simulate_step(ctx, on, SimulationOptions{});
  SimulationResult b = simulate_step(ctx, off, SimulationOptions{});
  EXPECT_LT(a.step.comm_exposed_s, b.step.comm_exposed_s);
  EXPECT_LT(a.step.total_s, b.step.total_s);
  // Busy time on the communication stream is the same work either way.
  EXPECT_NEAR(a.comm_busy_s, b.comm_busy_s, 1e-9);
  // Without prefetch every gather is exposed.
  Candidate no_prefetch = on;
  no_prefetch.prefetch_bucket_size = 0;
  EXPECT_GT(simulate_step(ctx, no_prefetch, SimulationOptions{}).step.comm_exposed_s, a.step.comm_exposed_s);
}

TEST(StepSimulator, OffloadUsesPcieAndCpuAdam) {
  PlanContext ctx = context(llama7b(), "rtx4090-pcie", 1, 512);
  Candidate c = candidate(2, 4, 2);
  c.offload_optimizer = OffloadDevice::kCpu;
  HardwareProfile profile;
  profile.source = "test";
  profile.cpu_adam_params_per_s = 1e9;
  SimulationOptions opt;
  opt.profile = &profile;
  SimulationResult r = simulate_step(ctx, c, opt);
  const double P = static_cast<double>(count_params(ctx.model).total);
  // CPU Adam updates the whole node's partitions (4 x P/4 = P) at 1e9 params/s.
  EXPECT_NEAR(r.step.optimizer_s, P / 1e9, 1e-9);
  // Gradients down and parameters up: P/4 x 2 bytes each way; four GPUs share host memory
  // (100 GB/s / 2 per direction) and each has 25 GB/s of PCIe: 4 x 3.37 GB / 50 GB/s each way.
  EXPECT_NEAR(r.step.offload_s, 2 * (P / 4 * 2) * 4 / 50e9, 1e-6);
  EXPECT_GT(r.step.total_s, r.step.compute_s + r.step.optimizer_s + r.step.offload_s);
}

TEST(StepSimulator, BadCandidatesAreInputErrors) {
  PlanContext ctx = context(tiny_model(), "hgx-h100", 1);
  Candidate c = candidate(1, 8);
  c.micro_batch = 0;
  EXPECT_THROW(simulate_step(ctx, c, SimulationOptions{}), InputError);
  EXPECT_THROW(simulate_step(ctx, candidate(1, 12), SimulationOptions{}), InputError);  // more ranks than GPUs
  PlanContext v100 = ctx;
  v100.cluster.gpu.peak_bf16_tflops = 0;
  EXPECT_THROW(simulate_step(v100, candidate(1, 8), SimulationOptions{}), InputError);
}

TEST(SimulatedStepTimeModel, MatchesTheSimulatorAndCaches) {
  SimulatedStepTimeModel model;
  PlanContext ctx = context(llama7b(), "hgx-h100", 2);
  for (int stage = 0; stage <= 3; ++stage) {
    Candidate c = candidate(stage, 16, 2);
    const StepTimeEstimate e = model.estimate(ctx, c);
    const SimulationResult r = simulate_step(ctx, c, SimulationOptions{});
    EXPECT_DOUBLE_EQ(e.total_s, r.step.total_s);
    EXPECT_GT(e.tokens_per_s, 0);
  }
  EXPECT_STREQ(model.name(), "simulator");
}

TEST(SimulationJson, SchemaAndTraceAreValid) {
  PlanContext ctx = context(tiny_model(), "hgx-h100", 1, 256);
  SimulationOptions opt;
  opt.trace = true;
  Candidate c = candidate(3, 8, 2);
  SimulationResult r = simulate_step(ctx, c, opt);
  nlohmann::ordered_json j = simulation_to_json(ctx, c, r);
  EXPECT_EQ(j["schema"], "zeroplan.simulation/v1");
  for (const char* k : {"compute_s", "comm_exposed_s", "offload_s", "optimizer_s", "total_s", "tokens_per_s", "mfu"}) {
    EXPECT_TRUE(j["step"].contains(k)) << k;
  }
  ASSERT_FALSE(j["collectives"].empty());
  for (const auto& cs : j["collectives"]) {
    for (const char* k : {"op", "algorithm", "bytes", "count", "time_s"}) EXPECT_TRUE(cs.contains(k)) << k;
  }
  EXPECT_GT(j["comm_bytes_per_gpu"]["total"].get<double>(), 0);
  // The trace round-trips through text and has complete events on the three streams.
  const std::string text = trace_to_json(r, "test").dump();
  nlohmann::json t = nlohmann::json::parse(text);
  int complete = 0, gathers = 0;
  for (const auto& e : t["traceEvents"]) {
    if (e["ph"] != "X") continue;
    ++complete;
    EXPECT_GE(e["ts"].get<double>(), 0);
    EXPECT_GE(e["dur"].get<double>(), 0);
    gathers += e["name"].get<std::string>().find("all_gather") != std::string::npos;
  }
  EXPECT_GT(complete, 20);
  EXPECT_GT(gathers, 0);
}

TEST(HardwareProfile, ParsesAndRejectsBadInput) {
  nlohmann::json ok = {{"schema", "zeroplan.hardware_profile/v1"},
                       {"machine", "test box"},
                       {"backend", "gloo"},
                       {"matmul_tflops", {{"fp32", 0.4}}},
                       {"cpu_adam_params_per_s", 2e9},
                       {"host_memory_GBps", 20},
                       {"collectives",
                        {{{"op", "all_reduce"},
                          {"ranks", 2},
                          {"points", {{{"bytes", 8192}, {"time_s", 4e-5}}, {{"bytes", 4096}, {"time_s", 3e-5}}}}}}}};
  HardwareProfile p = parse_hardware_profile(ok, "p.json");
  EXPECT_DOUBLE_EQ(*p.matmul_tflops(Precision::kFp32), 0.4);
  EXPECT_FALSE(p.matmul_tflops(Precision::kBf16).has_value());
  ASSERT_EQ(p.collectives.size(), 1u);
  EXPECT_EQ(p.collectives[0].bytes.front(), 4096);  // sorted
  auto bad = [&](auto mutate) {
    nlohmann::json j = ok;
    mutate(j);
    EXPECT_THROW(parse_hardware_profile(j, "p.json"), InputError) << j.dump();
  };
  bad([](nlohmann::json& j) { j["schema"] = "zeroplan.hardware_profile/v0"; });
  bad([](nlohmann::json& j) { j["typo_field"] = 1; });
  bad([](nlohmann::json& j) { j["cpu_adam_params_per_s"] = -1; });
  bad([](nlohmann::json& j) { j["backend"] = "mpi"; });
  bad([](nlohmann::json& j) { j["matmul_efficiency"] = 1.5; });
  bad([](nlohmann::json& j) { j["collectives"][0]["op"] = "all_to_all"; });
  bad([](nlohmann::json& j) { j["collectives"][0]["points"][1]["bytes"] = 8192; });
  bad([](nlohmann::json& j) { j["collectives"][0]["points"] = nlohmann::json::array(); });
  bad([](nlohmann::json& j) { j["matmul_tflops"]["int8"] = 3; });
  // Measured matmul rate replaces the datasheet peak x efficiency.
  PlanContext ctx = context(tiny_model(), "cpu", 1, 128);
  ctx.training.precision = Precision::kFp32;
  SimulationOptions opt;
  opt.profile = &p;
  Candidate c = candidate(0, 1);
  SimulationResult with = simulate_step(ctx, c, opt);
  SimulationResult without = simulate_step(ctx, c, SimulationOptions{});
  EXPECT_NEAR(with.step.compute_s / without.step.compute_s, 0.5 * kDefaultMatmulEfficiency / 0.4, 1e-9);
}

}  // namespace
}  // namespace zeroplan::sim
