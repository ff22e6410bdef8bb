#pragma once
// Llama-family causal LM (Llama 2/3, Mistral, Qwen2) built from a zeroplan::ModelSpec, numerically
// the model transformers computes (tests/executor/reference_test.cc checks it against fixtures made
// by tools/make_reference.py). Module paths are Hugging Face's, so named_parameters() yields
// "model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", ..., "lm_head.weight".
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "executor/model/decoder_layer.h"
#include "executor/model/unit_hooks.h"
#include "planner/model_spec.h"
#include "planner/training_spec.h"

namespace zeroplan::executor {

struct ModelOptions {
  torch::Dtype dtype = torch::kFloat32;  // parameters and activations
  bool activation_checkpointing = false;  // recompute each decoder layer in backward
  zeroplan::AttentionImpl attention = zeroplan::AttentionImpl::kSdpa;
};

// model.layers: children named "0", "1", ... so paths read model.layers.N.*
class DecoderLayersImpl : public torch::nn::Module {
 public:
  DecoderLayersImpl(const zeroplan::ModelSpec& spec, zeroplan::AttentionImpl impl);
  std::vector<std::shared_ptr<DecoderLayerImpl>> layers;
};

class LlamaModelImpl : public torch::nn::Module {
 public:
  explicit LlamaModelImpl(const zeroplan::ModelSpec& spec, const ModelOptions& options);
  std::shared_ptr<EmbeddingImpl> embed_tokens;
  std::shared_ptr<DecoderLayersImpl> layers;
  std::shared_ptr<RMSNormImpl> norm;
};

class LlamaForCausalLMImpl : public torch::nn::Module {
 public:
  LlamaForCausalLMImpl(const zeroplan::ModelSpec& spec, const ModelOptions& options);

  // input_ids [b,s] int64; position_ids [b,s] int64 (restart at 0 per packed example; undefined =
  // 0..s-1); segment_ids [b,s] int64 or undefined: tokens attend causally within the same segment id
  // only (padding carries -1). Returns logits [b, s, vocab] in the model dtype.
  at::Tensor forward(const at::Tensor& input_ids, const at::Tensor& position_ids, const at::Tensor& segment_ids);

  // The final hidden states [b, s, hidden] (after the final norm), before lm_head.
  at::Tensor hidden_states(const at::Tensor& input_ids, const at::Tensor& position_ids, const at::Tensor& segment_ids);

  // Parameters under Hugging Face names in zeroplan::model_tensors(spec) order; a tied lm_head
  // appears once (as model.embed_tokens.weight).
  std::vector<std::pair<std::string, at::Tensor>> hf_named_parameters();

  // Decoder layers in order (ZeRO-3 gathers parameters layer by layer; hooks attach here).
  std::vector<torch::nn::Module*> layers();

  const at::Tensor& lm_head_weight() const;
  const zeroplan::ModelSpec& spec() const { return spec_; }
  const ModelOptions& options() const { return options_; }
  void set_activation_checkpointing(bool on) { options_.activation_checkpointing = on; }

  // Unit hooks (unit_hooks.h; nullptr: none). The hooks object must outlive its use by the model.
  void set_unit_hooks(UnitHooks* hooks) { unit_hooks_ = hooks; }
  UnitHooks* unit_hooks() const { return unit_hooks_; }
  int num_units() const { return static_cast<int>(spec_.num_hidden_layers) + 2; }

  std::shared_ptr<LlamaModelImpl> model;
  std::shared_ptr<LinearImpl> lm_head;  // null when tie_word_embeddings

 private:
  zeroplan::ModelSpec spec_;
  ModelOptions options_;
  at::Tensor inv_freq_;  // fp32 RoPE frequencies; not a buffer so that to(bf16) leaves it fp32
  UnitHooks* unit_hooks_ = nullptr;
};
TORCH_MODULE(LlamaForCausalLM);

// Deterministic initialisation as transformers' _init_weights: Linear and Embedding weights ~
// normal(0, 0.02) (initializer_range), biases 0, norm weights 1. Draws from a CPU generator seeded
// with `seed` in hf_named_parameters order, so the result does not depend on the device.
void init_random(LlamaForCausalLM& model, std::uint64_t seed);

}  // namespace zeroplan::executor
