#include "planner/model_spec.h"

#include <gtest/gtest.h>

#include <numeric>
#include <string>

#include "planner/error.h"

namespace zeroplan {
namespace {

const std::string kConfigs = std::string(ZEROPLAN_SOURCE_DIR) + "/configs";
const std::string kFixtures = std::string(ZEROPLAN_SOURCE_DIR) + "/tests/planner/fixtures";

std::int64_t sum_tensors(const ModelSpec& m) {
  std::int64_t n = 0;
  for (const auto& t : model_tensors(m)) n += t.numel();
  return n;
}

// Independent arithmetic for a Llama-family model without biases: embedding + L x (q + k + v + o + 3 MLP
// matrices + 2 norms) + final norm + lm_head (untied).
std::int64_t llama_params(std::int64_t h, std::int64_t I, std::int64_t L, std::int64_t nh, std::int64_t kv,
                          std::int64_t V, bool tied) {
  const std::int64_t d = h / nh;
  const std::int64_t attn = h * h + 2 * h * (kv * d) + h * h;
  const std::int64_t mlp = 3 * h * I;
  const std::int64_t layer = attn + mlp + 2 * h;
  return V * h + L * layer + h + (tied ? 0 : V * h);
}

struct PresetCase {
  const char* name;
  std::int64_t published;  // sum of tensor sizes of the released checkpoint
  std::int64_t h, I, L, nh, kv, V;
  bool tied;
  bool qkv_bias;
};

class PresetParams : public ::testing::TestWithParam<PresetCase> {};

TEST_P(PresetParams, CountEqualsCheckpointExactly) {
  const PresetCase& c = GetParam();
  ModelSpec m = load_model_spec(c.name, kConfigs);
  EXPECT_EQ(m.name, c.name);
  EXPECT_EQ(m.hidden_size, c.h);
  EXPECT_EQ(m.num_key_value_heads, c.kv);
  EXPECT_EQ(m.tie_word_embeddings, c.tied);
  EXPECT_EQ(m.qkv_bias, c.qkv_bias);
  std::int64_t expected = llama_params(c.h, c.I, c.L, c.nh, c.kv, c.V, c.tied);
  if (c.qkv_bias) expected += c.L * (c.h + 2 * c.kv * (c.h / c.nh));  // q, k, v biases per layer
  EXPECT_EQ(expected, c.published) << "own arithmetic vs the published checkpoint size";
  const ParamCounts counts = count_params(m);
  EXPECT_EQ(counts.total, c.published);
  EXPECT_EQ(sum_tensors(m), c.published);
  // For these models the largest module is the embedding (or the equally large lm_head).
  EXPECT_EQ(counts.largest_layer_params, c.V * c.h);
}

INSTANTIATE_TEST_SUITE_P(
    Published, PresetParams,
    ::testing::Values(PresetCase{"llama-2-7b", 6'738'415'616, 4096, 11008, 32, 32, 32, 32000, false, false},
                      PresetCase{"llama-2-13b", 13'015'864'320, 5120, 13824, 40, 40, 40, 32000, false, false},
                      PresetCase{"llama-2-70b", 68'976'648'192, 8192, 28672, 80, 64, 8, 32000, false, false},
                      PresetCase{"llama-3-8b", 8'030'261'248, 4096, 14336, 32, 32, 8, 128256, false, false},
                      PresetCase{"mistral-7b", 7'241'732'096, 4096, 14336, 32, 32, 8, 32000, false, false},
                      PresetCase{"qwen2.5-0.5b", 494'032'768, 896, 4864, 24, 14, 2, 151936, true, true},
                      PresetCase{"qwen2.5-7b", 7'615'616'512, 3584, 18944, 28, 28, 4, 152064, false, true},
                      PresetCase{"tinyllama-1.1b", 1'100'048'384, 2048, 5632, 22, 32, 4, 32000, false, false}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (auto& ch : n) if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return n;
    });

TEST(ModelSpec, SmallPresets) {
  ModelSpec tiny = load_model_spec("tiny-test", kConfigs);
  // h=16, I=40, L=2, nh=4, kv=2 (d=4), V=128, untied:
  // embed 128*16 = 2048; layer: q 16*16=256, k 8*16=128, v 128, o 256, gate/up/down 3*640, norms 32 = 2720
  // total = 2048 + 2*2720 + 16 + 2048 = 9552
  EXPECT_EQ(count_params(tiny).total, 9552);
  EXPECT_EQ(count_params(tiny).per_layer, 2720);
  ModelSpec small = load_model_spec("tiny-llama-25m", kConfigs);
  EXPECT_EQ(count_params(small).total, llama_params(256, 704, 12, 8, 4, 32000, false));
  EXPECT_GT(count_params(small).total, 20'000'000);
  EXPECT_LT(count_params(small).total, 30'000'000);
}

TEST(ModelSpec, Llama3RopeAndTheta) {
  ModelSpec m = load_model_spec("llama-3-8b", kConfigs);
  EXPECT_EQ(m.architecture, Architecture::kLlama);
  EXPECT_DOUBLE_EQ(m.rope_theta, 500000.0);
  EXPECT_DOUBLE_EQ(m.rms_norm_eps, 1e-5);
  EXPECT_EQ(m.head_dim, 128);
  EXPECT_EQ(m.rope_scaling.rope_type, "");
}

TEST(HfConfig, Qwen2DirectoryTiedWithQkvBias) {
  ModelSpec m = load_model_spec(kFixtures + "/qwen2-tiny", kConfigs);  // a folder holding config.json
  EXPECT_EQ(m.name, "qwen2-tiny");
  EXPECT_EQ(m.architecture, Architecture::kQwen2);
  EXPECT_TRUE(m.qkv_bias);
  EXPECT_FALSE(m.o_bias);
  EXPECT_TRUE(m.tie_word_embeddings);
  EXPECT_EQ(m.head_dim, 8);
  // h=32, I=64, L=2, nh=4, kv=2, d=8, V=100, tied:
  // embed 3200; layer: q 1024+32, k 512+16, v 512+16, o 1024, mlp 3*32*64=6144, norms 64 = 9344
  // total = 3200 + 2*9344 + 32 = 21920 (no lm_head)
  EXPECT_EQ(count_params(m).total, 21920);
  EXPECT_EQ(sum_tensors(m), 21920);
  auto tensors = model_tensors(m);
  EXPECT_EQ(tensors.front().name, "model.embed_tokens.weight");
  EXPECT_EQ(tensors.back().name, "model.norm.weight");
  EXPECT_EQ(tensors[1].name, "model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(tensors[2].name, "model.layers.0.self_attn.q_proj.bias");
  EXPECT_EQ(tensors[3].name, "model.layers.0.self_attn.k_proj.weight");
  EXPECT_EQ(tensors[3].shape, (std::vector<std::int64_t>{16, 32}));  // (kv*d, h)
  // 1 embedding + 2 layers x (3 weights + 3 biases + o + 3 MLP + 2 norms = 12) + final norm
  EXPECT_EQ(tensors.size(), 1u + 2u * 12u + 1u);
}

TEST(HfConfig, HeadDimGqaBiasesAndLlama3Scaling) {
  ModelSpec m = load_model_spec(kFixtures + "/llama_head_dim.json", kConfigs);
  EXPECT_EQ(m.name, "llama_head_dim");
  EXPECT_EQ(m.head_dim, 16);  // explicit, != hidden/heads = 8
  EXPECT_EQ(m.num_key_value_heads, 1);
  EXPECT_TRUE(m.qkv_bias);
  EXPECT_TRUE(m.o_bias);
  EXPECT_TRUE(m.mlp_bias);
  EXPECT_EQ(m.rope_scaling.rope_type, "llama3");
  EXPECT_DOUBLE_EQ(m.rope_scaling.factor, 8.0);
  EXPECT_EQ(m.rope_scaling.original_max_position_embeddings, 8192);
  // h=32, q_out=4*16=64, kv_out=16, I=48, L=3, V=50, untied, all biases:
  // q 64*32+64 = 2112; k 16*32+16 = 528; v 528; o 32*64+32 = 2080
  // gate 48*32+48 = 1584; up 1584; down 32*48+32 = 1568; norms 64  -> layer 10048
  // total = 1600 + 3*10048 + 32 + 1600 = 33376
  const ParamCounts c = count_params(m);
  EXPECT_EQ(c.per_layer, 10048);
  EXPECT_EQ(c.total, 33376);
  EXPECT_EQ(sum_tensors(m), 33376);
  // DeepSpeed's largest layer is the largest single module: q_proj (2112) beats the embedding (1600).
  EXPECT_EQ(c.largest_layer_params, 2112);
}

TEST(HfConfig, MistralByModelTypeHasNoBiases) {
  ModelSpec m = load_model_spec(kFixtures + "/mistral_model_type_only.json", kConfigs);
  EXPECT_EQ(m.architecture, Architecture::kMistral);
  EXPECT_FALSE(m.qkv_bias);  // MistralAttention hard-codes bias=False even with attention_bias
  EXPECT_EQ(m.sliding_window, 4096);
  // h=64, I=96, nh=8 (d=8), kv=2, V=10: q 4096, k 1024, v 1024, o 4096, mlp 18432, norms 128 = 28800
  EXPECT_EQ(count_params(m).total, 640 + 28800 + 64 + 640);
  EXPECT_EQ(count_params(m).largest_layer_params, 96 * 64);
}

TEST(HfConfig, ParsesTextWithDefaults) {
  ModelSpec m = parse_hf_config(
      R"({"model_type":"llama","hidden_size":8,"intermediate_size":8,"num_attention_heads":2,
          "num_hidden_layers":1,"vocab_size":4})",
      "inline.json");
  EXPECT_EQ(m.num_key_value_heads, 2);
  EXPECT_EQ(m.head_dim, 4);
  EXPECT_FALSE(m.tie_word_embeddings);
  EXPECT_EQ(m.max_position_embeddings, 2048);
}

void expect_input_error(const std::string& path_or_name, const std::string& must_contain1,
                        const std::string& must_contain2) {
  try {
    load_model_spec(path_or_name, kConfigs);
    FAIL() << "no InputError for " << path_or_name;
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(must_contain1), std::string::npos) << msg;
    EXPECT_NE(msg.find(must_contain2), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
  }
}

TEST(HfConfigErrors, EachNamesFileAndField) {
  expect_input_error(kFixtures + "/bad_malformed.json", "bad_malformed.json", "not valid JSON");
  expect_input_error(kFixtures + "/bad_missing_layers.json", "bad_missing_layers.json",
                     "\"num_hidden_layers\" is missing");
  expect_input_error(kFixtures + "/bad_negative_hidden.json", "bad_negative_hidden.json",
                     "\"hidden_size\" must be positive");
  expect_input_error(kFixtures + "/bad_unknown_arch.json", "bad_unknown_arch.json", "GPT2LMHeadModel");
  expect_input_error(kFixtures + "/bad_unknown_arch.json", "bad_unknown_arch.json", "\"architectures\"");
  expect_input_error(kFixtures + "/no_such_file.json", "no_such_file.json", "cannot read");
  expect_input_error("llama-9-1t", "llama-9-1t", "llama-2-7b");  // lists the presets
}

TEST(HfConfigErrors, ShapeAndTypeProblems) {
  EXPECT_THROW(parse_hf_config(R"({"model_type":"llama","hidden_size":8,"intermediate_size":8,
      "num_attention_heads":3,"num_hidden_layers":1,"vocab_size":4})", "x.json"), InputError);  // 3 !| 8
  EXPECT_THROW(parse_hf_config(R"({"model_type":"llama","hidden_size":8,"intermediate_size":8,
      "num_attention_heads":4,"num_key_value_heads":3,"num_hidden_layers":1,"vocab_size":4})", "x.json"),
               InputError);  // 3 !| 4
  EXPECT_THROW(parse_hf_config(R"({"model_type":"llama","hidden_size":"8","intermediate_size":8,
      "num_attention_heads":4,"num_hidden_layers":1,"vocab_size":4})", "x.json"), InputError);
  EXPECT_THROW(parse_hf_config(R"({"model_type":"llama","hidden_size":8,"intermediate_size":8,
      "num_attention_heads":4,"num_hidden_layers":1,"vocab_size":4,"hidden_act":"gelu"})", "x.json"), InputError);
  EXPECT_THROW(parse_hf_config(R"({"model_type":"llama","hidden_size":8,"intermediate_size":8,
      "num_attention_heads":4,"num_hidden_layers":1,"vocab_size":4,"rope_scaling":{"rope_type":"yarn"}})",
                               "x.json"), InputError);
  EXPECT_THROW(parse_hf_config(R"({"hidden_size":8})", "x.json"), InputError);  // no architecture at all
  EXPECT_THROW(parse_hf_config("[1, 2]", "x.json"), InputError);
}

// transformers 5 writes RoPE settings as one "rope_parameters" object instead of top-level
// rope_theta / rope_scaling; a re-saved config must keep its base frequency and scaling.
TEST(HfConfig, Transformers5RopeParameters) {
  const std::string base = R"({"model_type":"llama","hidden_size":8,"intermediate_size":8,
      "num_attention_heads":2,"num_hidden_layers":1,"vocab_size":4,)";
  ModelSpec plain = parse_hf_config(base + R"("rope_parameters":{"rope_type":"default","rope_theta":500000.0}})",
                                    "v5.json");
  EXPECT_DOUBLE_EQ(plain.rope_theta, 500000.0);
  EXPECT_EQ(plain.rope_scaling.rope_type, "");
  ModelSpec scaled = parse_hf_config(base + R"("rope_parameters":{"rope_type":"llama3","rope_theta":500000.0,
      "factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192}})",
                                     "v5.json");
  EXPECT_DOUBLE_EQ(scaled.rope_theta, 500000.0);
  EXPECT_EQ(scaled.rope_scaling.rope_type, "llama3");
  EXPECT_DOUBLE_EQ(scaled.rope_scaling.factor, 8.0);
  EXPECT_EQ(scaled.rope_scaling.original_max_position_embeddings, 8192);
  try {
    parse_hf_config(base + R"("rope_theta":10000.0,"rope_parameters":{"rope_type":"default","rope_theta":500000.0}})",
                    "v5.json");
    FAIL() << "disagreeing rope_theta accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("v5.json: field \"rope_parameters.rope_theta\""), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(parse_hf_config(base + R"("rope_parameters":{"rope_theta":1.0}})", "v5.json"), InputError);
}

}  // namespace
}  // namespace zeroplan
