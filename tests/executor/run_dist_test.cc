// `zeroplan run --nproc-per-node N` end to end (Gloo on loopback, fp32, a tiny random Llama, 20
// steps): the losses of every ZeRO configuration equal the single-process run's within 1e-5
// relative at the same global batch (the sampler hands rank r the samples r, r + world, ...;
// the loss is normalised by the label tokens of the whole global batch), gradient accumulation
// 1 vs 4 agree, and a rank that dies, throws or hangs ends the job with ONE line naming it.
//
// Tests as data: kRows lists the configurations. Rows whose stage/offload the engine does not
// support yet (make_zero_engine throws InputError "... not supported ...") are skipped with a
// message saying so -- only that case; any other failure fails. This file is compiled twice: the
// `fast` binary runs the rows with slow = false, the `slow` one (RUN_DIST_SLOW) the others.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <sstream>

namespace {

namespace fs = std::filesystem;

#ifdef RUN_DIST_SLOW
constexpr bool kSlowBinary = true;
#else
constexpr bool kSlowBinary = false;
#endif

struct Result {
  int exit_code = -1;
  std::string out, err;
  double seconds = 0;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string slurp_binary(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path test_dir() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("zp_run_dist_" + std::to_string(::getpid()));
    fs::remove_all(d);
    fs::create_directories(d);
    std::ofstream(d / "tiny.json") << R"({"name": "dist-tiny", "architectures": ["LlamaForCausalLM"],
      "model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
      "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 2000,
      "max_position_embeddings": 256, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
      "tie_word_embeddings": true})";
    return d;
  }();
  return dir;
}

Result run_zeroplan(const std::string& args, const std::string& tag) {
  const fs::path out = test_dir() / (tag + ".stdout"), err = test_dir() / (tag + ".stderr");
  const std::string cmd = std::string(ZEROPLAN_BINARY) + " " + args + " >" + out.string() + " 2>" + err.string();
  const auto start = std::chrono::steady_clock::now();
  const int status = std::system(cmd.c_str());
  Result r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

std::string base_args(int steps) {
  const std::string src = ZEROPLAN_SOURCE_DIR;
  return "run --model " + (test_dir() / "tiny.json").string() + " --init random --seed 5 --tokenizer " + src +
         "/configs/tokenizers/tiny-sp.model --data " + src +
         "/configs/data/sample-alpaca.jsonl --max-seq-len 64 --lr 3e-3 --threads 1 --steps " + std::to_string(steps);
}

// 20 steps of a global batch of 8 (160 of the 219 examples: no epoch boundary).
std::string train_args(int micro, int accum, int steps = 20) {
  return base_args(steps) + " --micro-batch " + std::to_string(micro) + " --grad-accum " + std::to_string(accum);
}

std::vector<double> losses(const fs::path& metrics) {
  std::vector<double> out;
  std::ifstream in(metrics);
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line).at("loss").get<double>());
  return out;
}

// The single-process trajectory at global batch 8 (computed once).
const std::vector<double>& reference_losses() {
  static const std::vector<double> ref = [] {
    const fs::path dir = test_dir() / "reference";
    const Result r = run_zeroplan(train_args(2, 4) + " --out " + dir.string(), "reference");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return losses(dir / "metrics.jsonl");
  }();
  return ref;
}

int error_lines(const std::string& err) {
  int n = 0;
  std::istringstream in(err);
  for (std::string line; std::getline(in, line);) n += line.rfind("zeroplan:", 0) == 0;
  return n;
}

struct Row {
  const char* name;
  int ranks;
  int stage;
  const char* offload_optimizer;  // "none" | "cpu"
  const char* offload_param;
  int micro, accum;  // micro x accum x ranks = 8
  bool slow;
};

const Row kRows[] = {
    {"stage0_2ranks", 2, 0, "none", "none", 2, 2, false},
    {"stage1_2ranks", 2, 1, "none", "none", 2, 2, false},
    {"stage1_2ranks_accum1", 2, 1, "none", "none", 4, 1, false},
    {"stage1_2ranks_accum4", 2, 1, "none", "none", 1, 4, false},
    {"stage2_2ranks", 2, 2, "none", "none", 2, 2, false},
    {"stage3_2ranks", 2, 3, "none", "none", 2, 2, false},
    {"stage1_offload_2ranks", 2, 1, "cpu", "none", 2, 2, false},
    {"stage2_offload_2ranks", 2, 2, "cpu", "none", 2, 2, false},
    {"stage3_offload_2ranks", 2, 3, "cpu", "none", 2, 2, false},
    {"stage3_offload_param_2ranks", 2, 3, "cpu", "cpu", 2, 2, false},
    {"stage0_4ranks", 4, 0, "none", "none", 1, 2, true},
    {"stage1_4ranks", 4, 1, "none", "none", 1, 2, false},
    {"stage2_4ranks", 4, 2, "none", "none", 1, 2, false},
    {"stage3_4ranks", 4, 3, "none", "none", 1, 2, false},
};

// ctest shows the row's name, not its bytes.
void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }

class RunEquivalence : public ::testing::TestWithParam<Row> {};

TEST_P(RunEquivalence, LossesMatchTheSingleProcessRun) {
  const Row& row = GetParam();
  const std::vector<double>& ref = reference_losses();
  ASSERT_EQ(ref.size(), 20u);
  const fs::path dir = test_dir() / row.name;
  const Result r = run_zeroplan(train_args(row.micro, row.accum) + " --nproc-per-node " + std::to_string(row.ranks) +
                                    " --zero-stage " + std::to_string(row.stage) + " --offload-optimizer " +
                                    row.offload_optimizer + " --offload-param " + row.offload_param +
                                    " --timeout-s 60 --out " + dir.string(),
                                row.name);
  if (r.exit_code == 2 && r.err.find("not supported") != std::string::npos && error_lines(r.err) == 1)
    GTEST_SKIP() << "make_zero_engine does not support this configuration yet: " << r.err;
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(error_lines(r.err), 0) << r.err;
  // Rank 0 alone prints: one summary line, one final line, one progress line per step.
  EXPECT_NE(r.out.find(std::to_string(row.ranks) + " ranks (gloo), ZeRO stage " + std::to_string(row.stage)),
            std::string::npos) << r.out;
  int progress = 0;
  std::istringstream err_lines(r.err);
  for (std::string line; std::getline(err_lines, line);) progress += line.rfind("step ", 0) == 0;
  EXPECT_EQ(progress, 20) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << r.out;

  const std::vector<double> got = losses(dir / "metrics.jsonl");
  ASSERT_EQ(got.size(), ref.size());
  for (std::size_t i = 0; i < ref.size(); ++i)
    EXPECT_NEAR(got[i], ref[i], 1e-5 * std::abs(ref[i])) << row.name << " step " << i + 1;
  // measured.json holds every rank; each rank wrote its own part.
  const auto measured = nlohmann::json::parse(slurp(dir / "measured.json"));
  ASSERT_EQ(measured.at("ranks").size(), static_cast<std::size_t>(row.ranks));
  for (int q = 0; q < row.ranks; ++q) {
    EXPECT_EQ(measured["ranks"][q].at("rank").get<int>(), q);
    EXPECT_TRUE(fs::exists(dir / ("measured_rank" + std::to_string(q) + ".json")));
  }
  EXPECT_EQ(measured.at("config").at("zero_stage").get<int>(), row.stage);
  EXPECT_EQ(measured.at("config").at("dp").get<int>(), row.ranks);
  EXPECT_TRUE(nlohmann::json::parse(slurp(dir / "trace.json")).at("traceEvents").is_array());
}

std::vector<Row> rows_of_this_binary() {
  std::vector<Row> out;
  for (const Row& r : kRows)
    if (r.slow == kSlowBinary) out.push_back(r);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Rows, RunEquivalence, ::testing::ValuesIn(rows_of_this_binary()),
                         [](const ::testing::TestParamInfo<Row>& info) { return std::string(info.param.name); });

#ifdef RUN_DIST_SLOW
// Two "nodes" on loopback (two launchers, --nnodes 2, one rank each, separate run directories as
// on separate machines): node 1's measured part reaches node 0 through the store.
TEST(RunTwoNodes, LaunchersOnTwoNodesTrainTogether) {
  const int port = 29700 + static_cast<int>(::getpid() % 200);
  const std::string common = train_args(2, 2) + " --nproc-per-node 1 --nnodes 2 --zero-stage 1 --master-port " +
                             std::to_string(port) + " --timeout-s 60";
  const fs::path n0 = test_dir() / "node0", n1 = test_dir() / "node1";
  const std::string node1 = std::string(ZEROPLAN_BINARY) + " " + common + " --node-rank 1 --out " + n1.string() +
                            " >" + (test_dir() / "node1.log").string() + " 2>&1 &";
  ASSERT_EQ(std::system(node1.c_str()), 0);
  const Result r = run_zeroplan(common + " --node-rank 0 --out " + n0.string(), "node0");
  ASSERT_EQ(r.exit_code, 0) << r.err << slurp(test_dir() / "node1.log");
  const std::vector<double> got = losses(n0 / "metrics.jsonl"), ref = reference_losses();
  ASSERT_EQ(got.size(), ref.size());
  for (std::size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(got[i], ref[i], 1e-5 * ref[i]) << "step " << i + 1;
  EXPECT_EQ(nlohmann::json::parse(slurp(n0 / "measured.json")).at("ranks").size(), 2u);
  EXPECT_FALSE(fs::exists(n1 / "metrics.jsonl"));  // rank 0 alone writes metrics
}
#endif

#ifndef RUN_DIST_SLOW

// model.safetensors -> name -> fp32 values (the F32 tensors `zeroplan export` writes).
std::map<std::string, std::vector<float>> read_f32_safetensors(const fs::path& path) {
  const std::string bytes = slurp_binary(path);
  std::map<std::string, std::vector<float>> out;
  if (bytes.size() < 8) return out;
  std::uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  const auto header = nlohmann::json::parse(bytes.substr(8, header_len));
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    EXPECT_EQ(info.at("dtype"), "F32") << name;
    const auto begin = info.at("data_offsets")[0].get<std::size_t>(), end = info.at("data_offsets")[1].get<std::size_t>();
    std::vector<float> v((end - begin) / sizeof(float));
    std::memcpy(v.data(), bytes.data() + 8 + header_len + begin, end - begin);
    out[name] = std::move(v);
  }
  return out;
}

// Sharded checkpoints through the CLI: 2 ranks save (every rank its partitions, rank 0 the
// manifest and `latest`); resuming on 2 ranks reproduces the losses bit for bit, on one process it
// re-partitions (same losses within 1e-5); `zeroplan export` consolidates the shards into the same
// safetensors rank 0 exported, and a stage-3 run's consolidated export is the same model; a
// corrupt or missing shard is one line naming the file and exit 2.
TEST(RunCheckpoint, ShardedSaveResumeAnywhereAndExport) {
  const fs::path a = test_dir() / "ckpt_a", ckpt = a / "checkpoints" / "step_00000004";
  const Result ra = run_zeroplan(train_args(2, 2, 8) + " --nproc-per-node 2 --zero-stage 1 --save-every 4 --out " +
                                     a.string() + " --export " + (test_dir() / "hf_a").string(),
                                 "ckpt_a");
  ASSERT_EQ(ra.exit_code, 0) << ra.err;
  for (const char* f : {"master.rank0.f32", "master.rank1.f32", "exp_avg_sq.rank1.f32", "shard.rank1.json",
                        "config.json", "manifest.json"})
    EXPECT_TRUE(fs::exists(ckpt / f)) << f;
  EXPECT_EQ(slurp(a / "checkpoints" / "latest"), "step_00000008\n");
  const std::vector<double> la = losses(a / "metrics.jsonl");
  ASSERT_EQ(la.size(), 8u);

  const fs::path b = test_dir() / "ckpt_b", c = test_dir() / "ckpt_c";
  const Result rb = run_zeroplan(train_args(2, 2, 8) + " --nproc-per-node 2 --zero-stage 1 --resume " + ckpt.string() +
                                     " --out " + b.string(), "ckpt_b");
  ASSERT_EQ(rb.exit_code, 0) << rb.err;
  EXPECT_NE(rb.out.find("resumed at step 4"), std::string::npos) << rb.out;
  const Result rc = run_zeroplan(train_args(2, 4, 8) + " --resume " + ckpt.string() + " --out " + c.string(), "ckpt_c");
  ASSERT_EQ(rc.exit_code, 0) << rc.err;
  const std::vector<double> lb = losses(b / "metrics.jsonl"), lc = losses(c / "metrics.jsonl");
  ASSERT_EQ(lb.size(), 4u);
  ASSERT_EQ(lc.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(lb[i], la[i + 4]) << "same world size: bit-identical, step " << i + 5;
    EXPECT_NEAR(lc[i], la[i + 4], 1e-5 * la[i + 4]) << "one process, step " << i + 5;
  }

  const Result re = run_zeroplan("export " + a.string() + " --out " + (test_dir() / "hf_e").string(), "export");
  ASSERT_EQ(re.exit_code, 0) << re.err;
  EXPECT_NE(re.out.find("(2 ranks, step 8)"), std::string::npos) << re.out;
  EXPECT_EQ(slurp_binary(test_dir() / "hf_e" / "model.safetensors"),
            slurp_binary(test_dir() / "hf_a" / "model.safetensors"));
  EXPECT_TRUE(nlohmann::json::parse(slurp(test_dir() / "hf_e" / "config.json")).contains("hidden_size"));

  // Stage 3 holds only partitions: --export consolidates them; the model equals stage 1's.
  const Result r3 = run_zeroplan(train_args(2, 2, 8) + " --nproc-per-node 2 --zero-stage 3 --out " +
                                     (test_dir() / "ckpt_s3").string() + " --export " + (test_dir() / "hf_s3").string(),
                                 "ckpt_s3");
  if (!(r3.exit_code == 2 && r3.err.find("not supported") != std::string::npos)) {
    ASSERT_EQ(r3.exit_code, 0) << r3.err;
    const auto s1 = read_f32_safetensors(test_dir() / "hf_a" / "model.safetensors");
    const auto s3 = read_f32_safetensors(test_dir() / "hf_s3" / "model.safetensors");
    ASSERT_EQ(s1.size(), s3.size());
    ASSERT_FALSE(s1.empty());
    for (const auto& [name, v] : s1) {
      ASSERT_EQ(s3.at(name).size(), v.size()) << name;
      for (std::size_t i = 0; i < v.size(); ++i) ASSERT_NEAR(s3.at(name)[i], v[i], 1e-5) << name << "[" << i << "]";
    }
  }

  // Broken shards: one line naming the file, exit 2.
  {
    std::fstream f(ckpt / "master.rank1.f32", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(16);
    f.put('\x55');
  }
  const Result bad = run_zeroplan(train_args(2, 2, 8) + " --nproc-per-node 2 --zero-stage 1 --resume " +
                                      ckpt.string() + " --out " + (test_dir() / "ckpt_bad").string(), "ckpt_bad");
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_EQ(error_lines(bad.err), 1) << bad.err;
  EXPECT_NE(bad.err.find("master.rank1.f32: corrupt checkpoint file (checksum mismatch)"), std::string::npos) << bad.err;
  fs::remove(a / "checkpoints" / "step_00000008" / "master.rank0.f32");
  const Result missing = run_zeroplan("export " + a.string() + " --out " + (test_dir() / "hf_x").string(), "missing");
  EXPECT_EQ(missing.exit_code, 2) << missing.err;
  EXPECT_EQ(error_lines(missing.err), 1) << missing.err;
  EXPECT_NE(missing.err.find("step_00000008/master.rank0.f32"), std::string::npos) << missing.err;
}

// --ds-config in DeepSpeed's own format gives the run its knobs ("auto" from the flags): the same
// losses as the equivalent flags; keys zeroplan cannot honour are one line naming them, exit 2,
// before any rank starts.
TEST(RunDsConfig, DeepSpeedConfigEqualsTheFlagsAndRejectsUnsupportedKeys) {
  const fs::path ds = test_dir() / "ds_config.json";
  std::ofstream(ds) << R"({"train_batch_size": "auto", "train_micro_batch_size_per_gpu": "auto",
    "gradient_accumulation_steps": 2, "gradient_clipping": 0.5, "bf16": {"enabled": "auto"},
    "optimizer": {"type": "AdamW", "params": {"lr": "auto", "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01}},
    "scheduler": {"type": "WarmupLR", "params": {"warmup_min_lr": 0, "warmup_max_lr": "auto",
                  "warmup_num_steps": 3, "warmup_type": "linear"}},
    "zero_optimization": {"stage": 1, "reduce_bucket_size": "auto", "overlap_comm": false,
                          "contiguous_gradients": true, "sub_group_size": 1e9},
    "steps_per_print": 10, "wall_clock_breakdown": false})";
  const fs::path d1 = test_dir() / "ds_run", d2 = test_dir() / "flags_run";
  const Result r1 = run_zeroplan(base_args(6) + " --micro-batch 2 --nproc-per-node 2 --ds-config " + ds.string() + " --out " +
                                     d1.string(), "ds_run");
  ASSERT_EQ(r1.exit_code, 0) << r1.err;
  EXPECT_NE(r1.out.find("micro-batch 2 x grad-accum 2 x 2 ranks = 8"), std::string::npos) << r1.out;
  const Result r2 = run_zeroplan(train_args(2, 2, 6) + " --nproc-per-node 2 --zero-stage 1 --clip-grad 0.5 "
                                     "--weight-decay 0.01 --lr-scheduler WarmupLR --warmup-steps 3 --warmup-type linear "
                                     "--reduce-bucket-size 1024 "
                                     "--out " + d2.string(), "flags_run");
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_EQ(losses(d1 / "metrics.jsonl"), losses(d2 / "metrics.jsonl"));

  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"zero_optimization": {"stage": 1, "offload_optimizer": {"device": "nvme"}}})",
       "field \"zero_optimization.offload_optimizer.device\" is \"nvme\""},
      {R"({"zero_optimisation": {"stage": 1}})", "unknown field \"zero_optimisation\""},
      {R"({"activation_checkpointing": {"partition_activations": true}})", "field \"activation_checkpointing\""},
      {R"({"train_batch_size": 12, "gradient_accumulation_steps": 2})", "field \"train_batch_size\""},
      {R"({"optimizer": {"type": "Lamb", "params": {"lr": 1e-3}}})", "zeroplan run has AdamW only"},
      {R"({"prescale_gradients": true})", "field \"prescale_gradients\" is true: not supported"},
  };
  int i = 0;
  for (const auto& [config, needle] : bad) {
    const fs::path path = test_dir() / ("bad_ds_" + std::to_string(i++) + ".json");
    std::ofstream(path) << config;
    const Result r = run_zeroplan(train_args(2, 2, 2) + " --nproc-per-node 2 --ds-config " + path.string() +
                                      " --out " + (test_dir() / "never").string(), "bad_ds");
    EXPECT_EQ(r.exit_code, 2) << config << "\n" << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << config << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

// Failures: one line on stderr that names the failed rank and its phase, within the timeout.
struct FaultRow {
  const char* name;
  const char* fault;
  const char* expected;
  double timeout_s;
};

void PrintTo(const FaultRow& row, std::ostream* os) { *os << row.name; }

class RunFailure : public ::testing::TestWithParam<FaultRow> {};

TEST_P(RunFailure, EndsTheJobWithOneLineNamingTheRank) {
  const FaultRow& row = GetParam();
  const fs::path dir = test_dir() / row.name;
  const Result r = run_zeroplan(train_args(2, 2, 6) + " --nproc-per-node 2 --zero-stage 1 --inject-fault " +
                                    row.fault + " --timeout-s " + std::to_string(row.timeout_s) + " --out " +
                                    dir.string(),
                                row.name);
  EXPECT_NE(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find(row.expected), std::string::npos) << r.err;
  EXPECT_EQ(error_lines(r.err), 1) << r.err;
  EXPECT_EQ(r.err.find("Connection closed"), std::string::npos) << r.err;
  EXPECT_LT(r.seconds, row.timeout_s + 15.0) << r.err;
}

INSTANTIATE_TEST_SUITE_P(
    Faults, RunFailure,
    ::testing::Values(FaultRow{"killed", "kill:1:3", "rank 1 exited (signal 9) during backward of step 3", 20},
                      FaultRow{"thrown", "throw:0:2", "rank 0 failed during backward of step 2: injected failure", 20},
                      FaultRow{"hung", "hang:1:2", "rank 1 stopped responding during backward of step 2", 3}),
    [](const ::testing::TestParamInfo<FaultRow>& info) { return std::string(info.param.name); });
#endif

}  // namespace
