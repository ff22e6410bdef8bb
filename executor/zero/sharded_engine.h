#pragma once
// The ZeRO engine for stages 0-3 with optional optimizer / parameter offload, over the bucketed
// layout of bucket_layout.h (per-bucket sharding) and a Communicator. make_zero_engine() builds it.
// executor/zero/README.md has the exact per-rank allocation table; in short (N = padded total,
// P = N / world for stages 1-3 and N for stage 0, B = largest padded bucket, K = 1 + overlap_comm):
//   stage 0: replicated params N; gradients reduced per micro-step from post-accumulate-grad hooks
//            (bucketed all_reduce, async) into an fp32 accumulator N; AdamW replicated.
//   stage 1: replicated params N; autograd accumulates into an fp32 gradient N (.grad views);
//            at the step a reduce_scatter per bucket into an fp32 partition P; AdamW on P;
//            all_gather per bucket of the updated partition.
//   stage 2: as 1, but gradients reduced per micro-step from hooks: bucketed reduce_scatter
//            (async, K bucket buffers) into an fp32 partition accumulator P. No N-size gradient.
//   stage 3: as 2, and parameters partitioned: a 16-bit partition P; each model unit's buckets
//            all-gathered before its forward and again before its backward, released after
//            (unit_gatherer.h). Buckets never span units.
//   offload_optimizer: fp32 master, exp_avg, exp_avg_sq and the fp32 gradient partition live on
//            the host ("offloaded"; pinned gradient buffer on GPU runs); AdamW runs there
//            (executor/train/adamw.h: vectorised, at::parallel_for over the partition).
//   offload_param (stage 3): the 16-bit partition lives on the host; gathers copy the slice to the
//            device first.
// Losses are normalised by the global label tokens, so gradients are SUMMED over ranks. The
// overflow decision and the clipping norm come from an all-reduced sum of squares: the same on
// every rank, so every rank skips the same steps and the loss-scaler state stays identical.
#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "executor/dist/communicator.h"
#include "executor/model/unit_hooks.h"
#include "executor/train/loss_scaler.h"
#include "executor/zero/bucket_layout.h"
#include "executor/zero/grad_reducer.h"
#include "executor/zero/make_engine.h"
#include "executor/zero/unit_gatherer.h"

namespace zeroplan::executor::zero {

// Stage 3: the model units (unit_hooks.h) and which parameters each reads.
struct UnitMap {
  std::vector<int> owner;                 // per parameter (input order): the unit it is laid out in
  std::vector<std::vector<size_t>> uses;  // per unit: parameter indices (input order) it reads
};

// Per-rank bytes the engine allocated, by what they are (README table), for tests and reports.
struct EngineMemory {
  int64_t params_bytes = 0;            // 16-bit/model-dtype parameters (replicated or partition)
  int64_t gradient_bytes = 0;          // fp32 accumulators (+ model-dtype .grad buffer, stage 1)
  int64_t optimizer_bytes = 0;         // fp32 master (when a separate copy), exp_avg, exp_avg_sq
  int64_t buffer_bytes = 0;            // bucket buffers (persistent ones)
  int64_t offloaded_bytes = 0;         // the part of the above that is "on the host" (offload)
};

class ShardedEngine : public OptimizerEngine {
 public:
  // `params`: the model's trainable parameters, Hugging Face names, model order (same on every
  // rank). Stage 3 needs `units`; `comm` must outlive the engine.
  ShardedEngine(const std::vector<std::pair<std::string, at::Tensor>>& params, const ZeroRunOptions& options,
                dist::Communicator& comm, const UnitMap* units = nullptr);
  ~ShardedEngine() override;

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

  // Stage 3: attaches the unit hooks to `model` (detached again by the destructor).
  void attach(LlamaForCausalLMImpl* model);
  UnitHooks* unit_hooks() { return gatherer_.get(); }
  const UnitGatherer* gatherer() const { return gatherer_.get(); }
  const BucketLayout& layout() const { return *layout_; }
  const EngineMemory& memory() const { return memory_; }
  const GradReducer* reducer() const { return reducer_.get(); }  // stages 0, 2, 3

 private:
  bool lowp() const { return options_.engine.precision != Precision::kFp32; }
  bool hook_reduction() const { return options_.stage != 1; }
  void adamw_partition(double lr, double grad_multiplier);

  ZeroRunOptions options_;
  dist::Communicator& comm_;
  std::unique_ptr<BucketLayout> layout_;
  std::vector<std::string> names_;       // slot order
  std::vector<at::Tensor> params_;       // slot order
  std::vector<bool> decay_;              // slot order: dim >= 2 gets weight decay
  std::vector<LayoutPiece> pieces_;      // this rank's partition
  struct Segment {
    int64_t offset, numel;
    bool decay;
  };
  std::vector<Segment> segments_;        // pieces_ merged: the AdamW ranges of the partition
  LlamaForCausalLMImpl* model_ = nullptr;
  at::Tensor params_flat_;   // stages 0-2: model dtype, total_numel; the parameters are views
  at::Tensor param_shard_;   // stage 3: model dtype, partition (host with offload_param)
  at::Tensor grad_full_;     // stage 1: fp32 total_numel (.grad views in fp32 training)
  at::Tensor lowp_grads_;    // stage 1, bf16/fp16: total_numel, the .grad views
  at::Tensor grad_accum_;    // fp32: total_numel (stage 0) or partition (stages 1-3)
  at::Tensor master_;        // fp32 partition (stage 0 fp32: a view of params_flat_)
  at::Tensor exp_avg_, exp_avg_sq_;
  std::unique_ptr<GradReducer> reducer_;
  std::unique_ptr<UnitGatherer> gatherer_;
  LossScaler scaler_;
  std::int64_t adam_step_ = 0;
  bool first_micro_ = true;
  EngineMemory memory_;
};

}  // namespace zeroplan::executor::zero
