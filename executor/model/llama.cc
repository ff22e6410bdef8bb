#include "executor/model/llama.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <unordered_map>

#include "executor/model/checkpoint.h"
#include "planner/error.h"

namespace zeroplan::executor {
namespace {

void check_spec(const zeroplan::ModelSpec& s) {
  auto bad = [&](const char* field, const std::string& what) {
    throw zeroplan::InputError(fmt::format("{}: field \"{}\": {}", s.source.empty() ? s.name : s.source, field, what));
  };
  if (s.hidden_size <= 0) bad("hidden_size", "must be positive");
  if (s.intermediate_size <= 0) bad("intermediate_size", "must be positive");
  if (s.num_hidden_layers <= 0) bad("num_hidden_layers", "must be positive");
  if (s.num_attention_heads <= 0) bad("num_attention_heads", "must be positive");
  if (s.num_key_value_heads <= 0 || s.num_attention_heads % s.num_key_value_heads != 0)
    bad("num_key_value_heads", fmt::format("{} does not divide num_attention_heads {}", s.num_key_value_heads,
                                           s.num_attention_heads));
  if (s.head_dim <= 0 || s.head_dim % 2 != 0) bad("head_dim", fmt::format("{} is not a positive even number", s.head_dim));
  if (s.vocab_size <= 0) bad("vocab_size", "must be positive");
}

}  // namespace

DecoderLayersImpl::DecoderLayersImpl(const zeroplan::ModelSpec& spec, zeroplan::AttentionImpl impl) {
  for (std::int64_t i = 0; i < spec.num_hidden_layers; ++i)
    layers.push_back(register_module(std::to_string(i), std::make_shared<DecoderLayerImpl>(spec, impl)));
}

LlamaModelImpl::LlamaModelImpl(const zeroplan::ModelSpec& spec, const ModelOptions& options) {
  embed_tokens = register_module("embed_tokens", std::make_shared<EmbeddingImpl>(spec.vocab_size, spec.hidden_size));
  layers = register_module("layers", std::make_shared<DecoderLayersImpl>(spec, options.attention));
  norm = register_module("norm", std::make_shared<RMSNormImpl>(spec.hidden_size, spec.rms_norm_eps));
}

LlamaForCausalLMImpl::LlamaForCausalLMImpl(const zeroplan::ModelSpec& spec, const ModelOptions& options)
    : spec_(spec), options_(options) {
  check_spec(spec);
  inv_freq_ = rope_inv_freq(spec);
  model = register_module("model", std::make_shared<LlamaModelImpl>(spec, options));
  if (!spec.tie_word_embeddings)
    lm_head = register_module("lm_head", std::make_shared<LinearImpl>(spec.hidden_size, spec.vocab_size, false));
  if (options.dtype != at::kFloat) to(options.dtype);
}

const at::Tensor& LlamaForCausalLMImpl::lm_head_weight() const {
  return lm_head ? lm_head->weight : model->embed_tokens->weight;
}

at::Tensor LlamaForCausalLMImpl::hidden_states(const at::Tensor& input_ids, const at::Tensor& position_ids_in,
                                               const at::Tensor& segment_ids) {
  TORCH_CHECK(input_ids.dim() == 2, "input_ids must be [batch, seq]");
  const auto b = input_ids.size(0), s = input_ids.size(1);
  const auto device = input_ids.device();
  at::Tensor position_ids = position_ids_in.defined()
                                ? position_ids_in.to(device)
                                : at::arange(s, at::TensorOptions().dtype(at::kLong).device(device)).unsqueeze(0).expand({b, s});
  if (inv_freq_.device() != device) inv_freq_ = inv_freq_.to(device);

  UnitHooks* hooks = unit_hooks_;
  if (hooks != nullptr) hooks->before_unit_forward(0);
  at::Tensor h = model->embed_tokens->forward(input_ids);
  if (hooks != nullptr) h = hooks->after_unit_forward(0, h);
  LayerInputs in;
  std::tie(in.cos, in.sin) = rope_cos_sin(inv_freq_, position_ids, h.scalar_type());
  // Mistral applies its sliding window; Qwen2 only with use_sliding_window, which the spec does not
  // carry (and released Qwen2 checkpoints set false), so Qwen2 attends over the full causal range.
  const std::int64_t window = spec_.architecture == zeroplan::Architecture::kMistral ? spec_.sliding_window : 0;
  in.attention_mask = make_attention_mask(segment_ids, b, s, window, device);
  const bool checkpoint = options_.activation_checkpointing && at::GradMode::is_enabled();
  int unit = 1;
  for (const auto& layer : model->layers->layers) {
    if (hooks != nullptr) hooks->before_unit_forward(unit);
    h = checkpoint ? checkpointed_layer_forward(*layer, h, in) : layer->forward(h, in);
    if (hooks != nullptr) h = hooks->after_unit_forward(unit, h);
    ++unit;
  }
  if (hooks != nullptr) hooks->before_unit_forward(unit);  // the head: live until its backward
  return model->norm->forward(h);
}

at::Tensor LlamaForCausalLMImpl::forward(const at::Tensor& input_ids, const at::Tensor& position_ids,
                                         const at::Tensor& segment_ids) {
  return at::linear(hidden_states(input_ids, position_ids, segment_ids), lm_head_weight());
}

std::vector<std::pair<std::string, at::Tensor>> LlamaForCausalLMImpl::hf_named_parameters() {
  std::unordered_map<std::string, at::Tensor> by_name;
  for (const auto& item : named_parameters()) by_name.emplace(item.key(), item.value());
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& t : zeroplan::model_tensors(spec_)) {
    auto it = by_name.find(t.name);
    ZP_ASSERT(it != by_name.end(), "model_tensors() names a tensor the executor's model does not have");
    ZP_ASSERT(it->second.sizes().vec() == t.shape, "model_tensors() shape differs from the executor's model");
    out.emplace_back(t.name, it->second);
    by_name.erase(it);
  }
  ZP_ASSERT(by_name.empty(), "the executor's model has a parameter model_tensors() does not list");
  return out;
}

std::vector<torch::nn::Module*> LlamaForCausalLMImpl::layers() {
  std::vector<torch::nn::Module*> out;
  for (const auto& layer : model->layers->layers) out.push_back(layer.get());
  return out;
}

void init_random(LlamaForCausalLM& model, std::uint64_t seed) {
  // transformers LlamaPreTrainedModel._init_weights: nn.Linear / nn.Embedding weight ~ N(0, 0.02),
  // Linear bias = 0, RMSNorm weight = 1.
  constexpr double kInitializerRange = 0.02;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::NoGradGuard no_grad;
  for (auto& [name, param] : model->hf_named_parameters()) {
    at::Tensor value;
    const bool is_norm = name.find("norm.weight") != std::string::npos;  // input_layernorm, post_..., model.norm
    const bool is_bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    if (is_norm) {
      value = at::ones(param.sizes(), at::kFloat);
    } else if (is_bias) {
      value = at::zeros(param.sizes(), at::kFloat);
    } else {
      value = at::empty(param.sizes(), at::kFloat);
      value.normal_(0.0, kInitializerRange, gen);
    }
    param.copy_(value);
  }
}

}  // namespace zeroplan::executor
