#pragma once
// The world-1, ZeRO-stage-0 engine: every parameter, gradient and optimizer state lives in this
// process as flat buffers (DeepSpeed's "contiguous gradients"):
//   master      fp32 [N]   the weights AdamW updates. fp32 training: the model's parameters ARE
//                          views into it (no copy). bf16/fp16: the model holds a lowp copy.
//   grad        fp32 [N]   fp32 training: the parameters' .grad are views into it, so autograd
//                          accumulates micro-steps in place. bf16/fp16: the lowp .grad views are
//                          added into it after each micro-step (accumulation stays in fp32).
//   exp_avg, exp_avg_sq    fp32 [N]   AdamW moments.
// Layout: parameters with >= 2 dims first (weight decay applies), then 1-dim ones (norm weights,
// biases: no weight decay, as Hugging Face's Trainer groups them), each group in model order.
#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

#include "executor/train/optimizer_engine.h"

namespace zeroplan::executor {

struct EngineOptions {
  Precision precision = Precision::kFp32;
  AdamWOptions adamw;
  double clip_grad = 1.0;         // max global L2 norm; 0 = no clipping (DeepSpeed gradient_clipping)
  LossScalerOptions loss_scaler;  // used for fp16 only; fp32/bf16 use a static scale of 1
};

class SingleProcessEngine : public OptimizerEngine {
 public:
  // `params` are the model's trainable parameters (Hugging Face names, model order, tied ones once).
  // Their storage is re-pointed into the engine's flat buffers.
  SingleProcessEngine(const std::vector<std::pair<std::string, at::Tensor>>& params, const EngineOptions& options);

  int rank() const override { return 0; }
  int world() const override { return 1; }
  double all_reduce_sum(double local) override { return local; }

  double backward_multiplier(double global_label_tokens) const override;
  void begin_accumulation() override;
  void after_micro_backward() override;
  StepOutcome step(double lr) override;

  std::vector<StateBuffer> state_buffers() override;
  std::vector<ShardPiece> shard_pieces() const override;
  EngineScalarState scalar_state() const override;
  void set_scalar_state(const EngineScalarState& s) override;
  void refresh_parameters() override;
  std::int64_t num_parameters() const override { return numel_; }

  const LossScaler& loss_scaler() const { return scaler_; }
  const at::Tensor& flat_grad() const { return grad_; }  // tests

 private:
  struct Slot {
    std::string name;
    at::Tensor param;
    std::int64_t offset = 0;
    std::int64_t numel = 0;
  };
  bool lowp() const { return options_.precision != Precision::kFp32; }
  void check_grads_are_views() const;

  EngineOptions options_;
  std::vector<Slot> slots_;
  std::int64_t numel_ = 0;
  std::int64_t decay_numel_ = 0;  // [0, decay_numel_) gets weight decay
  at::Tensor master_, grad_, exp_avg_, exp_avg_sq_;
  at::Tensor lowp_params_, lowp_grads_;  // bf16/fp16 only
  LossScaler scaler_;
  std::int64_t adam_step_ = 0;
  bool first_micro_ = true;
};

}  // namespace zeroplan::executor
