// `zeroplan run` end to end on a very small random Llama (its config written by the test; vocab
// 2000 to hold configs/tokenizers/tiny-sp.model) and configs/data/sample-alpaca.jsonl: the loss
// falls, metrics.jsonl is well formed, a CLI resume reproduces the losses bit for bit, export writes
// safetensors, and bad input is one line on stderr with exit code 2.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

namespace fs = std::filesystem;

struct Result {
  int exit_code = -1;
  std::string out, err;
};

Result run_zeroplan(const std::string& args, const fs::path& dir) {
  const fs::path out = dir / "stdout.txt", err = dir / "stderr.txt";
  const std::string cmd = std::string(ZEROPLAN_BINARY) + " " + args + " >" + out.string() + " 2>" + err.string();
  const int status = std::system(cmd.c_str());
  Result r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  auto slurp = [](const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

std::vector<nlohmann::json> read_metrics(const fs::path& path) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

class RunCommand : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir = fs::temp_directory_path() / ("zp_run_cli_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::ofstream(dir / "config.json") << R"({"name": "cli-tiny", "architectures": ["LlamaForCausalLM"],
      "model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
      "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 2000,
      "max_position_embeddings": 256, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
      "tie_word_embeddings": true})";
  }
  static void TearDownTestSuite() { fs::remove_all(dir); }

  static std::string base_args(int steps, const std::string& data = "",
                               const std::string& scheduler = "WarmupDecayLR") {
    const std::string src = ZEROPLAN_SOURCE_DIR;
    return "run --model " + (dir / "config.json").string() + " --init random --seed 3 --tokenizer " + src +
           "/configs/tokenizers/tiny-sp.model --data " +
           (data.empty() ? src + "/configs/data/sample-alpaca.jsonl" : data) +
           " --max-seq-len 96 --micro-batch 4 --grad-accum 2 --lr 1e-2 --lr-scheduler " + scheduler +
           " --warmup-steps 3 --warmup-type linear --threads 1 --steps " + std::to_string(steps);
  }
  static fs::path dir;
};
fs::path RunCommand::dir;

TEST_F(RunCommand, TrainsWithAFallingLossAndWellFormedMetrics) {
  const Result r = run_zeroplan(base_args(30) + " --out " + (dir / "run30").string(), dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string first_line = r.out.substr(0, r.out.find('\n'));
  EXPECT_NE(first_line.find("cli-tiny"), std::string::npos) << first_line;
  EXPECT_NE(first_line.find("219 examples"), std::string::npos) << first_line;
  EXPECT_NE(first_line.find("truncated"), std::string::npos) << first_line;
  EXPECT_NE(first_line.find("30 steps"), std::string::npos) << first_line;
  EXPECT_NE(r.err.find("step 30/30 | loss"), std::string::npos) << r.err;

  const auto rows = read_metrics(dir / "run30" / "metrics.jsonl");
  ASSERT_EQ(rows.size(), 30u);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& m = rows[i];
    EXPECT_EQ(m.at("step").get<int>(), static_cast<int>(i) + 1);
    for (const char* key : {"loss", "lr", "grad_norm", "loss_scale", "tokens_per_s", "step_time_s"})
      EXPECT_TRUE(m.at(key).is_number()) << key << " in " << m.dump();
    EXPECT_GT(m.at("tokens").get<long>(), 0);
    EXPECT_EQ(m.at("loss_scale").get<double>(), 1.0);  // fp32
  }
  EXPECT_EQ(rows[0].at("lr").get<double>(), 0.0);  // DeepSpeed: the first step runs at warmup_min_lr
  double first = 0, last = 0;
  for (int i = 0; i < 4; ++i) {
    first += rows[i].at("loss").get<double>();
    last += rows[rows.size() - 1 - i].at("loss").get<double>();
  }
  EXPECT_LT(last, 0.8 * first) << "the loss did not fall: " << first / 4 << " -> " << last / 4;
}

TEST_F(RunCommand, ResumeFromTheCliReproducesTheLosses) {
  const Result a = run_zeroplan(base_args(8) + " --save-every 4 --out " + (dir / "a").string(), dir);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_TRUE(fs::exists(dir / "a" / "checkpoints" / "step_00000004" / "manifest.json"));
  const Result b = run_zeroplan(base_args(8) + " --resume " + (dir / "a" / "checkpoints" / "step_00000004").string() +
                                    " --out " + (dir / "b").string() + " --export " + (dir / "hf").string(),
                                dir);
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_NE(b.out.find("resumed at step 4"), std::string::npos) << b.out;
  const auto ra = read_metrics(dir / "a" / "metrics.jsonl");
  const auto rb = read_metrics(dir / "b" / "metrics.jsonl");
  ASSERT_EQ(ra.size(), 8u);
  ASSERT_EQ(rb.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(rb[i].at("step"), ra[i + 4].at("step"));
    EXPECT_EQ(rb[i].at("loss").get<double>(), ra[i + 4].at("loss").get<double>()) << "step " << i + 5;
    EXPECT_EQ(rb[i].at("lr").get<double>(), ra[i + 4].at("lr").get<double>());
  }
  EXPECT_TRUE(fs::exists(dir / "hf" / "config.json"));
  EXPECT_TRUE(fs::exists(dir / "hf" / "model.safetensors"));

  // A corrupt checkpoint is refused with a clear message.
  {
    std::fstream f(dir / "a" / "checkpoints" / "step_00000004" / "exp_avg.rank0.f32",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(16);
    f.put('\x55');
    f.put('\x55');
  }
  const Result c = run_zeroplan(base_args(8) + " --resume " + (dir / "a" / "checkpoints" / "step_00000004").string() +
                                    " --out " + (dir / "c").string(),
                                dir);
  EXPECT_EQ(c.exit_code, 2);
  EXPECT_NE(c.err.find("checksum mismatch"), std::string::npos) << c.err;
}

TEST_F(RunCommand, BadInputIsOneLineAndExitTwo) {
  const std::string src = ZEROPLAN_SOURCE_DIR;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {base_args(5) + " --epochs 1", "exactly one of --steps"},
      {"run --model " + (dir / "config.json").string() + " --tokenizer x --data y --steps 1", "--init random"},
      {"run --model tiny-test --init random --tokenizer " + src + "/configs/tokenizers/tiny-sp.model --data " + src +
           "/configs/data/sample-alpaca.jsonl --steps 1",
       "vocab_size 128"},
      {base_args(5) + " --precision fp8", "unknown precision"},
      {base_args(5, "", "cosine"), "unknown scheduler"},
      {base_args(5) + " --resume " + (dir / "nothing-here").string(), "no such checkpoint"},
      {base_args(5, (dir / "missing.jsonl").string()), "missing.jsonl"},
  };
  for (const auto& [args, needle] : cases) {
    const Result r = run_zeroplan(args, dir);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

}  // namespace
