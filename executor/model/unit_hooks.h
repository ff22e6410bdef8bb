#pragma once
// Hook points around the model's units, for engines that materialise parameters on demand
// (ZeRO-3, executor/zero/sharded_engine.h). LibTorch only; the model's numerics do not change.
//
// Units of LlamaForCausalLM (num_units() = num_hidden_layers + 2):
//   0         model.embed_tokens
//   1 + i     model.layers.i
//   L + 1     model.norm and lm_head (the "head"). The head's weight is also read by the loss after
//             hidden_states() returns, so after_unit_forward is NOT called for it: an engine keeps it
//             live until the head's backward has produced its gradients.
// hidden_states() calls before_unit_forward(u) right before unit u runs and, for u <= L, continues
// with after_unit_forward(u, output) instead of output (the same values: engines may wrap it in an
// identity autograd function whose backward runs right before the unit's backward).
#include <ATen/core/Tensor.h>

namespace zeroplan::executor {

class UnitHooks {
 public:
  virtual ~UnitHooks() = default;
  virtual void before_unit_forward(int unit) = 0;
  virtual at::Tensor after_unit_forward(int unit, const at::Tensor& output) = 0;
};

}  // namespace zeroplan::executor
