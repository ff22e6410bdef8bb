#pragma once
// ZeRO stages 0 and 1 behind the trainer's OptimizerEngine seam (executor/train/optimizer_engine.h),
// over one flat, padded, rank-partitioned layout (flat_layout.h) and a Communicator.
//
// Layout: as SingleProcessEngine, weight-decay parameters (dim >= 2) first, then the rest, each in
// model order, in ONE flat buffer padded to a multiple of world x alignment; rank r owns partition r.
//
// Per rank (N = padded parameter count, P = N / world):
//   stage 0: params/grads N (model dtype), fp32 master, grad, exp_avg, exp_avg_sq all N.
//            step: all_reduce(grad) -> every rank runs AdamW on everything (replicated).
//   stage 1: fp32 grad N (autograd accumulates into it across micro-steps); exp_avg, exp_avg_sq P;
//            fp32 master P (fp32 training: the rank's partition of the parameter buffer itself,
//            no copy -- DeepSpeed keeps a separate fp32 partition even in fp32); one fp32 grad
//            partition P created per step.
//            step: reduce_scatter(grad) at the accumulation boundary -> global norm from an
//            all_reduce of the partitions' squared sums -> AdamW on the partition ->
//            all_gather of the updated partitions into the parameter buffer.
// The overflow decision comes from the all-reduced norm, so every rank skips the same steps and
// the loss scaler state stays identical. The loss is normalised by the global label tokens
// (all_reduce_sum), so the gradients are summed over ranks, never averaged.
// This is the first stage 0/1 engine, on DeepSpeed's contiguous partitions; it is kept with its
// tests. make_zero_engine() builds ShardedEngine (sharded_engine.h) for every stage instead, which
// also runs stages 2 and 3 and offload (README.md).
#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "executor/dist/communicator.h"
#include "executor/train/single_process_engine.h"
#include "executor/zero/flat_layout.h"

namespace zeroplan::executor::zero {

struct ZeroOptions {
  int stage = 1;
  EngineOptions engine;   // precision, AdamW, clipping, loss scaler (as the single-process engine)
  int64_t alignment = 16;  // elements; every partition is a whole number of these (64 B of fp32)
};

class ZeroEngine : public OptimizerEngine {
 public:
  // `params`: the model's trainable parameters (same on every rank). `comm` must outlive the engine.
  ZeroEngine(const std::vector<std::pair<std::string, at::Tensor>>& params, const ZeroOptions& options,
             dist::Communicator& comm);

  int rank() const override { return comm_.rank(); }
  int world() const override { return comm_.world_size(); }
  double all_reduce_sum(double local) override;

  double backward_multiplier(double global_label_tokens) const override;
  void begin_accumulation() override;
  void after_micro_backward() override;
  StepOutcome step(double lr) override;

  std::vector<StateBuffer> state_buffers() override;
  std::vector<ShardPiece> shard_pieces() const override;
  EngineScalarState scalar_state() const override;
  void set_scalar_state(const EngineScalarState& s) override;
  void refresh_parameters() override;
  std::int64_t num_parameters() const override { return layout_->unpadded_numel(); }

  const FlatLayout& layout() const { return *layout_; }

 private:
  bool lowp() const { return options_.engine.precision != Precision::kFp32; }
  // The AdamW range of this rank: everything (stage 0) or its partition (stage 1).
  int64_t owned_begin() const;
  int64_t owned_numel() const;
  void adamw_owned(const at::Tensor& grad_owned, double lr, double grad_multiplier);

  ZeroOptions options_;
  dist::Communicator& comm_;
  std::unique_ptr<FlatLayout> layout_;
  std::vector<at::Tensor> params_;
  int64_t decay_numel_ = 0;
  at::Tensor params_flat_;      // model dtype, N: the parameters are views into it
  at::Tensor lowp_grads_;       // bf16/fp16: N, the parameters' .grad views
  at::Tensor grad_;             // fp32 N: accumulated gradients
  at::Tensor master_;           // fp32 owned range (a view of params_flat_ in fp32 training)
  at::Tensor exp_avg_, exp_avg_sq_;  // fp32 owned range
  LossScaler scaler_;
  int64_t adam_step_ = 0;
  bool first_micro_ = true;
};

}  // namespace zeroplan::executor::zero
