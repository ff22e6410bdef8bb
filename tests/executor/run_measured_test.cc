// `zeroplan run` profiles itself: RUN_DIR/measured.json (read back with reports::read_measured_run,
// the reader `zeroplan compare` uses) charges the engine's flat buffers to the plan's categories,
// and RUN_DIR/trace.json is a Chrome trace. `run --plan` takes its batch shape from a plan's
// candidate and `compare` accepts the result. Drives the zeroplan binary on a tiny random Llama.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "reports/measured_run.h"

namespace {

namespace fs = std::filesystem;

struct Result {
  int exit_code = -1;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result run_zeroplan(const std::string& args, const fs::path& dir) {
  const fs::path out = dir / "stdout.txt", err = dir / "stderr.txt";
  const std::string cmd = std::string(ZEROPLAN_BINARY) + " " + args + " >" + out.string() + " 2>" + err.string();
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
}

// The test model: hidden 32, intermediate 64, 2 layers, 4 heads of 8, 2 KV heads, vocab 2000, tied.
//   embedding 2000*32 = 64000; per layer q 32*32 + k 32*16 + v 32*16 + o 32*32 = 3072,
//   MLP 3*32*64 = 6144, two norms 2*32 = 64 -> 9280; final norm 32.
constexpr std::int64_t kNumParams = 64000 + 2 * 9280 + 32;

class RunMeasured : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir = fs::temp_directory_path() / ("zp_run_measured_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::ofstream(dir / "tiny.json") << R"({"name": "measured-tiny", "architectures": ["LlamaForCausalLM"],
      "model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
      "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 2000,
      "max_position_embeddings": 256, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
      "tie_word_embeddings": true})";
  }
  static void TearDownTestSuite() { fs::remove_all(dir); }

  static std::string data_args() {
    const std::string src = ZEROPLAN_SOURCE_DIR;
    return " --model " + (dir / "tiny.json").string() + " --init random --tokenizer " + src +
           "/configs/tokenizers/tiny-sp.model --data " + src + "/configs/data/sample-alpaca.jsonl --threads 1";
  }
  static fs::path dir;
};
fs::path RunMeasured::dir;

TEST_F(RunMeasured, WritesMeasuredJsonWithTheEngineBuffersByCategoryAndATrace) {
  const fs::path run = dir / "run";
  const Result r = run_zeroplan("run" + data_args() + " --steps 3 --micro-batch 2 --grad-accum 2 --max-seq-len 64 "
                                "--activation-checkpointing --out " + run.string(), dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const zeroplan::reports::MeasuredRun m = zeroplan::reports::read_measured_run((run / "measured.json").string());
  EXPECT_EQ(m.device.kind, "cpu");
  ASSERT_EQ(m.ranks.size(), 1u);
  const auto& rank = m.ranks[0];
  // fp32: the parameters are views of the fp32 master buffer; one fp32 gradient; two Adam moments.
  EXPECT_EQ(rank.peak.params, static_cast<std::uint64_t>(kNumParams) * 4);
  EXPECT_EQ(rank.peak.gradients, static_cast<std::uint64_t>(kNumParams) * 4);
  EXPECT_EQ(rank.peak.optimizer_states, static_cast<std::uint64_t>(kNumParams) * 8);
  EXPECT_GT(rank.peak.activations, 0u);
  EXPECT_GE(rank.peak.total, rank.peak.params + rank.peak.gradients + rank.peak.optimizer_states);
  EXPECT_EQ(rank.step_times_s.size(), 3u);
  for (const char* phase : {"forward", "backward", "optimizer_step"}) {
    ASSERT_TRUE(rank.by_phase.count(phase)) << phase;
    EXPECT_GT(rank.by_phase.at(phase).wall_s, 0.0) << phase;
  }
  EXPECT_EQ(rank.by_phase.at("forward").count, 6);  // 3 steps x grad-accum 2
  EXPECT_EQ(rank.by_phase.at("optimizer_step").count, 3);

  // The candidate that ran, as plan.json writes candidates.
  EXPECT_EQ(m.config.at("zero_stage"), 0);
  EXPECT_EQ(m.config.at("dp"), 1);
  EXPECT_EQ(m.config.at("micro_batch"), 2);
  EXPECT_EQ(m.config.at("grad_accum"), 2);
  EXPECT_EQ(m.config.at("activation_checkpointing"), true);
  EXPECT_EQ(m.config.at("offload_optimizer"), "none");

  const nlohmann::json trace = nlohmann::json::parse(slurp(run / "trace.json"));
  ASSERT_TRUE(trace.contains("traceEvents"));
  ASSERT_TRUE(trace["traceEvents"].is_array());
  int forward_events = 0;
  for (const auto& e : trace["traceEvents"]) forward_events += e.value("name", "") == "forward";
  EXPECT_EQ(forward_events, 6);
}

// plan -> run --plan -> compare: the run takes its batch shape from the plan's candidate, and
// compare accepts the run (exit 0, or 4 when the prediction is off by more than the tolerance).
TEST_F(RunMeasured, RunsThePlansCandidateAndCompareAcceptsTheRun) {
  const std::string plan = (dir / "plan.json").string();
  const Result p = run_zeroplan("plan --model " + (dir / "tiny.json").string() +
                                    " --cluster local-cpu --gpus-per-node 1 --seq-len 64 --global-batch 4 "
                                    "--precision fp32 --zero-stage 0 --offload-optimizer none --offload-param none "
                                    "--micro-batch 2 --grad-accum 2 --out " + plan, dir);
  ASSERT_EQ(p.exit_code, 0) << p.err;
  const fs::path run = dir / "planned";
  const Result r = run_zeroplan("run --plan " + plan + data_args() + " --steps 3 --out " + run.string(), dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // From the plan, not the defaults (micro-batch 1, grad-accum 1, max-seq-len 512).
  EXPECT_NE(r.out.find("micro-batch 2 x grad-accum 2"), std::string::npos) << r.out;
  const auto m = zeroplan::reports::read_measured_run((run / "measured.json").string());
  EXPECT_EQ(m.config.at("micro_batch"), 2);
  EXPECT_TRUE(m.config.contains("memory")) << "config is the plan's candidate, predictions included";

  const Result c = run_zeroplan("compare --plan " + plan + " --run " + run.string() + " --json", dir);
  ASSERT_TRUE(c.exit_code == 0 || c.exit_code == 4) << c.exit_code << "\n" << c.err;
  const nlohmann::json cmp = nlohmann::json::parse(c.out);
  ASSERT_EQ(cmp.at("ranks").size(), 1u);
  const auto& cats = cmp["ranks"][0].at("categories");
  for (const char* cat : {"params", "gradients", "optimizer_states"}) {
    // Model states of a stage 0 fp32 run are exact: 4 + 4 + 8 bytes per parameter.
    EXPECT_EQ(cats.at(cat).at("measured"), cats.at(cat).at("predicted")) << cat;
  }
  EXPECT_EQ(cats.at("params").at("measured").get<std::int64_t>(), kNumParams * 4);
  EXPECT_GT(cats.at("activations").at("measured").get<std::int64_t>(), 0);
}

TEST_F(RunMeasured, PlanErrorsAreOneLineAndExitTwo) {
  const std::string plan = (dir / "plan_err.json").string(), plan_dp2 = (dir / "plan_dp2.json").string();
  const std::string common = "plan --model " + (dir / "tiny.json").string() +
                             " --cluster local-cpu --seq-len 64 --global-batch 4 --precision fp32 "
                             "--offload-optimizer none --offload-param none --micro-batch 2 ";
  ASSERT_EQ(run_zeroplan(common + "--gpus-per-node 1 --zero-stage 0 --grad-accum 2 --out " + plan, dir).exit_code, 0);
  ASSERT_EQ(run_zeroplan(common + "--gpus-per-node 2 --zero-stage 1 --grad-accum 1 --out " + plan_dp2, dir).exit_code,
            0);
  // A plan for another model (intermediate 128: each layer's MLP is 3*32*128 = 12288, not 6144).
  const std::string wide = (dir / "wide.json").string(), plan_wide = (dir / "plan_wide.json").string();
  nlohmann::json wide_config = nlohmann::json::parse(slurp(dir / "tiny.json"));
  wide_config["name"] = "measured-wide";
  wide_config["intermediate_size"] = 128;
  std::ofstream(wide) << wide_config.dump();
  constexpr std::int64_t kWideParams = kNumParams + 2 * (12288 - 6144);
  const std::string wide_plan = "plan --model " + wide + common.substr(common.find(" --cluster"));
  ASSERT_EQ(run_zeroplan(wide_plan + "--gpus-per-node 1 --zero-stage 0 --grad-accum 2 --out " + plan_wide, dir)
                .exit_code, 0);
  const std::string out = " --steps 1 --out " + (dir / "never").string();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"run --plan " + plan_dp2 + data_args() + out,
       "planned for dp 2 but this job has 1 rank: run it with --nproc-per-node 2"},
      {"run --plan " + plan_dp2 + data_args() + " --nproc-per-node 2 --zero-stage 2" + out,
       "--zero-stage 2 disagrees with " + plan_dp2 + " candidate #1 (zero_stage 1)"},
      {"run --plan " + plan + data_args() + " --micro-batch 4" + out,
       "--micro-batch 4 disagrees with " + plan + " candidate #1 (micro_batch 2)"},
      {"run --plan " + plan + data_args() + " --max-seq-len 128" + out, "(seq_len 64)"},
      {"run --plan " + plan + data_args() + " --activation-checkpointing" + out, "(activation_checkpointing off)"},
      {"run --plan " + plan + " --candidate 3" + data_args() + out, "--candidate 3 is out of range"},
      {"run --candidate 1" + data_args() + out, "--candidate K goes with --plan"},
      {"run --plan " + (dir / "missing.json").string() + data_args() + out, "missing.json"},
      {"run --plan " + plan_wide + data_args() + out, "was planned for measured-wide (" + std::to_string(kWideParams)},
  };
  for (const auto& [args, needle] : cases) {
    const Result r = run_zeroplan(args, dir);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  // Explicit flags that agree with the plan are fine.
  const Result ok = run_zeroplan("run --plan " + plan + data_args() +
                                     " --micro-batch 2 --grad-accum 2 --max-seq-len 64 --precision fp32 --steps 1 "
                                     "--out " + (dir / "agree").string(), dir);
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  // The dp-2 stage-1 plan on 2 ranks: both ranks in measured.json, the plan's candidate as config.
  const fs::path two = dir / "two_ranks";
  const Result r2 = run_zeroplan("run --plan " + plan_dp2 + data_args() + " --nproc-per-node 2 --steps 2 --out " +
                                     two.string(), dir);
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_NE(r2.out.find("2 ranks (gloo), ZeRO stage 1"), std::string::npos) << r2.out;
  const auto m2 = zeroplan::reports::read_measured_run((two / "measured.json").string());
  ASSERT_EQ(m2.ranks.size(), 2u);
  EXPECT_EQ(m2.config.at("dp"), 2);
  EXPECT_EQ(m2.config.at("zero_stage"), 1);
}

}  // namespace
