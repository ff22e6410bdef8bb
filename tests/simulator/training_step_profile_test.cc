// The hardware profile's "training_step" entries (simulator/training_step_profile.h): strict parsing and
// round trip, the entry selection, and the simulator's compute time from a measured micro-step
// (hand-computed).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "planner/error.h"
#include "planner/model_spec.h"
#include "simulator/hardware_profile.h"
#include "simulator/step_simulator.h"
#include "simulator/topology_presets.h"
#include "tests/simulator/tiny_model.h"

namespace zeroplan::sim {
namespace {

nlohmann::json entry(const std::string& precision, int ranks, double seconds, std::int64_t seq = 128) {
  return {{"precision", precision}, {"ranks", ranks},        {"model", "tiny"},   {"seq_len", seq},
          {"micro_batch", 1},       {"activation_checkpointing", false},       {"threads", 0},
          {"forward_backward_s", seconds}, {"tokens", seq}};
}

nlohmann::json profile_json() {
  return {{"schema", kHardwareProfileSchema},
          {"cpu_cores", 2},
          {"matmul_tflops", {{"fp32", 0.05}}},
          {"cpu_adam_params_per_s", 3.5e8},
          {"training_step", {entry("fp32", 1, 0.1), entry("fp32", 2, 0.25), entry("bf16", 1, 0.4)}}};
}

std::string message(const nlohmann::json& j) {
  try {
    parse_hardware_profile(j, "p.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(TrainingStepProfile, ParsesAndRoundTrips) {
  const HardwareProfile p = parse_hardware_profile(profile_json(), "p.json");
  ASSERT_EQ(p.training_steps.size(), 3u);
  EXPECT_EQ(p.training_steps[1].precision, Precision::kFp32);
  EXPECT_EQ(p.training_steps[1].ranks, 2);
  EXPECT_EQ(p.training_steps[1].model, "tiny");
  EXPECT_EQ(p.training_steps[1].seq_len, 128);
  EXPECT_DOUBLE_EQ(p.training_steps[1].forward_backward_s, 0.25);
  EXPECT_EQ(p.training_steps[2].precision, Precision::kBf16);
  const HardwareProfile q = parse_hardware_profile(nlohmann::json::parse(hardware_profile_to_json(p).dump()), "q.json");
  ASSERT_EQ(q.training_steps.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(q.training_steps[i].precision, p.training_steps[i].precision);
    EXPECT_EQ(q.training_steps[i].ranks, p.training_steps[i].ranks);
    EXPECT_EQ(q.training_steps[i].tokens, p.training_steps[i].tokens);
    EXPECT_DOUBLE_EQ(q.training_steps[i].forward_backward_s, p.training_steps[i].forward_backward_s);
  }
  // Optional keys: activation_checkpointing (false) and threads (0).
  nlohmann::json j = profile_json();
  j["training_step"][0].erase("threads");
  j["training_step"][0].erase("activation_checkpointing");
  EXPECT_EQ(parse_hardware_profile(j, "p.json").training_steps[0].threads, 0);
}

TEST(TrainingStepProfile, BadEntriesAreOneLineErrorsNamingTheField) {
  auto with = [](auto mutate) {
    nlohmann::json j = profile_json();
    mutate(j);
    return message(j);
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {with([](auto& j) { j["training_step"][0]["forward_backward_s"] = 0; }), "training_step[0].forward_backward_s"},
      {with([](auto& j) { j["training_step"][1]["forward_backward_s"] = -0.1; }), "training_step[1].forward_backward_s"},
      {with([](auto& j) { j["training_step"][0]["ranks"] = 0; }), "training_step[0].ranks"},
      {with([](auto& j) { j["training_step"][0]["seq_len"] = -4; }), "training_step[0].seq_len"},
      {with([](auto& j) { j["training_step"][0]["tokens"] = 0; }), "training_step[0].tokens"},
      {with([](auto& j) { j["training_step"][0]["tokens"] = 256; }), "seq_len x micro_batch"},
      {with([](auto& j) { j["training_step"][0]["threads"] = -1; }), "training_step[0].threads"},
      {with([](auto& j) { j["training_step"][0]["precision"] = "fp8"; }), "training_step[0].precision"},
      {with([](auto& j) { j["training_step"][0]["flops"] = 1; }), "flops"},
      {with([](auto& j) { j["training_step"][0].erase("model"); }), "training_step[0].model"},
      {with([](auto& j) { j["training_step"][0].erase("forward_backward_s"); }), "forward_backward_s"},
      {with([](auto& j) { j["training_step"] = 3; }), "training_step"},
      {with([](auto& j) { j["training_step"][0] = 3; }), "training_step[0]"},
      {with([](auto& j) { j["training_step"].push_back(j["training_step"][0]); }), "same shape"},
  };
  for (const auto& [m, field] : cases) {
    EXPECT_NE(m.find("p.json"), std::string::npos) << m;
    EXPECT_NE(m.find(field), std::string::npos) << m << " (expected " << field << ")";
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
}

TEST(TrainingStepProfile, SelectsPrecisionModelThenNearestRanks) {
  const HardwareProfile p = parse_hardware_profile(profile_json(), "p.json");
  const auto& e = p.training_steps;
  EXPECT_EQ(select_training_step(e, Precision::kFp32, "tiny", 1, 128, false), &e[0]);
  EXPECT_EQ(select_training_step(e, Precision::kFp32, "tiny", 2, 128, false), &e[1]);
  EXPECT_EQ(select_training_step(e, Precision::kFp32, "tiny", 4, 128, false), &e[1]);  // nearest: 2
  EXPECT_EQ(select_training_step(e, Precision::kBf16, "tiny", 2, 128, false), &e[2]);   // the only bf16
  EXPECT_EQ(select_training_step(e, Precision::kFp16, "tiny", 1, 128, false), nullptr);
  EXPECT_EQ(select_training_step(e, Precision::kFp32, "other", 1, 128, false), nullptr);
}

using test_models::tiny_model;

PlanContext cpu_context(std::int64_t seq = 128) {
  PlanContext ctx;
  ctx.model = tiny_model();
  ctx.cluster = preset_cluster("cpu", 1);
  ctx.training.seq_len = seq;
  ctx.training.precision = Precision::kFp32;
  return ctx;
}

SimulationResult simulate(const PlanContext& ctx, const HardwareProfile& p, int dp, std::int64_t gas,
                          int stage = 0) {
  Candidate c;
  c.zero_stage = stage;
  c.dp = dp;
  c.micro_batch = 1;
  c.grad_accum = gas;
  SimulationOptions opt;
  opt.profile = &p;
  return simulate_step(ctx, c, opt);
}

// Model FLOPs per token of tiny_model at seq s, forward + backward: 3 x (4 layers x (2 x per-layer params
// + 4 s d_attn) + 2 V h).
double flops_per_token(std::int64_t s) {
  const ParamCounts p = count_params(tiny_model());
  return 3.0 * (4 * (2.0 * static_cast<double>(p.per_layer) + 4.0 * static_cast<double>(s) * 256) + 2.0 * 1000 * 256);
}

TEST(TrainingStepProfile, SimulatorComputeIsTheMeasuredMicroStep) {
  const HardwareProfile p = parse_hardware_profile(profile_json(), "p.json");
  const PlanContext ctx = cpu_context();
  // One rank: the rate is F x 128 / 0.1 s, so one micro-step's compute is exactly 0.1 s: forward 1/3,
  // backward 2/3; gas 4 is four of them.
  const SimulationResult one = simulate(ctx, p, 1, 4);
  EXPECT_NEAR(one.forward_s, 4 * 0.1 / 3, 1e-12);
  EXPECT_NEAR(one.backward_s, 4 * 0.2 / 3, 1e-12);
  EXPECT_NEAR(one.step.compute_s, 0.4, 1e-12);
  // Two ranks per host: the 2-rank entry (0.25 s), not divided by the ranks again.
  const SimulationResult two = simulate(ctx, p, 2, 1);
  // (compute_s also holds the reducer's gradient passes at 2 ranks: GradBufferPasses tests.)
  EXPECT_NEAR(two.forward_s + two.backward_s, 0.25, 1e-12);
  bool noted = false;
  for (const std::string& n : two.notes) noted |= n.find("measured training micro-step") != std::string::npos;
  EXPECT_TRUE(noted);
  // Four ranks: nearest entry (2 ranks), said in the notes.
  const SimulationResult four = simulate(ctx, p, 4, 1);
  EXPECT_NEAR(four.forward_s + four.backward_s, 0.25, 1e-12);
  bool nearest = false;
  for (const std::string& n : four.notes) nearest |= n.find("nearest to this plan's 4 per host") != std::string::npos;
  EXPECT_TRUE(nearest);
  // A plan at seq 256 uses the rate measured at 128: compute = F(256) x 256 / (F(128) x 128 / 0.1).
  const SimulationResult longer = simulate(cpu_context(256), p, 1, 1);
  EXPECT_NEAR(longer.step.compute_s, flops_per_token(256) * 256 / (flops_per_token(128) * 128 / 0.1), 1e-12);
}

TEST(TrainingStepProfile, MeasuredOptimizerStepScalesWithThePartition) {
  nlohmann::json j = profile_json();
  j["training_step"][1]["optimizer_step_s"] = 0.06;  // the 2-rank entry
  j["training_step"][1]["optimizer_params"] = 1000000;
  const HardwareProfile p = parse_hardware_profile(j, "p.json");
  EXPECT_EQ(p.training_steps[1].optimizer_params, 1000000);
  EXPECT_DOUBLE_EQ(parse_hardware_profile(nlohmann::json::parse(hardware_profile_to_json(p).dump()), "q")
                       .training_steps[1].optimizer_step_s,
                   0.06);
  const double params = static_cast<double>(count_params(tiny_model()).total);
  const PlanContext ctx = cpu_context();
  Candidate c;
  c.dp = 2;
  c.micro_batch = 1;
  c.grad_accum = 1;
  SimulationOptions opt;
  opt.profile = &p;
  // Stage 0: every rank updates all parameters; stage 2: half of them.
  c.zero_stage = 0;
  EXPECT_NEAR(simulate_step(ctx, c, opt).step.optimizer_s, 0.06 * params / 1e6, 1e-12);
  c.zero_stage = 2;
  EXPECT_NEAR(simulate_step(ctx, c, opt).step.optimizer_s, 0.06 * (params / 2) / 1e6, 1e-12);
  // The 1-rank entry has none: the AdamW rate of the host, as before (params / 3.5e8).
  EXPECT_NEAR(simulate(ctx, p, 1, 1).step.optimizer_s, params / 3.5e8, 1e-12);
  // Only one of the pair, or a non-positive time: errors naming the field.
  j["training_step"][1].erase("optimizer_params");
  EXPECT_NE(message(j).find("training_step[1].optimizer_params"), std::string::npos) << message(j);
  j["training_step"][1]["optimizer_params"] = 10;
  j["training_step"][1]["optimizer_step_s"] = 0;
  EXPECT_NE(message(j).find("training_step[1].optimizer_step_s"), std::string::npos) << message(j);
}

TEST(TrainingStepProfile, WithoutAMatchingEntryTheMatmulRateStays) {
  nlohmann::json j = profile_json();
  const HardwareProfile with = parse_hardware_profile(j, "p.json");
  j.erase("training_step");
  const HardwareProfile without = parse_hardware_profile(j, "p.json");
  const PlanContext ctx = cpu_context();
  // No entry: FLOPs / (matmul rate / ranks per host), exactly as before.
  const SimulationResult two = simulate(ctx, without, 2, 1);
  EXPECT_NEAR(two.forward_s + two.backward_s, flops_per_token(128) * 128 / (0.05e12 / 2), 1e-12);
  // An fp16 plan has no fp16 entry: same as without the entries (the matmul rate has no fp16 either,
  // so both fall back to the datasheet peak x efficiency).
  PlanContext fp16 = ctx;
  fp16.training.precision = Precision::kFp16;
  EXPECT_DOUBLE_EQ(simulate(fp16, with, 1, 1).step.compute_s, simulate(fp16, without, 1, 1).step.compute_s);
  // A GPU cluster ignores the CPU-measured entries.
  PlanContext gpu = ctx;
  gpu.cluster = preset_cluster("hgx-h100", 1);
  EXPECT_DOUBLE_EQ(simulate(gpu, with, 1, 1).step.compute_s, simulate(gpu, without, 1, 1).step.compute_s);
}

// The reducer's gradient passes (step_simulator.cc GradBufferPasses), per element from the 2-rank entry:
// copy 0.02 s, accumulate 0.018 s, in-step add 0.015 s over 1e6 elements.
TEST(TrainingStepProfile, MeasuredGradientPassesPerBucket) {
  nlohmann::json j = profile_json();
  j["training_step"][1]["optimizer_step_s"] = 0.06;
  j["training_step"][1]["optimizer_params"] = 1000000;
  j["training_step"][1]["grad_copy_s"] = 0.02;
  j["training_step"][1]["grad_accumulate_s"] = 0.018;
  j["training_step"][1]["grad_in_step_s"] = 0.015;
  const HardwareProfile p = parse_hardware_profile(j, "p.json");
  const HardwareProfile q =
      parse_hardware_profile(nlohmann::json::parse(hardware_profile_to_json(p).dump()), "q");
  EXPECT_DOUBLE_EQ(q.training_steps[1].grad_copy_s, 0.02);
  EXPECT_DOUBLE_EQ(q.training_steps[1].grad_accumulate_s, 0.018);
  EXPECT_DOUBLE_EQ(q.training_steps[1].grad_in_step_s, 0.015);
  EXPECT_FALSE(q.training_steps[0].has_grad_passes());

  const PlanContext ctx = cpu_context();
  const ModuleCosts mc = module_costs(ctx.model, 128, 0);
  double P = 0;
  for (double x : mc.params) P += x;
  auto run = [&](int stage, int dp, std::int64_t gas) { return simulate(ctx, p, dp, gas, stage); };
  // Stage 0: every gradient copied (net of the in-step add) and the whole bucket accumulated.
  const SimulationResult s0 = run(0, 2, 1);
  EXPECT_NEAR(s0.grad_buffer_s, (2e-8 - 1.5e-8) * P + 1.8e-8 * P, 1e-12);
  EXPECT_NEAR(s0.step.compute_s, s0.forward_s + s0.backward_s + s0.grad_buffer_s, 1e-12);
  // Stages 2 and 3: the accumulator is the rank's shard, half the bucket.
  EXPECT_NEAR(run(2, 2, 1).grad_buffer_s, (2e-8 - 1.5e-8) * P + 1.8e-8 * P / 2, 1e-12);
  EXPECT_NEAR(run(3, 2, 1).grad_buffer_s, (2e-8 - 1.5e-8) * P + 1.8e-8 * P / 2, 1e-12);
  // Every micro-step, the fast-forwarded ones too (gas 5).
  EXPECT_NEAR(run(0, 2, 5).grad_buffer_s, 5 * s0.grad_buffer_s, 1e-12);
  // No reducer: stage 1 accumulates in place; one process at stage 0 is the single-process engine.
  EXPECT_DOUBLE_EQ(run(1, 2, 1).grad_buffer_s, 0);
  EXPECT_DOUBLE_EQ(run(0, 1, 1).grad_buffer_s, 0);
  // The passes wait for their reduction: the step is at least forward + backward + passes + the
  // all-reduce of the whole gradient.
  EXPECT_GT(s0.step.total_s, s0.step.compute_s);

  // Not measured, on GPUs: streamed bytes over HBM (bf16: copy 2 x 2 bytes, accumulate 2 + 8 bytes per
  // element of the shard; no in-step add in a FLOP rate).
  PlanContext gpu = ctx;
  gpu.cluster = preset_cluster("hgx-h100", 1);
  gpu.training.precision = Precision::kBf16;
  Candidate c;
  c.zero_stage = 2;
  c.dp = 8;
  c.micro_batch = 1;
  c.grad_accum = 1;
  const double hbm = gpu.cluster.gpu.hbm_bandwidth_GBps * 1e9;
  EXPECT_NEAR(simulate_step(gpu, c, SimulationOptions{}).grad_buffer_s, 4.0 * P / hbm + 10.0 * P / 8 / hbm,
              1e-15);

  // The three go together, need optimizer_params and are > 0: errors naming the field.
  nlohmann::json bad = j;
  bad["training_step"][1].erase("grad_in_step_s");
  EXPECT_NE(message(bad).find("training_step[1].grad_in_step_s"), std::string::npos) << message(bad);
  bad = j;
  bad["training_step"][1]["grad_copy_s"] = 0;
  EXPECT_NE(message(bad).find("training_step[1].grad_copy_s"), std::string::npos) << message(bad);
  bad = j;
  bad["training_step"][1].erase("optimizer_params");
  bad["training_step"][1].erase("optimizer_step_s");
  EXPECT_NE(message(bad).find("training_step[1].optimizer_params"), std::string::npos) << message(bad);
}

}  // namespace
}  // namespace zeroplan::sim
