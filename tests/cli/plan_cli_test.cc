// `zeroplan plan` end to end: the built binary on good and bad input. Bad-input cases are data:
// {arguments, expected exit code, a substring of the one stderr line}.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "tests/cli/run_zeroplan.h"

namespace zeroplan {
namespace {

using testing::data_path;
using testing::run_zeroplan;

struct BadInputCase {
  const char* name;
  std::vector<std::string> args;  // after "plan"
  int exit_code;
  const char* stderr_contains;
};

std::vector<BadInputCase> bad_input_cases() {
  return {
      {"malformed_json", {"--model", data_path("not_json.json")}, 2, "not valid JSON"},
      {"missing_field", {"--model", data_path("missing_layers.json")}, 2, "num_hidden_layers"},
      {"negative_field", {"--model", data_path("negative_hidden.json")}, 2, "hidden_size"},
      {"unknown_architecture", {"--model", data_path("unknown_arch.json")}, 2, "GPT2LMHeadModel"},
      {"unknown_model_preset", {"--model", "llama-9-999b"}, 2, "llama-9-999b"},
      {"unknown_cluster_preset", {"--cluster", "3x4-nosuchgpu-1gb"}, 2, "nosuchgpu"},
      {"cluster_unknown_key", {"--cluster", data_path("cluster_unknown_key.json")}, 2, "gpus"},
      {"cluster_size_without_unit", {"--cluster", data_path("cluster_bare_memory.json")}, 2, "cpu_memory"},
      {"cpu_memory_without_unit", {"--cpu-memory", "512"}, 2, "--cpu-memory"},
      {"cpu_memory_unknown_unit", {"--cpu-memory", "512 parsecs"}, 2, "--cpu-memory"},
      {"bucket_size_in_bytes", {"--reduce-bucket-size", "5GB"}, 2, "--reduce-bucket-size"},
      {"global_batch_not_divisible", {"--global-batch", "63"}, 2, "--global-batch"},
      {"batch_rule_violated", {"--global-batch", "64", "--micro-batch", "2", "--grad-accum", "3"}, 2, "batch rule"},
      {"micro_batch_not_dividing", {"--global-batch", "64", "--micro-batch", "3"}, 2, "--micro-batch"},
      {"negative_micro_batch", {"--micro-batch", "-1"}, 2, "must be a positive integer"},
      {"zero_nodes", {"--nodes", "0"}, 2, "--nodes"},
      {"fractional_seq_len", {"--seq-len", "2048.5"}, 2, "--seq-len"},
      {"zero_stage_out_of_range", {"--zero-stage", "4"}, 2, "--zero-stage"},
      {"param_offload_needs_stage3", {"--zero-stage", "2", "--offload-param", "cpu"}, 2, "--offload-param"},
      {"unknown_precision", {"--precision", "fp8"}, 2, "--precision"},
      {"headroom_above_one", {"--headroom", "1.5"}, 2, "--headroom"},
      {"unknown_flag", {"--zero-stages", "3"}, 2, "--zero-stages"},
      {"ds_config_unknown_key", {"--ds-config-in", data_path("ds_unknown_key.json"), "--micro-batch", "1"}, 2,
       "zero_optimization.stage3_prefetch_bucket"},
      {"ds_config_batch_rule", {"--ds-config-in", data_path("ds_bad_batch.json")}, 2, "train_batch_size"},
      {"ds_config_auto_without_flag", {"--ds-config-in", data_path("ds_hf_auto.json")}, 2, "--micro-batch"},
      {"ds_config_missing_file", {"--ds-config-in", data_path("no_such_ds.json")}, 2, "no_such_ds.json"},
      {"ds_config_with_stage_flag", {"--ds-config-in", data_path("ds_hf_auto.json"), "--zero-stage", "2"}, 2,
       "--ds-config-in"},
      {"unknown_step_model", {"--step-model", "astrology"}, 2, "--step-model"},
      {"hardware_profile_unknown_key", {"--hardware-profile", data_path("hardware_profile_unknown_key.json")}, 2,
       "matmul_tflop"},
      {"hardware_profile_missing", {"--hardware-profile", data_path("no_such_profile.json")}, 2,
       "no_such_profile.json"},
      {"hardware_profile_with_roofline",
       {"--step-model", "roofline", "--hardware-profile", data_path("hardware_profile_slow_matmul.json")}, 2,
       "--hardware-profile"},
  };
}

TEST(PlanCli, BadInputIsOneLineOnStderrAndExitTwo) {
  for (const BadInputCase& c : bad_input_cases()) {
    SCOPED_TRACE(c.name);
    std::vector<std::string> args = {"plan"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const auto r = run_zeroplan(args);
    EXPECT_EQ(r.exit_code, c.exit_code) << r.err;
    EXPECT_NE(r.err.find(c.stderr_contains), std::string::npos) << r.err;
    // Exactly one line, starting with "zeroplan: ".
    ASSERT_FALSE(r.err.empty());
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
    EXPECT_EQ(r.err.rfind("zeroplan: ", 0), 0u) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

TEST(PlanCli, HelpListsTheFlags) {
  const auto r = run_zeroplan({"plan", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag : {"--model", "--cluster", "--nodes", "--gpus-per-node", "--seq-len", "--global-batch",
                           "--precision", "--activation-checkpointing", "--attention", "--headroom", "--cpu-memory",
                           "--zero-stage", "--offload-optimizer", "--offload-param", "--micro-batch", "--grad-accum",
                           "--reduce-bucket-size", "--top", "--json", "--out", "--ds-config", "--ds-config-in"}) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  }
  EXPECT_NE(r.out.find("0.8-0.9"), std::string::npos);  // the headroom rule
}

TEST(PlanCli, QuickstartCommandPrintsAPlan) {
  const auto r = run_zeroplan({"plan", "--model", "llama-2-7b", "--seq-len", "2048", "--global-batch", "64",
                               "--precision", "fp16"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  // First line restates the request.
  const std::string first = r.out.substr(0, r.out.find('\n'));
  EXPECT_NE(first.find("llama-2-7b (6.74 B params)"), std::string::npos) << first;
  EXPECT_NE(first.find("1 node x 4"), std::string::npos) << first;
  EXPECT_NE(first.find("fp16 + fp32 master"), std::string::npos) << first;
  EXPECT_NE(r.out.find("\n rank"), std::string::npos);
  EXPECT_NE(r.out.find("\n 1 "), std::string::npos);
  EXPECT_NE(r.out.find("rejected:"), std::string::npos);
  EXPECT_NE(r.out.find("model states"), std::string::npos);
  EXPECT_NE(r.out.find("DeepSpeed's estimator"), std::string::npos);
}

TEST(PlanCli, DoneWhenCommandGivesExactCountsZeroStatesAndDeepSpeedsEstimate) {
  const auto r = run_zeroplan({"plan", "--model", data_path("tinyllama-1.1b/config.json"), "--cluster",
                               "1x8-h100-80gb", "--zero-stage", "3", "--offload-optimizer", "cpu", "--offload-param",
                               "none", "--micro-batch", "1", "--grad-accum", "1", "--seq-len", "2048", "--precision",
                               "bf16", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["schema"], "zeroplan.plan/v1");
  const std::int64_t P = 1100048384;  // sum of TinyLlama-1.1B's checkpoint tensors
  EXPECT_EQ(j["model"]["num_params"].get<std::int64_t>(), P);
  EXPECT_EQ(j["model"]["largest_layer_params"].get<std::int64_t>(), 32000 * 2048);
  EXPECT_EQ(j["training"]["global_batch"], 8);
  ASSERT_EQ(j["candidates"].size(), 1u);
  const auto& c = j["candidates"][0];
  EXPECT_EQ(c, j["best"]);
  EXPECT_EQ(c["zero_stage"], 3);
  EXPECT_EQ(c["offload_optimizer"], "cpu");
  EXPECT_EQ(c["offload_param"], "none");
  EXPECT_EQ(c["dp"], 8);
  // ZeRO paper, stage 3 with the optimizer offloaded: the GPU keeps its 2Ψ/N bf16 partition and no
  // optimizer states; the node's CPU holds the 12Ψ/N fp32 states of each of its 8 ranks.
  const std::int64_t partition = (P + 7) / 8;
  const auto& gpu = c["memory"]["gpu"];
  EXPECT_EQ(gpu["params"].get<std::int64_t>(), 2 * partition);
  EXPECT_EQ(gpu["optimizer_states"].get<std::int64_t>(), 0);
  EXPECT_EQ(c["memory"]["cpu"]["optimizer_states"].get<std::int64_t>(), 12 * partition * 8);
  // DeepSpeed 0.19 estimate_zero3_model_states_mem_needs(cpu_offload=True, cpu_offload_params=False,
  // zero_init=True): GPU 4·largest_layer + int(2·P/N); CPU int(P·16·(1/nodes)·1.5).
  EXPECT_EQ(c["deepspeed_estimate"]["gpu"].get<std::int64_t>(), 4 * 65536000 + (2 * P) / 8);
  EXPECT_EQ(c["deepspeed_estimate"]["cpu"].get<std::int64_t>(), static_cast<std::int64_t>(P * 16 * 1.5));
  EXPECT_TRUE(c["fits"].get<bool>());
  EXPECT_GT(c["step_time_s"].get<double>(), 0);
}

TEST(PlanCli, StageThreeWithoutOffloadIsSixteenPsiOverN) {
  const auto r = run_zeroplan({"plan", "--model", data_path("qwen2.5-0.5b"), "--cluster", "1x8-h100-80gb",
                               "--zero-stage", "3", "--offload-optimizer", "none", "--offload-param", "none",
                               "--micro-batch", "1", "--grad-accum", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const std::int64_t P = 494032768;  // Qwen2.5-0.5B, tied embeddings, q/k/v biases
  EXPECT_EQ(j["model"]["num_params"].get<std::int64_t>(), P);
  const auto& gpu = j["best"]["memory"]["gpu"];
  const std::int64_t states = gpu["params"].get<std::int64_t>() + gpu["gradients"].get<std::int64_t>() +
                              gpu["optimizer_states"].get<std::int64_t>();
  EXPECT_EQ(states, 16 * ((P + 7) / 8));
  EXPECT_EQ(j["training"]["global_batch"], 16);
}

TEST(PlanCli, EvaluationModeExitsZeroEvenWhenItDoesNotFit) {
  const auto r = run_zeroplan({"plan", "--model", "llama-2-7b", "--zero-stage", "0", "--offload-optimizer", "none",
                               "--offload-param", "none", "--micro-batch", "1", "--grad-accum", "16"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("NO FIT"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("model states"), std::string::npos) << r.out;
}

TEST(PlanCli, NothingFitsSaysWhatWouldAndExitsThree) {
  const auto r = run_zeroplan({"plan", "--model", "llama-2-70b", "--cluster", "1x4-rtx4090-24gb", "--cpu-memory",
                               "128GiB", "--global-batch", "64"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.out.find("nothing fits"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("what would fit"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--nodes"), std::string::npos) << r.out;
  const auto j = run_zeroplan({"plan", "--model", "llama-2-70b", "--cluster", "1x4-rtx4090-24gb", "--cpu-memory",
                               "128GiB", "--global-batch", "64", "--json"});
  EXPECT_EQ(j.exit_code, 3);
  const auto plan = nlohmann::json::parse(j.out);
  EXPECT_TRUE(plan["best"].is_null());
  ASSERT_FALSE(plan["suggestions"].empty());
  EXPECT_TRUE(plan["suggestions"][0]["best"]["fits"].get<bool>());
}

TEST(PlanCli, WritesPlanAndDeepSpeedConfigThatReadBack) {
  const std::string dir = ::testing::TempDir();
  const std::string plan_path = dir + "/cli_plan.json", ds_path = dir + "/cli_ds.json";
  const auto r = run_zeroplan({"plan", "--model", "tinyllama-1.1b", "--cluster", "1x8-a100-80gb", "--global-batch",
                               "32", "--out", plan_path, "--ds-config", ds_path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("wrote " + plan_path + ", " + ds_path), std::string::npos) << r.out;
  const auto ds = nlohmann::json::parse(testing::slurp(ds_path));
  EXPECT_EQ(ds["train_batch_size"].get<int>(),
            ds["train_micro_batch_size_per_gpu"].get<int>() * ds["gradient_accumulation_steps"].get<int>() * 8);
  EXPECT_EQ(ds["train_batch_size"], 32);
  const auto plan = nlohmann::json::parse(testing::slurp(plan_path));
  EXPECT_EQ(plan["best"]["micro_batch"], ds["train_micro_batch_size_per_gpu"]);
  EXPECT_EQ(plan["best"]["zero_stage"], ds["zero_optimization"]["stage"]);
  // The written DeepSpeed config evaluates to the same candidate and memory.
  const auto back = run_zeroplan({"plan", "--model", "tinyllama-1.1b", "--cluster", "1x8-a100-80gb", "--ds-config-in",
                                  ds_path, "--json"});
  ASSERT_EQ(back.exit_code, 0) << back.err;
  const auto evaluated = nlohmann::json::parse(back.out);
  EXPECT_EQ(evaluated["best"]["memory"], plan["best"]["memory"]);
  EXPECT_EQ(evaluated["best"]["grad_accum"], plan["best"]["grad_accum"]);
}

TEST(PlanCli, EvaluatesAnHfTrainerConfigWithAutoValues) {
  const auto r = run_zeroplan({"plan", "--model", "llama-2-7b", "--cluster", "1x8-h100-80gb", "--ds-config-in",
                               data_path("ds_hf_auto.json"), "--micro-batch", "2", "--grad-accum", "4", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const auto& c = j["best"];
  EXPECT_EQ(c["zero_stage"], 3);
  EXPECT_EQ(c["offload_optimizer"], "cpu");
  EXPECT_EQ(c["reduce_bucket_size"], 4096u * 4096u);
  EXPECT_EQ(c["prefetch_bucket_size"], 15099494u);
  EXPECT_EQ(c["param_persistence_threshold"], 40960u);
  EXPECT_EQ(j["training"]["global_batch"], 64);
  EXPECT_EQ(j["training"]["precision"], "bf16");  // "auto" follows --precision (default bf16)
}

}  // namespace
}  // namespace zeroplan

namespace zeroplan {
namespace {

// tinyllama-1.1b, ZeRO-3 on 1x8 H100, one fixed configuration (fast), with extra flags.
testing::RunResult plan_tinyllama_json(const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"plan", "--model", "tinyllama-1.1b", "--cluster", "1x8-h100-80gb", "--zero-stage",
                                   "3", "--offload-optimizer", "none", "--offload-param", "none", "--micro-batch", "1",
                                   "--grad-accum", "1", "--seq-len", "2048", "--precision", "bf16", "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  return testing::run_zeroplan(args);
}

// Issue 3: "the planner ranks candidates with the simulator" -- by default, and plan.json says so.
TEST(PlanCli, RanksWithTheSimulatorByDefaultAndSaysSo) {
  const auto sim = plan_tinyllama_json({});
  ASSERT_EQ(sim.exit_code, 0) << sim.err;
  const auto j = nlohmann::json::parse(sim.out);
  EXPECT_EQ(j["step_time_model"], "simulator");
  EXPECT_TRUE(j["hardware_profile"].is_null());
  const auto roof = plan_tinyllama_json({"--step-model", "roofline"});
  ASSERT_EQ(roof.exit_code, 0) << roof.err;
  const auto r = nlohmann::json::parse(roof.out);
  EXPECT_EQ(r["step_time_model"], "roofline");
  // Two different models: the same configuration gets different step times.
  EXPECT_NE(j["best"]["step_time_s"].get<double>(), r["best"]["step_time_s"].get<double>());
  // The table's last line names the model too.
  const auto table = testing::run_zeroplan({"plan", "--model", "tinyllama-1.1b", "--cluster", "1x8-h100-80gb"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("step times: simulator model"), std::string::npos) << table.out;
}

// A measured profile replaces the datasheet figures in the ranking: a 1 TFLOP/s bf16 matmul rate makes
// the compute of the same configuration far slower than the H100's 989 TFLOP/s peak would.
TEST(PlanCli, HardwareProfileFeedsTheSimulatorsStepTime) {
  const std::string profile = testing::data_path("hardware_profile_slow_matmul.json");
  const auto base = plan_tinyllama_json({});
  const auto slow = plan_tinyllama_json({"--hardware-profile", profile});
  ASSERT_EQ(base.exit_code, 0) << base.err;
  ASSERT_EQ(slow.exit_code, 0) << slow.err;
  const auto b = nlohmann::json::parse(base.out);
  const auto s = nlohmann::json::parse(slow.out);
  EXPECT_EQ(s["hardware_profile"], profile);
  EXPECT_EQ(s["step_time_model"], "simulator");
  const double base_compute = b["best"]["step"]["compute_s"].get<double>();
  const double slow_compute = s["best"]["step"]["compute_s"].get<double>();
  EXPECT_GT(slow_compute, 100 * base_compute);
  EXPECT_GT(s["best"]["step_time_s"].get<double>(), b["best"]["step_time_s"].get<double>());
}

// GPUs on PCIe with peer-to-peer (L40S, A10 presets: topology "pcie") plan with the simulator.
TEST(PlanCli, PciePresetsPlanWithTheSimulator) {
  for (const char* cluster : {"1x8-l40s-48gb", "1x4-a10-24gb"}) {
    const auto r = testing::run_zeroplan({"plan", "--model", "tinyllama-1.1b", "--cluster", cluster, "--json"});
    EXPECT_EQ(r.exit_code, 0) << cluster << ": " << r.err;
    if (r.exit_code == 0) {
      EXPECT_EQ(nlohmann::json::parse(r.out)["step_time_model"], "simulator");
    }
  }
}

// Issue 6 item 4: plans for CPU runs. Two CPU ranks on this host, fp32.
TEST(PlanCli, LocalCpuPlansFitWithoutCudaOverhead) {
  const auto r = testing::run_zeroplan({"plan", "--model", "tiny-llama-25m", "--cluster", "local-cpu",
                                        "--gpus-per-node", "2", "--seq-len", "128", "--global-batch", "8",
                                        "--precision", "fp32", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["cluster"]["gpus_per_node"], 2);
  EXPECT_EQ(j["cluster"]["gpu"]["kind"], "cpu");
  EXPECT_EQ(j["cluster"]["topology"], "cpu");
  // Each rank's budget is half the host.
  const auto host = j["cluster"]["cpu_memory_bytes_per_node"].get<std::uint64_t>();
  EXPECT_EQ(j["cluster"]["gpu"]["memory_bytes"].get<std::uint64_t>(), host / 2);
  ASSERT_FALSE(j["best"].is_null());
  ASSERT_FALSE(j["candidates"].empty());
  for (const auto& c : j["candidates"]) {
    EXPECT_TRUE(c["fits"].get<bool>());
    EXPECT_EQ(c["memory"]["gpu"]["overhead"].get<std::uint64_t>(), 0u);  // no CUDA context, no NCCL
    EXPECT_EQ(c["dp"], 2);
    // Ranks and offloaded states share the host.
    EXPECT_LE(2 * c["memory"]["gpu"]["total"].get<std::uint64_t>() + c["memory"]["cpu"]["total"].get<std::uint64_t>(),
              j["usable_cpu_bytes"].get<std::uint64_t>());
  }
  // --cpu-memory sets the host: the ranks' budget follows.
  const auto small = testing::run_zeroplan({"plan", "--model", "tiny-llama-25m", "--cluster", "local-cpu",
                                            "--gpus-per-node", "4", "--cpu-memory", "8GiB", "--seq-len", "128",
                                            "--global-batch", "8", "--precision", "fp32", "--json"});
  ASSERT_EQ(small.exit_code, 0) << small.err;
  EXPECT_EQ(nlohmann::json::parse(small.out)["cluster"]["gpu"]["memory_bytes"].get<std::uint64_t>(), 2ull << 30);
  // The table speaks of ranks, not GPUs, on CPU ranks.
  const auto table = testing::run_zeroplan({"plan", "--model", "tiny-llama-25m", "--cluster", "local-cpu",
                                            "--gpus-per-node", "2", "--seq-len", "128", "--global-batch", "8",
                                            "--precision", "fp32"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("rank peak"), std::string::npos) << table.out;
  EXPECT_EQ(table.out.find("GPU peak"), std::string::npos) << table.out;
}

}  // namespace
}  // namespace zeroplan
