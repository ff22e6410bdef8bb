#pragma once
// Helpers shared by the executor tests.
#include <filesystem>
#include <random>
#include <string>

#include "planner/model_spec.h"

namespace zeroplan::executor::testing {

// A fresh directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("zeroplan-exmodel-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// A tiny model spec from Hugging Face config text (so the tests exercise parse_hf_config too).
inline zeroplan::ModelSpec tiny_spec(const std::string& arch = "LlamaForCausalLM", int kv_heads = 2, bool tied = false,
                                     const std::string& extra = "") {
  const std::string json = R"({"architectures": [")" + arch + R"("], "hidden_size": 32, "intermediate_size": 48,
      "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": )" +
                           std::to_string(kv_heads) + R"(, "vocab_size": 40, "max_position_embeddings": 128,
      "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "tie_word_embeddings": )" +
                           (tied ? "true" : "false") + extra + "}";
  return zeroplan::parse_hf_config(json, "tiny/config.json");
}

}  // namespace zeroplan::executor::testing
