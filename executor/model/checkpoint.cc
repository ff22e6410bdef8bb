#include "executor/model/checkpoint.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

namespace zeroplan::executor {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// apply(layer address, has_mask, [hidden, cos, sin, (mask)], [parameters...])
struct CheckpointedLayer : public torch::autograd::Function<CheckpointedLayer> {
  static at::Tensor forward(AutogradContext* ctx, std::int64_t layer_address, bool has_mask, at::TensorList inputs,
                            at::TensorList params) {
    const auto* layer = reinterpret_cast<const DecoderLayerImpl*>(layer_address);
    LayerInputs in{inputs[1], inputs[2], has_mask ? inputs[3] : at::Tensor()};
    ctx->saved_data["layer"] = layer_address;
    ctx->saved_data["has_mask"] = has_mask;
    ctx->saved_data["num_params"] = static_cast<std::int64_t>(params.size());
    ctx->save_for_backward(inputs.vec());
    // Function::apply runs forward with grad mode off: no graph, no saved activations.
    return layer->forward(inputs[0], in);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto* layer = reinterpret_cast<const DecoderLayerImpl*>(ctx->saved_data["layer"].toInt());
    const bool has_mask = ctx->saved_data["has_mask"].toBool();
    const auto num_params = ctx->saved_data["num_params"].toInt();
    variable_list saved = ctx->get_saved_variables();
    LayerInputs in{saved[1], saved[2], has_mask ? saved[3] : at::Tensor()};

    // The parameters as the layer holds them now (ZeRO-3 may have re-gathered them since forward).
    variable_list params;
    for (const auto& p : layer->parameters())
      if (p.requires_grad()) params.push_back(p);
    TORCH_CHECK(static_cast<std::int64_t>(params.size()) == num_params, "checkpointed layer: parameter count changed");

    at::Tensor hidden = saved[0].detach().requires_grad_(true);
    at::Tensor out;
    {
      at::AutoGradMode enable_grad(true);
      out = layer->forward(hidden, in);
    }
    variable_list wrt{hidden};
    wrt.insert(wrt.end(), params.begin(), params.end());
    variable_list grads = torch::autograd::grad({out}, wrt, {grad_outputs[0]}, /*retain_graph=*/false,
                                                /*create_graph=*/false, /*allow_unused=*/true);

    // One gradient per forward argument, expanded: layer_address, has_mask, inputs..., params...
    variable_list result{at::Tensor(), at::Tensor(), grads[0]};
    for (std::size_t i = 1; i < saved.size(); ++i) result.emplace_back();  // cos, sin, mask: no grad
    for (std::int64_t i = 0; i < num_params; ++i) result.push_back(grads[1 + i]);
    return result;
  }
};

}  // namespace

at::Tensor checkpointed_layer_forward(const DecoderLayerImpl& layer, const at::Tensor& hidden, const LayerInputs& in) {
  std::vector<at::Tensor> inputs{hidden, in.cos, in.sin};
  const bool has_mask = in.attention_mask.defined();
  if (has_mask) inputs.push_back(in.attention_mask);
  std::vector<at::Tensor> params;
  for (const auto& p : layer.parameters())
    if (p.requires_grad()) params.push_back(p);
  return CheckpointedLayer::apply(reinterpret_cast<std::int64_t>(&layer), has_mask, at::TensorList(inputs),
                                  at::TensorList(params));
}

}  // namespace zeroplan::executor
