#pragma once
// The seam between the training loop and the gradient/optimizer machinery. The trainer
// (executor/train/trainer.h) only talks to this interface; the single-process engine
// (single_process_engine.h) is the world-1, stage-0 case, and the ZeRO engine (issue 5) implements
// the same calls with reduce-scatter / all-gather over partitioned flat buffers.
//
// One optimizer step, as the trainer drives it:
//   engine.begin_accumulation();                       // zero the gradient buffers
//   N = engine.all_reduce_sum(local label tokens);      // loss normaliser of the WHOLE global batch
//   for each micro-batch:
//     loss_sum = sum of token losses                    (fp32)
//     (loss_sum * engine.backward_multiplier(N)).backward();
//     engine.after_micro_backward();                    // lowp -> fp32 accumulation, bucket reduction
//   outcome = engine.step(lr);                          // overflow check, clip, AdamW, param refresh
//   if (!outcome.skipped) scheduler.step();
#include <cstdint>
#include <string>
#include <vector>

#include "executor/train/adamw.h"
#include "executor/train/loss_scaler.h"

namespace zeroplan::executor {

enum class Precision { kFp32, kBf16, kFp16 };
Precision parse_precision(const std::string& name);  // "fp32" | "bf16" | "fp16"; InputError otherwise
const char* precision_name(Precision p);

struct StepOutcome {
  bool skipped = false;     // gradients overflowed (inf/nan): no update, scheduler not stepped
  double grad_norm = 0.0;   // global L2 norm of the unscaled gradients, before clipping (NaN/inf on overflow)
  double loss_scale = 1.0;  // the scale the backward of this step used
};

// A named flat fp32 buffer of the engine's state, for checkpoints. In ZeRO these are this rank's
// partitions; a checkpoint stores one set per rank.
struct StateBuffer {
  std::string name;  // "master", "exp_avg", "exp_avg_sq"
  float* data = nullptr;
  std::int64_t numel = 0;
};

// How a rank's state buffers map onto the model's parameters: sharded checkpoints, resuming on a
// different world size and `zeroplan export` read the buffers through these. Every parameter element
// this rank holds appears in exactly one piece; padding in none. Pieces of one parameter on different
// ranks are disjoint and together cover it.
struct ShardPiece {
  std::string param;                  // Hugging Face name
  std::vector<std::int64_t> shape;    // the parameter's full shape
  std::int64_t param_offset = 0;      // first element of the (flattened) parameter in this piece
  std::int64_t buffer_offset = 0;     // where the piece starts in each of state_buffers()
  std::int64_t numel = 0;
};

// Scalar engine state that a checkpoint stores next to the buffers.
struct EngineScalarState {
  std::int64_t adam_step = 0;  // applied optimizer steps (AdamW bias correction)
  LossScalerState scaler;
};

class OptimizerEngine {
 public:
  virtual ~OptimizerEngine() = default;

  virtual int rank() const = 0;
  virtual int world() const = 0;
  // Sum of a per-rank value over the ranks (label tokens, loss sums). World 1: the value itself.
  virtual double all_reduce_sum(double local) = 0;

  // The factor the micro-batch loss sum is multiplied by before backward: loss_scale / global tokens.
  virtual double backward_multiplier(double global_label_tokens) const = 0;
  virtual void begin_accumulation() = 0;
  virtual void after_micro_backward() = 0;
  virtual StepOutcome step(double lr) = 0;

  // Checkpoint state: buffers are read and written in place.
  virtual std::vector<StateBuffer> state_buffers() = 0;
  virtual std::vector<ShardPiece> shard_pieces() const = 0;
  virtual EngineScalarState scalar_state() const = 0;
  virtual void set_scalar_state(const EngineScalarState& s) = 0;
  // After state buffers were overwritten (resume): copy the masters into the model's parameters.
  virtual void refresh_parameters() = 0;
  virtual std::int64_t num_parameters() const = 0;  // whole model, all ranks
};

}  // namespace zeroplan::executor
