#pragma once
// The shape of a Llama-family decoder, read from a Hugging Face config.json (LlamaForCausalLM,
// MistralForCausalLM, Qwen2ForCausalLM) or a preset in configs/models/. The planner counts
// parameters and activations from it; the executor builds the same model from it.
#include <cstdint>
#include <string>
#include <vector>

namespace zeroplan {

enum class Architecture { kLlama, kMistral, kQwen2 };

struct RopeScaling {
  std::string rope_type;  // "" (none), "llama3", "linear", "dynamic"
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  std::int64_t original_max_position_embeddings = 0;
};

struct ModelSpec {
  std::string name;          // preset name or the config.json path's folder name
  std::string source;        // file it was read from (for error messages)
  Architecture architecture = Architecture::kLlama;
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_hidden_layers = 0;
  std::int64_t num_attention_heads = 0;
  std::int64_t num_key_value_heads = 0;  // defaults to num_attention_heads
  std::int64_t head_dim = 0;             // defaults to hidden_size / num_attention_heads
  std::int64_t vocab_size = 0;
  std::int64_t max_position_embeddings = 0;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // Qwen2 always; Llama/Mistral when attention_bias
  bool o_bias = false;    // Llama attention_bias also biases o_proj
  bool mlp_bias = false;  // Llama mlp_bias
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  std::int64_t sliding_window = 0;  // 0 = none (Mistral v0.1 has 4096; informational)
};

// One named parameter tensor, with Hugging Face's name (model.layers.0.self_attn.q_proj.weight).
struct TensorShape {
  std::string name;
  std::vector<std::int64_t> shape;
  std::int64_t numel() const;
};

// Every parameter tensor of the model in Hugging Face's order and naming; tied embeddings appear once
// (lm_head.weight is absent when tie_word_embeddings). The checkpoint loader checks against this list.
std::vector<TensorShape> model_tensors(const ModelSpec& spec);

struct ParamCounts {
  std::int64_t total = 0;                 // = sum of model_tensors numel, shared weights once
  std::int64_t embedding = 0;             // embed_tokens
  std::int64_t lm_head = 0;               // 0 when tied
  std::int64_t per_layer = 0;             // one decoder layer
  std::int64_t final_norm = 0;
  std::int64_t largest_layer_params = 0;  // DeepSpeed: max over modules of params owned directly
};
ParamCounts count_params(const ModelSpec& spec);

// Loads a model: a preset name (configs/models/NAME.json) or a path to a Hugging Face config.json
// (or a directory holding one). Unknown architectures and missing or non-positive fields are
// InputErrors naming the file and field.
ModelSpec load_model_spec(const std::string& name_or_path, const std::string& configs_dir);
ModelSpec parse_hf_config(const std::string& json_text_or_empty, const std::string& source);

const char* architecture_name(Architecture a);

}  // namespace zeroplan
