#include "executor/zero/make_engine.h"

#include <fmt/format.h>

#include "executor/zero/sharded_engine.h"
#include "planner/error.h"

namespace zeroplan::executor::zero {

namespace {

// The units of unit_hooks.h from Hugging Face names: embed 0, layer i -> 1 + i, norm + lm_head L + 1.
UnitMap llama_units(LlamaForCausalLMImpl& model, const std::vector<std::pair<std::string, at::Tensor>>& params) {
  const int head = model.num_units() - 1;
  UnitMap m;
  m.uses.resize(static_cast<size_t>(model.num_units()));
  bool has_lm_head = false;
  size_t embed = params.size();
  const std::string layer_prefix = "model.layers.";
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string& name = params[i].first;
    int unit = head;
    if (name.rfind("model.embed_tokens.", 0) == 0) {
      unit = 0;
      embed = i;
    } else if (name.rfind(layer_prefix, 0) == 0) {
      unit = 1 + std::stoi(name.substr(layer_prefix.size()));
    } else if (name.rfind("lm_head.", 0) == 0) {
      has_lm_head = true;
    } else {
      ZP_ASSERT(name.rfind("model.norm.", 0) == 0, "a parameter outside the model's units");
    }
    ZP_ASSERT(unit >= 0 && unit <= head, "a layer index outside the model");
    m.owner.push_back(unit);
    m.uses[static_cast<size_t>(unit)].push_back(i);
  }
  // Tied embeddings: the head reads the embedding weight as its lm_head.
  if (!has_lm_head && embed < params.size()) m.uses[static_cast<size_t>(head)].push_back(embed);
  return m;
}

}  // namespace

std::unique_ptr<OptimizerEngine> make_zero_engine(LlamaForCausalLM& model, const ZeroRunOptions& options,
                                                  dist::Communicator& comm) {
  if (options.stage < 0 || options.stage > 3)
    throw InputError(fmt::format("zero_optimization.stage {}: must be 0, 1, 2 or 3", options.stage));
  if (options.offload_param && options.stage != 3)
    throw InputError("zero_optimization.offload_param: parameter offload needs stage 3");
  const auto params = model->hf_named_parameters();
  if (options.stage != 3) return std::make_unique<ShardedEngine>(params, options, comm);
  const UnitMap units = llama_units(*model, params);
  auto engine = std::make_unique<ShardedEngine>(params, options, comm, &units);
  engine->attach(model.get());
  return engine;
}

}  // namespace zeroplan::executor::zero
