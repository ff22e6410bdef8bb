// safetensors reader/writer, sharded checkpoints, and load_hf_weights / save_hf_checkpoint.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "executor/model/llama.h"
#include "executor/weights/safetensors.h"
#include "planner/error.h"
#include "tests/executor/test_util.h"

namespace zeroplan::executor {
namespace {

using testing::TempDir;
using testing::tiny_spec;

// Runs fn, expects InputError containing every fragment.
template <typename F>
void expect_input_error(F fn, std::vector<std::string> fragments) {
  try {
    fn();
    ADD_FAILURE() << "no InputError";
  } catch (const zeroplan::InputError& e) {
    for (const auto& f : fragments) EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << "'" << f << "' not in: " << e.what();
  }
}

TEST(Safetensors, WriteReadRoundTripKeepsDtypesAndValues) {
  TempDir dir;
  at::Tensor f32 = at::randn({3, 5});
  at::Tensor bf16 = at::randn({7}).to(at::kBFloat16);
  at::Tensor f16 = at::randn({2, 2, 2}).to(at::kHalf);
  at::Tensor i64 = at::arange(6, at::kLong).view({2, 3});
  at::Tensor transposed = at::randn({4, 3}).t();  // non-contiguous input
  at::Tensor scalar = at::scalar_tensor(2.5);
  write_safetensors(dir / "t.safetensors",
                    {{"f32", f32}, {"bf16", bf16}, {"f16", f16}, {"i64", i64}, {"tr", transposed}, {"s", scalar}},
                    {{"note", "hello"}});
  EXPECT_FALSE(std::filesystem::exists(dir / "t.safetensors.tmp"));
  SafetensorsFile file(dir / "t.safetensors");
  EXPECT_EQ(file.header().metadata.at("format"), "pt");
  EXPECT_EQ(file.header().metadata.at("note"), "hello");
  EXPECT_TRUE(at::equal(file.read("f32"), f32));
  EXPECT_TRUE(at::equal(file.read("bf16"), bf16));
  EXPECT_EQ(file.read("bf16").scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(file.read("f16"), f16));
  EXPECT_TRUE(at::equal(file.read("i64"), i64));
  EXPECT_TRUE(at::equal(file.read("tr"), transposed));
  EXPECT_EQ(file.read("s").dim(), 0);
  EXPECT_TRUE(at::equal(file.view("f32"), f32));
  // The data buffer starts 8-byte aligned (the writer pads the header with spaces).
  std::ifstream in(dir / "t.safetensors", std::ios::binary);
  std::uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  EXPECT_EQ(n % 8, 0u);
  expect_input_error([&] { file.read("nope"); }, {"t.safetensors", "\"nope\"", "missing"});
}

TEST(Safetensors, ViewKeepsTheMappingAlive) {
  TempDir dir;
  at::Tensor x = at::arange(10, at::kFloat);
  write_safetensors(dir / "v.safetensors", {{"x", x}});
  at::Tensor v;
  {
    SafetensorsFile file(dir / "v.safetensors");
    v = file.view("x");
  }
  EXPECT_TRUE(at::equal(v, x));
}

TEST(Safetensors, UnreadableAndCorruptFilesNameTheFile) {
  TempDir dir;
  expect_input_error([&] { SafetensorsFile f(dir / "missing.safetensors"); }, {"missing.safetensors", "cannot open"});
  {
    std::ofstream out(dir / "bad.safetensors", std::ios::binary);
    std::uint64_t n = 1000;
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << "{}";
  }
  expect_input_error([&] { SafetensorsFile f(dir / "bad.safetensors"); }, {"bad.safetensors", "runs past the end"});
  expect_input_error([&] { write_safetensors(dir / "x.safetensors", {{"a", at::ones({1})}, {"a", at::ones({1})}}); },
                     {"\"a\"", "duplicated"});
}

void write_index(const std::string& path, const nlohmann::json& weight_map) {
  std::ofstream out(path);
  out << nlohmann::json{{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}}.dump();
}

TEST(Safetensors, ShardedCheckpoint) {
  TempDir dir;
  write_safetensors(dir / "model-00001-of-00002.safetensors", {{"a", at::ones({2})}, {"b", at::zeros({3})}});
  write_safetensors(dir / "model-00002-of-00002.safetensors", {{"c", at::full({4}, 7.0)}});
  write_index(dir / "model.safetensors.index.json",
              {{"a", "model-00001-of-00002.safetensors"}, {"b", "model-00001-of-00002.safetensors"},
               {"c", "model-00002-of-00002.safetensors"}});
  SafetensorsCheckpoint ckpt(dir.str());
  EXPECT_EQ(ckpt.names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(at::equal(ckpt.read("c"), at::full({4}, 7.0)));
  EXPECT_NE(ckpt.file_of("c").find("00002"), std::string::npos);
  expect_input_error([&] { ckpt.read("d"); }, {"\"d\"", "missing"});
}

TEST(Safetensors, ShardedCheckpointErrors) {
  TempDir dir;
  write_safetensors(dir / "s1.safetensors", {{"a", at::ones({2})}});
  write_safetensors(dir / "s2.safetensors", {{"a", at::ones({2})}});
  // Index lists a tensor the shard lacks.
  write_index(dir / "model.safetensors.index.json", {{"a", "s1.safetensors"}, {"z", "s1.safetensors"}});
  expect_input_error([&] { SafetensorsCheckpoint c(dir.str()); }, {"s1.safetensors", "\"z\"", "missing"});
  // The same tensor in two shards.
  write_index(dir / "model.safetensors.index.json", {{"a", "s1.safetensors"}, {"b", "s2.safetensors"}});
  expect_input_error([&] { SafetensorsCheckpoint c(dir.str()); }, {"\"a\"", "also in"});
  // Shard paths must stay in the directory.
  write_index(dir / "model.safetensors.index.json", {{"a", "../s1.safetensors"}});
  expect_input_error([&] { SafetensorsCheckpoint c(dir.str()); }, {"index.json", "weight_map.a"});
  // A missing shard file.
  write_index(dir / "model.safetensors.index.json", {{"a", "nothere.safetensors"}});
  expect_input_error([&] { SafetensorsCheckpoint c(dir.str()); }, {"nothere.safetensors", "cannot open"});
  // Not JSON.
  { std::ofstream(dir / "model.safetensors.index.json") << "{oops"; }
  expect_input_error([&] { SafetensorsCheckpoint c(dir.str()); }, {"model.safetensors.index.json"});
  TempDir empty;
  expect_input_error([&] { SafetensorsCheckpoint c(empty.str()); }, {"no model.safetensors"});
}

TEST(HfCheckpoint, SaveThenLoadRoundTripsWeightsAndConfig) {
  for (bool tied : {false, true}) {
    TempDir dir;
    auto spec = tiny_spec(tied ? "Qwen2ForCausalLM" : "LlamaForCausalLM", 2, tied);
    LlamaForCausalLM a(spec, ModelOptions{});
    init_random(a, 7);
    save_hf_checkpoint(dir.str(), a, spec);
    SafetensorsCheckpoint ckpt(dir.str());
    EXPECT_EQ(ckpt.contains("lm_head.weight"), !tied);
    EXPECT_EQ(ckpt.contains("model.layers.0.self_attn.q_proj.bias"), tied);  // Qwen2 has q/k/v bias

    // config.json parses back into the same spec.
    auto back = zeroplan::load_model_spec(dir.str(), "configs");
    EXPECT_EQ(back.architecture, spec.architecture);
    EXPECT_EQ(back.hidden_size, spec.hidden_size);
    EXPECT_EQ(back.num_key_value_heads, spec.num_key_value_heads);
    EXPECT_EQ(back.head_dim, spec.head_dim);
    EXPECT_EQ(back.tie_word_embeddings, spec.tie_word_embeddings);
    EXPECT_EQ(back.qkv_bias, spec.qkv_bias);
    EXPECT_DOUBLE_EQ(back.rope_theta, spec.rope_theta);

    LlamaForCausalLM b(back, ModelOptions{});
    init_random(b, 99);
    load_hf_weights(dir.str(), b);
    auto pa = a->hf_named_parameters(), pb = b->hf_named_parameters();
    ASSERT_EQ(pa.size(), pb.size());
    for (std::size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(at::equal(pa[i].second, pb[i].second)) << pa[i].first;
  }
}

TEST(HfCheckpoint, RopeScalingSurvivesTheConfig) {
  TempDir dir;
  auto spec = tiny_spec("LlamaForCausalLM", 2, false,
                        R"(, "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                           "high_freq_factor": 4.0, "original_max_position_embeddings": 64})");
  LlamaForCausalLM a(spec, ModelOptions{});
  init_random(a, 1);
  save_hf_checkpoint(dir.str(), a, spec);
  auto back = zeroplan::load_model_spec(dir.str(), "configs");
  EXPECT_EQ(back.rope_scaling.rope_type, "llama3");
  EXPECT_DOUBLE_EQ(back.rope_scaling.factor, 8.0);
  EXPECT_EQ(back.rope_scaling.original_max_position_embeddings, 64);
}

TEST(HfCheckpoint, LoadConvertsBf16ToTheModelDtype) {
  TempDir dir;
  auto spec = tiny_spec();
  LlamaForCausalLM bf(spec, ModelOptions{at::kBFloat16});
  init_random(bf, 3);
  save_hf_checkpoint(dir.str(), bf, spec);
  SafetensorsFile file(dir / "model.safetensors");
  EXPECT_EQ(file.header().find("model.norm.weight")->dtype, StDtype::kBF16);
  LlamaForCausalLM f32(spec, ModelOptions{});
  load_hf_weights(dir.str(), f32);
  auto pb = bf->hf_named_parameters(), pf = f32->hf_named_parameters();
  for (std::size_t i = 0; i < pb.size(); ++i) {
    EXPECT_EQ(pf[i].second.scalar_type(), at::kFloat);
    EXPECT_TRUE(at::equal(pf[i].second, pb[i].second.to(at::kFloat))) << pf[i].first;
  }
}

TEST(HfCheckpoint, MismatchesNameFileAndTensor) {
  TempDir dir;
  auto spec = tiny_spec();
  LlamaForCausalLM a(spec, ModelOptions{});
  init_random(a, 3);
  auto params = a->hf_named_parameters();

  // Missing tensor.
  std::vector<std::pair<std::string, at::Tensor>> missing(params.begin(), params.end() - 1);
  write_safetensors(dir / "model.safetensors", missing);
  expect_input_error([&] { load_hf_weights(dir.str(), a); }, {"\"lm_head.weight\"", "missing", "tiny/config.json"});

  // Shape mismatch with the config.
  auto wrong_shape = params;
  wrong_shape[1].second = at::zeros({3, 3});
  write_safetensors(dir / "model.safetensors", wrong_shape);
  expect_input_error([&] { load_hf_weights(dir.str(), a); },
                     {"model.safetensors", params[1].first, "shape [3, 3]", "tiny/config.json"});

  // Integer dtype where a float parameter is expected.
  auto wrong_dtype = params;
  wrong_dtype[0].second = params[0].second.to(at::kLong);
  write_safetensors(dir / "model.safetensors", wrong_dtype);
  expect_input_error([&] { load_hf_weights(dir.str(), a); }, {"model.safetensors", params[0].first, "dtype I64"});

  // A tensor the model does not have.
  auto extra = params;
  extra.emplace_back("model.layers.9.mlp.up_proj.weight", at::zeros({1}));
  write_safetensors(dir / "model.safetensors", extra);
  expect_input_error([&] { load_hf_weights(dir.str(), a); }, {"model.layers.9.mlp.up_proj.weight", "not a parameter"});

  // rotary inv_freq buffers from old savers are ignored.
  auto with_rotary = params;
  with_rotary.emplace_back("model.layers.0.self_attn.rotary_emb.inv_freq", at::zeros({4}));
  write_safetensors(dir / "model.safetensors", with_rotary);
  EXPECT_NO_THROW(load_hf_weights(dir.str(), a));
}

TEST(HfCheckpoint, TiedModelAcceptsAnEqualLmHeadOnly) {
  TempDir dir;
  auto spec = tiny_spec("LlamaForCausalLM", 2, /*tied=*/true);
  LlamaForCausalLM a(spec, ModelOptions{});
  init_random(a, 5);
  auto params = a->hf_named_parameters();
  auto with_head = params;
  with_head.emplace_back("lm_head.weight", params[0].second.clone());
  write_safetensors(dir / "model.safetensors", with_head);
  EXPECT_NO_THROW(load_hf_weights(dir.str(), a));
  with_head.back().second = with_head.back().second + 1;
  write_safetensors(dir / "model.safetensors", with_head);
  expect_input_error([&] { load_hf_weights(dir.str(), a); }, {"lm_head.weight", "differs"});
}

TEST(HfCheckpoint, ConfigJsonRejectsInexpressibleSpecs) {
  auto spec = tiny_spec("MistralForCausalLM");
  spec.qkv_bias = true;
  EXPECT_THROW(hf_config_json(spec, at::kFloat), zeroplan::InputError);
  auto j = nlohmann::json::parse(hf_config_json(tiny_spec("MistralForCausalLM"), at::kBFloat16));
  EXPECT_EQ(j["model_type"], "mistral");
  EXPECT_EQ(j["torch_dtype"], "bfloat16");
}

}  // namespace
}  // namespace zeroplan::executor
