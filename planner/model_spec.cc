#include "planner/model_spec.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "planner/error.h"
#include "planner/json_fields.h"

namespace zeroplan {
namespace {

namespace fs = std::filesystem;

// Reads rope_scaling (HF's object; null or absent = no scaling). HF writes the type as "rope_type"
// (current) or "type" (older configs).
RopeScaling parse_rope_scaling_object(JsonFields& rs) {
  RopeScaling r;
  if (rs.has("rope_type")) {
    r.rope_type = rs.string("rope_type");
  } else if (rs.has("type")) {
    r.rope_type = rs.string("type");
  } else {
    rs.fail("rope_type", "is missing");
  }
  rs.ignore("type");
  if (r.rope_type == "default") r.rope_type = "";
  if (!r.rope_type.empty() && r.rope_type != "llama3" && r.rope_type != "linear" && r.rope_type != "dynamic") {
    rs.fail("rope_type", fmt::format("'{}' is not supported (llama3, linear, dynamic)", r.rope_type));
  }
  r.factor = rs.optional_number("factor", 1.0);
  if (r.factor <= 0) rs.fail("factor", "must be positive");
  r.low_freq_factor = rs.optional_number("low_freq_factor", 1.0);
  r.high_freq_factor = rs.optional_number("high_freq_factor", 4.0);
  r.original_max_position_embeddings = rs.optional_integer("original_max_position_embeddings", 0);
  if (r.rope_type == "llama3" && r.original_max_position_embeddings <= 0) {
    rs.fail("original_max_position_embeddings", "must be positive for rope_type llama3");
  }
  // Other keys inside rope_scaling are Hugging Face's; they do not change the model's shape.
  return r;
}

struct Rope {
  double theta = 10000.0;
  RopeScaling scaling;
};

// RoPE settings. transformers <= 4 writes top-level "rope_theta" and "rope_scaling"; transformers 5
// writes one "rope_parameters" object ({"rope_type": "default"|"llama3"|..., "rope_theta": ..., and
// the scaling keys}). Both layouts are read; when both give a theta they must agree, so a config
// re-saved by either version never silently loses its base frequency or scaling.
Rope parse_rope(JsonFields& f) {
  Rope rope;
  rope.theta = f.optional_number("rope_theta", 10000.0);
  if (f.has("rope_scaling")) {
    JsonFields rs = f.object("rope_scaling");
    rope.scaling = parse_rope_scaling_object(rs);
  } else {
    f.ignore("rope_scaling");
  }
  if (f.has("rope_parameters")) {
    JsonFields rp = f.object("rope_parameters");
    if (!rp.has("rope_type") && !rp.has("type")) {
      rp.fail("rope_type", "is missing (per-layer-type rope_parameters are not supported)");
    }
    if (rp.has("rope_theta")) {
      const double theta = rp.number("rope_theta");
      if (f.has("rope_theta") && theta != rope.theta) {
        rp.fail("rope_theta", fmt::format("is {} but the top-level rope_theta is {}", theta, rope.theta));
      }
      rope.theta = theta;
    }
    RopeScaling scaling = parse_rope_scaling_object(rp);
    if (!scaling.rope_type.empty()) {
      if (!rope.scaling.rope_type.empty() && rope.scaling.rope_type != scaling.rope_type) {
        rp.fail("rope_type", fmt::format("is '{}' but rope_scaling says '{}'", scaling.rope_type,
                                         rope.scaling.rope_type));
      }
      rope.scaling = scaling;
    }
  } else {
    f.ignore("rope_parameters");
  }
  if (rope.theta <= 0) f.fail("rope_theta", "must be positive");
  return rope;
}

Architecture detect_architecture(JsonFields& f) {
  std::string arch;
  if (f.has("architectures")) {
    const auto& a = f.raw("architectures");
    if (!a.is_array() || a.empty() || !a[0].is_string()) f.fail("architectures", "must be a list of class names");
    arch = a[0].get<std::string>();
    if (arch == "LlamaForCausalLM") return Architecture::kLlama;
    if (arch == "MistralForCausalLM") return Architecture::kMistral;
    if (arch == "Qwen2ForCausalLM") return Architecture::kQwen2;
    f.fail("architectures",
           fmt::format("'{}' is not supported (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM)", arch));
  }
  if (!f.has("model_type")) f.fail("architectures", "is missing (and so is model_type)");
  std::string type = f.string("model_type");
  if (type == "llama") return Architecture::kLlama;
  if (type == "mistral") return Architecture::kMistral;
  if (type == "qwen2") return Architecture::kQwen2;
  f.fail("model_type", fmt::format("'{}' is not supported (llama, mistral, qwen2)", type));
}

std::int64_t default_max_positions(Architecture a) {
  switch (a) {
    case Architecture::kLlama: return 2048;       // LlamaConfig default
    case Architecture::kMistral: return 4096 * 32;  // MistralConfig default
    case Architecture::kQwen2: return 32768;      // Qwen2Config default
  }
  return 2048;
}

}  // namespace

const char* architecture_name(Architecture a) {
  switch (a) {
    case Architecture::kLlama: return "LlamaForCausalLM";
    case Architecture::kMistral: return "MistralForCausalLM";
    case Architecture::kQwen2: return "Qwen2ForCausalLM";
  }
  return "?";
}

std::int64_t TensorShape::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

// A Hugging Face config.json has many keys that do not change the parameter or activation shapes
// (bos_token_id, torch_dtype, transformers_version, ...). Those belong to Hugging Face, so unknown keys
// are NOT rejected here (unlike zeroplan's own configs); the keys we need are read strictly.
ModelSpec parse_hf_config(const std::string& json_text_or_empty, const std::string& source) {
  nlohmann::json j;
  if (json_text_or_empty.empty()) {
    j = read_json_file(source);
  } else {
    try {
      j = nlohmann::json::parse(json_text_or_empty);
    } catch (const nlohmann::json::parse_error& e) {
      std::string what = e.what();
      auto pos = what.find("] ");
      if (pos != std::string::npos) what = what.substr(pos + 2);
      throw InputError(fmt::format("{}: not valid JSON ({})", source, what));
    }
  }
  JsonFields f(j, source);
  ModelSpec m;
  m.source = source;
  m.name = f.optional_string("name", "");
  m.architecture = detect_architecture(f);
  m.hidden_size = f.positive_integer("hidden_size");
  m.intermediate_size = f.positive_integer("intermediate_size");
  m.num_hidden_layers = f.positive_integer("num_hidden_layers");
  m.num_attention_heads = f.positive_integer("num_attention_heads");
  m.vocab_size = f.positive_integer("vocab_size");
  m.num_key_value_heads =
      f.has("num_key_value_heads") ? f.positive_integer("num_key_value_heads") : m.num_attention_heads;
  if (m.num_attention_heads % m.num_key_value_heads != 0) {
    f.fail("num_key_value_heads", fmt::format("({}) must divide num_attention_heads ({})", m.num_key_value_heads,
                                              m.num_attention_heads));
  }
  if (f.has("head_dim")) {
    m.head_dim = f.positive_integer("head_dim");
  } else {
    if (m.hidden_size % m.num_attention_heads != 0) {
      f.fail("num_attention_heads", fmt::format("({}) must divide hidden_size ({}) when head_dim is absent",
                                                m.num_attention_heads, m.hidden_size));
    }
    m.head_dim = m.hidden_size / m.num_attention_heads;
  }
  m.max_position_embeddings = f.has("max_position_embeddings") ? f.positive_integer("max_position_embeddings")
                                                               : default_max_positions(m.architecture);
  m.tie_word_embeddings = f.optional_boolean("tie_word_embeddings", false);
  const bool attention_bias = f.optional_boolean("attention_bias", false);
  m.mlp_bias = f.optional_boolean("mlp_bias", false);
  switch (m.architecture) {
    case Architecture::kLlama:  // LlamaAttention: q,k,v,o all use config.attention_bias
      m.qkv_bias = attention_bias;
      m.o_bias = attention_bias;
      break;
    case Architecture::kMistral:  // MistralAttention: bias=False, MistralMLP: bias=False (hard-coded)
      m.qkv_bias = false;
      m.o_bias = false;
      m.mlp_bias = false;
      break;
    case Architecture::kQwen2:  // Qwen2Attention: q,k,v bias=True, o_proj bias=False (hard-coded)
      m.qkv_bias = true;
      m.o_bias = false;
      m.mlp_bias = false;
      break;
  }
  m.rms_norm_eps = f.optional_number("rms_norm_eps", 1e-6);
  if (m.rms_norm_eps <= 0) f.fail("rms_norm_eps", "must be positive");
  const Rope rope = parse_rope(f);
  m.rope_theta = rope.theta;
  m.rope_scaling = rope.scaling;
  if (f.has("sliding_window")) {
    // Mistral v0.1 uses 4096; Qwen2 writes it but only applies it with use_sliding_window.
    m.sliding_window = f.integer("sliding_window");
    if (m.sliding_window < 0) f.fail("sliding_window", "must not be negative");
  }
  // The executor implements SiLU-gated MLPs only; say so instead of silently computing something else.
  if (f.has("hidden_act")) {
    auto act = f.string("hidden_act");
    if (act != "silu") f.fail("hidden_act", fmt::format("'{}' is not supported (silu)", act));
  }
  if (f.has("attention_dropout") && f.number("attention_dropout") != 0.0) {
    f.fail("attention_dropout", "must be 0 (the memory model and the executor have no attention dropout)");
  }
  return m;
}

ModelSpec load_model_spec(const std::string& name_or_path, const std::string& configs_dir) {
  std::error_code ec;
  fs::path p(name_or_path);
  std::string file;
  if (fs::is_directory(p, ec)) {
    file = (p / "config.json").string();
    if (!fs::exists(file, ec)) throw InputError(fmt::format("{}: folder has no config.json", name_or_path));
  } else if (fs::exists(p, ec)) {
    file = name_or_path;
  } else if (name_or_path.find('/') != std::string::npos || p.extension() == ".json") {
    throw InputError(fmt::format("{}: cannot read file", name_or_path));
  } else {
    fs::path preset = fs::path(configs_dir) / "models" / (name_or_path + ".json");
    if (!fs::exists(preset, ec)) {
      std::vector<std::string> names;
      for (const auto& e : fs::directory_iterator(fs::path(configs_dir) / "models", ec)) {
        if (e.path().extension() == ".json") names.push_back(e.path().stem().string());
      }
      std::sort(names.begin(), names.end());
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      throw InputError(fmt::format("--model: '{}' is neither a file nor a preset ({})", name_or_path, list));
    }
    ModelSpec m = parse_hf_config("", preset.string());
    if (m.name.empty()) m.name = name_or_path;
    if (m.name != name_or_path) {
      throw InputError(fmt::format("{}: field \"name\" is '{}' but the file is named '{}'", preset.string(),
                                   m.name, name_or_path));
    }
    return m;
  }
  ModelSpec m = parse_hf_config("", file);
  if (m.name.empty()) {
    fs::path fp = fs::absolute(fs::path(file), ec);
    m.name = fp.filename() == "config.json" ? fp.parent_path().filename().string() : fp.stem().string();
  }
  return m;
}

std::vector<TensorShape> model_tensors(const ModelSpec& s) {
  const std::int64_t h = s.hidden_size;
  const std::int64_t q_out = s.num_attention_heads * s.head_dim;   // q_proj out features
  const std::int64_t kv_out = s.num_key_value_heads * s.head_dim;  // k_proj / v_proj out features
  const std::int64_t ffn = s.intermediate_size;
  std::vector<TensorShape> t;
  t.reserve(static_cast<std::size_t>(s.num_hidden_layers) * 16 + 3);
  t.push_back({"model.embed_tokens.weight", {s.vocab_size, h}});
  for (std::int64_t l = 0; l < s.num_hidden_layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    auto linear = [&](const std::string& name, std::int64_t out, std::int64_t in, bool bias) {
      t.push_back({p + name + ".weight", {out, in}});  // nn.Linear stores (out_features, in_features)
      if (bias) t.push_back({p + name + ".bias", {out}});
    };
    linear("self_attn.q_proj", q_out, h, s.qkv_bias);
    linear("self_attn.k_proj", kv_out, h, s.qkv_bias);
    linear("self_attn.v_proj", kv_out, h, s.qkv_bias);
    linear("self_attn.o_proj", h, q_out, s.o_bias);
    linear("mlp.gate_proj", ffn, h, s.mlp_bias);
    linear("mlp.up_proj", ffn, h, s.mlp_bias);
    linear("mlp.down_proj", h, ffn, s.mlp_bias);
    t.push_back({p + "input_layernorm.weight", {h}});
    t.push_back({p + "post_attention_layernorm.weight", {h}});
  }
  t.push_back({"model.norm.weight", {h}});
  if (!s.tie_word_embeddings) t.push_back({"lm_head.weight", {s.vocab_size, h}});
  return t;
}

// Counts per module, the way DeepSpeed's stage-3 model_to_params sees them:
// largest_layer_params = max over model.modules() of sum(p.numel() for p in m.parameters(recurse=False)).
// Modules that own parameters: embed_tokens, each Linear (weight + bias), each RMSNorm, lm_head
// (a tied lm_head still owns the shared weight, so it equals the embedding and does not change the max).
ParamCounts count_params(const ModelSpec& s) {
  const std::int64_t h = s.hidden_size;
  const std::int64_t q_out = s.num_attention_heads * s.head_dim;
  const std::int64_t kv_out = s.num_key_value_heads * s.head_dim;
  const std::int64_t ffn = s.intermediate_size;
  const std::int64_t q = q_out * h + (s.qkv_bias ? q_out : 0);     // q_proj
  const std::int64_t kv = kv_out * h + (s.qkv_bias ? kv_out : 0);  // k_proj, v_proj each
  const std::int64_t o = h * q_out + (s.o_bias ? h : 0);           // o_proj
  const std::int64_t up = ffn * h + (s.mlp_bias ? ffn : 0);        // gate_proj, up_proj each
  const std::int64_t down = h * ffn + (s.mlp_bias ? h : 0);        // down_proj
  const std::int64_t norm = h;                                     // each RMSNorm

  ParamCounts c;
  c.embedding = s.vocab_size * h;
  c.lm_head = s.tie_word_embeddings ? 0 : s.vocab_size * h;
  c.per_layer = q + 2 * kv + o + 2 * up + down + 2 * norm;
  c.final_norm = norm;
  c.total = c.embedding + s.num_hidden_layers * c.per_layer + c.final_norm + c.lm_head;
  c.largest_layer_params = std::max({c.embedding, q, kv, o, up, down, norm});
  return c;
}

}  // namespace zeroplan
