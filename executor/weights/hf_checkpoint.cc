// load_hf_weights / save_hf_checkpoint / hf_config_json (declared in executor/weights/safetensors.h).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "executor/weights/safetensors.h"
#include "planner/error.h"

namespace zeroplan::executor {
namespace fs = std::filesystem;
namespace {

bool is_float_dtype(StDtype d) {
  return d == StDtype::kF32 || d == StDtype::kBF16 || d == StDtype::kF16 || d == StDtype::kF64;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

const char* torch_dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kBFloat16: return "bfloat16";
    case at::kHalf: return "float16";
    default: return "float32";
  }
}

void write_text_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw zeroplan::InputError(fmt::format("{}: cannot write", tmp));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw zeroplan::InputError(fmt::format("{}: cannot rename to {} ({})", tmp, path, ec.message()));
}

}  // namespace

void load_hf_weights(const std::string& model_dir, LlamaForCausalLM& model) {
  SafetensorsCheckpoint ckpt(model_dir);
  const auto& spec = model->spec();
  const std::string config = spec.source.empty() ? "the model config" : spec.source;
  std::set<std::string> expected;
  at::NoGradGuard no_grad;
  for (auto& [name, param] : model->hf_named_parameters()) {
    expected.insert(name);
    if (!ckpt.contains(name))
      throw zeroplan::InputError(
          fmt::format("{}: tensor \"{}\" is missing from the checkpoint (needed by {})", model_dir, name, config));
    const StTensorInfo& info = ckpt.info(name);
    const std::string& file = ckpt.file_of(name);
    if (info.shape != param.sizes().vec())
      throw zeroplan::InputError(fmt::format("{}: tensor \"{}\": shape [{}] but {} needs [{}]", file, name,
                                             fmt::join(info.shape, ", "), config, fmt::join(param.sizes().vec(), ", ")));
    if (!is_float_dtype(info.dtype))
      throw zeroplan::InputError(fmt::format("{}: tensor \"{}\": dtype {} cannot be loaded into a parameter "
                                             "(F32, BF16, F16, F64)",
                                             file, name, st_dtype_name(info.dtype)));
    param.copy_(ckpt.read(name));  // converts dtype and moves to the parameter's device
  }
  for (const auto& name : ckpt.names()) {
    if (expected.count(name) != 0 || ends_with(name, "rotary_emb.inv_freq")) continue;
    if (name == "lm_head.weight" && spec.tie_word_embeddings) {
      // Some savers write the tied head too; accept it only if it really is the embedding.
      at::Tensor head = ckpt.read(name).to(at::kFloat);
      at::Tensor embed = ckpt.read("model.embed_tokens.weight").to(at::kFloat);
      if (head.sizes() == embed.sizes() && at::equal(head, embed)) continue;
      throw zeroplan::InputError(fmt::format("{}: tensor \"lm_head.weight\" differs from model.embed_tokens.weight but "
                                             "{} sets tie_word_embeddings",
                                             ckpt.file_of(name), config));
    }
    throw zeroplan::InputError(fmt::format("{}: tensor \"{}\" is not a parameter of the model in {} (does config.json "
                                           "match the checkpoint?)",
                                           ckpt.file_of(name), name, config));
  }
}

std::string hf_config_json(const zeroplan::ModelSpec& s, at::ScalarType dtype) {
  nlohmann::ordered_json j;
  const std::string where = s.source.empty() ? s.name : s.source;
  switch (s.architecture) {
    case zeroplan::Architecture::kLlama:
      if (s.qkv_bias != s.o_bias)
        throw zeroplan::InputError(fmt::format("{}: a Llama config cannot express q/k/v bias without o_proj bias", where));
      j["architectures"] = {"LlamaForCausalLM"};
      j["model_type"] = "llama";
      j["attention_bias"] = s.qkv_bias;
      j["mlp_bias"] = s.mlp_bias;
      break;
    case zeroplan::Architecture::kMistral:
      if (s.qkv_bias || s.o_bias || s.mlp_bias)
        throw zeroplan::InputError(fmt::format("{}: Mistral has no biases", where));
      j["architectures"] = {"MistralForCausalLM"};
      j["model_type"] = "mistral";
      break;
    case zeroplan::Architecture::kQwen2:
      if (!s.qkv_bias || s.o_bias || s.mlp_bias)
        throw zeroplan::InputError(fmt::format("{}: Qwen2 has q/k/v biases and no others", where));
      j["architectures"] = {"Qwen2ForCausalLM"};
      j["model_type"] = "qwen2";
      break;
  }
  j["hidden_act"] = "silu";
  j["hidden_size"] = s.hidden_size;
  j["intermediate_size"] = s.intermediate_size;
  j["num_hidden_layers"] = s.num_hidden_layers;
  j["num_attention_heads"] = s.num_attention_heads;
  j["num_key_value_heads"] = s.num_key_value_heads;
  j["head_dim"] = s.head_dim;
  j["vocab_size"] = s.vocab_size;
  j["max_position_embeddings"] = s.max_position_embeddings;
  j["rms_norm_eps"] = s.rms_norm_eps;
  j["rope_theta"] = s.rope_theta;
  if (s.rope_scaling.rope_type.empty()) {
    j["rope_scaling"] = nullptr;
  } else {
    nlohmann::ordered_json rs;
    rs["rope_type"] = s.rope_scaling.rope_type;
    rs["factor"] = s.rope_scaling.factor;
    if (s.rope_scaling.rope_type == "llama3") {
      rs["low_freq_factor"] = s.rope_scaling.low_freq_factor;
      rs["high_freq_factor"] = s.rope_scaling.high_freq_factor;
      rs["original_max_position_embeddings"] = s.rope_scaling.original_max_position_embeddings;
    }
    j["rope_scaling"] = rs;
  }
  if (s.architecture != zeroplan::Architecture::kLlama) {
    if (s.sliding_window > 0)
      j["sliding_window"] = s.sliding_window;
    else
      j["sliding_window"] = nullptr;
  }
  if (s.architecture == zeroplan::Architecture::kQwen2) {
    j["use_sliding_window"] = false;  // the executor does not implement Qwen2's windowed layers
    j["max_window_layers"] = s.num_hidden_layers;
  }
  j["tie_word_embeddings"] = s.tie_word_embeddings;
  j["attention_dropout"] = 0.0;
  j["initializer_range"] = 0.02;
  j["torch_dtype"] = torch_dtype_name(dtype);
  return j.dump(2) + "\n";
}

void save_hf_checkpoint(const std::string& dir, LlamaForCausalLM& model, const zeroplan::ModelSpec& spec) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw zeroplan::InputError(fmt::format("{}: cannot create directory ({})", dir, ec.message()));
  const std::string config = hf_config_json(spec, model->options().dtype);
  write_safetensors((fs::path(dir) / "model.safetensors").string(), model->hf_named_parameters());
  write_text_atomically((fs::path(dir) / "config.json").string(), config);
}

}  // namespace zeroplan::executor
