#pragma once
// The training loop: micro-batches from the SFT dataset -> forward -> loss sum -> backward, repeated
// grad_accum times, then one engine step (executor/train/optimizer_engine.h), the LR schedule and a
// StepRecord. Data order comes from text::DistributedSampler (seeded, per epoch), so a position
// (epoch, index) plus the engine state is everything a resume needs.
//
// Loss normalisation: loss = sum of token losses over the whole global batch (all micro-steps, all
// ranks) / label tokens of the whole global batch. Each micro-step backpropagates
// loss_sum_micro * loss_scale / N_global, so the gradient does not depend on how the batch is split.
#include <cstdint>
#include <functional>
#include <vector>

#include "executor/model/llama.h"
#include "executor/text/sft_data.h"
#include "executor/train/lr_schedule.h"
#include "executor/train/metrics.h"
#include "executor/train/optimizer_engine.h"
#include "executor/train/train_state.h"

namespace zeroplan::profiler {
class Profiler;
}

namespace zeroplan::executor {

struct TrainerOptions {
  std::int64_t micro_batch = 1;   // rows per micro-step: examples (padded), or packed rows of max_seq_len
  std::int64_t grad_accum = 1;    // micro-steps per optimizer step
  std::int64_t total_steps = 0;   // optimizer steps to run (see steps_for_epochs)
  bool pack = false;              // collate_packed into rows of max_seq_len, else pad to the longest
  std::int64_t max_seq_len = 0;
  std::int32_t pad_id = 0;
  std::uint64_t seed = 0;         // sampler shuffle seed
  bool shuffle = true;
  bool fused_loss = true;         // fused_lm_loss.h (logits only for labelled positions, chunked)
  LrScheduleOptions lr;
  // Optional: forward / backward / optimizer step are timed as its phases (it must outlive the
  // trainer). Memory scopes (activations, buffers) are opened either way.
  profiler::Profiler* profiler = nullptr;
  // Optional: called when the step enters a phase ("data", "forward", "backward", "optimizer step";
  // step = the 1-based optimizer step being run). Multi-rank runs publish it on the status channel
  // so that a failure report says what each rank was doing.
  std::function<void(const char* phase, std::int64_t step)> on_phase;
};

// Micro-batches one epoch yields on one rank, the last one possibly short: ceil(n / micro_batch).
std::int64_t micro_batches_per_epoch(std::int64_t examples_per_rank, std::int64_t micro_batch);
// Optimizer steps for `epochs` passes: ceil(epochs * micro_batches_per_epoch / grad_accum).
std::int64_t steps_for_epochs(std::int64_t epochs, std::int64_t examples_per_rank, std::int64_t micro_batch,
                              std::int64_t grad_accum);

// Packing: how many of `lengths` (in order, from `begin`) fill at most `rows` rows of max_seq_len
// with text::collate_packed's rule (a new row when the next example does not fit). At least one.
std::int64_t examples_that_pack(const std::vector<std::int64_t>& lengths, std::size_t begin, std::int64_t rows,
                                std::int64_t max_seq_len);
// Packed micro-batches over `epochs` epochs of `sampler` (orders differ per epoch when shuffled).
std::int64_t packed_micro_batches(const text::SftDataset& data, const text::DistributedSampler& sampler,
                                  std::int64_t epochs, std::int64_t rows, std::int64_t max_seq_len);

class Trainer {
 public:
  // `data` and `engine` must outlive the trainer. The engine already owns the model's parameters.
  Trainer(LlamaForCausalLM model, const text::SftDataset& data, const TrainerOptions& options,
          OptimizerEngine& engine);

  StepRecord train_step();  // one optimizer step
  bool done() const { return state_.step >= options_.total_steps; }

  TrainerState state() const;              // includes the RNG state and the scheduler position
  void set_state(const TrainerState& s);   // resume
  const TrainerOptions& options() const { return options_; }
  const LrSchedule& schedule() const { return schedule_; }
  std::int64_t examples_per_rank() const { return examples_per_rank_; }

 private:
  std::vector<const text::SftExample*> next_micro_examples();
  const std::vector<std::int64_t>& epoch_order();

  LlamaForCausalLM model_;
  const text::SftDataset& data_;
  TrainerOptions options_;
  OptimizerEngine& engine_;
  LrSchedule schedule_;
  text::DistributedSampler sampler_;
  std::int64_t examples_per_rank_ = 0;
  TrainerState state_;
  std::int64_t order_epoch_ = -1;
  std::vector<std::int64_t> order_;
};

}  // namespace zeroplan::executor
