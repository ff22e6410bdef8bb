#pragma once
// Per-layer activation checkpointing as a custom autograd function (LibTorch has no C++ utility,
// pytorch#52744). Forward runs the layer without recording a graph and saves only its input (and
// the shared RoPE tables and mask); backward recomputes the layer with grad enabled and
// differentiates it with torch::autograd::grad. The layer's parameters are explicit inputs of the
// function, so their gradients flow through the ordinary engine (AccumulateGrad hooks fire as usual).
#include <ATen/ATen.h>

#include "executor/model/decoder_layer.h"

namespace zeroplan::executor {

at::Tensor checkpointed_layer_forward(const DecoderLayerImpl& layer, const at::Tensor& hidden, const LayerInputs& in);

}  // namespace zeroplan::executor
