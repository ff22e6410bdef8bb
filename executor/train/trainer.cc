#include "executor/train/trainer.h"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <mutex>
#include <optional>

#include "executor/model/loss.h"
#include "executor/train/fused_lm_loss.h"
#include "planner/error.h"
#include "profiler/memory_scope.h"
#include "profiler/profiler.h"

namespace zeroplan::executor {

std::int64_t micro_batches_per_epoch(std::int64_t examples_per_rank, std::int64_t micro_batch) {
  return (examples_per_rank + micro_batch - 1) / micro_batch;
}

std::int64_t steps_for_epochs(std::int64_t epochs, std::int64_t examples_per_rank, std::int64_t micro_batch,
                              std::int64_t grad_accum) {
  const std::int64_t micro = epochs * micro_batches_per_epoch(examples_per_rank, micro_batch);
  return (micro + grad_accum - 1) / grad_accum;
}

std::int64_t examples_that_pack(const std::vector<std::int64_t>& lengths, std::size_t begin, std::int64_t rows,
                                std::int64_t max_seq_len) {
  std::int64_t used_rows = 1, fill = 0, n = 0;
  for (std::size_t i = begin; i < lengths.size(); ++i) {
    const std::int64_t len = lengths[i];
    if (fill + len > max_seq_len && fill > 0) {
      if (++used_rows > rows) break;
      fill = 0;
    }
    fill += len;
    ++n;
  }
  return std::max<std::int64_t>(n, 1);
}

std::int64_t packed_micro_batches(const text::SftDataset& data, const text::DistributedSampler& sampler,
                                  std::int64_t epochs, std::int64_t rows, std::int64_t max_seq_len) {
  std::int64_t micro = 0;
  for (std::int64_t e = 0; e < epochs; ++e) {
    std::vector<std::int64_t> lengths;
    for (std::int64_t i : sampler.indices(e))
      lengths.push_back(static_cast<std::int64_t>(data.examples[static_cast<std::size_t>(i)].input_ids.size()));
    for (std::size_t pos = 0; pos < lengths.size(); ++micro)
      pos += static_cast<std::size_t>(examples_that_pack(lengths, pos, rows, max_seq_len));
  }
  return micro;
}

namespace {

// Label tokens the loss counts: labels[:, 1:] != -100 (the shift happens inside the loss).
std::int64_t shifted_label_tokens(const text::MicroBatch& mb) {
  std::int64_t n = 0;
  for (std::int64_t r = 0; r < mb.batch; ++r)
    for (std::int64_t t = 1; t < mb.seq; ++t) n += mb.labels[r * mb.seq + t] != kIgnoreLabel;
  return n;
}

// Padding only at the end of each row: plain causal attention is exact for the real tokens (they
// never see the padding after them), so the model can take its fast is_causal path.
bool right_padded_single_segment(const text::MicroBatch& mb) {
  for (std::int64_t r = 0; r < mb.batch; ++r) {
    const std::int64_t* seg = mb.segment_ids.data() + r * mb.seq;
    bool in_padding = false;
    for (std::int64_t t = 0; t < mb.seq; ++t) {
      if (seg[t] < 0) {
        in_padding = true;
      } else if (in_padding || seg[t] != seg[0]) {
        return false;
      }
    }
  }
  return true;
}

at::Tensor as_tensor(const std::vector<std::int64_t>& v, std::int64_t b, std::int64_t s) {
  ZP_ASSERT(static_cast<std::int64_t>(v.size()) == b * s, "micro-batch field size != batch * seq");
  // The vector outlives forward and backward of its micro-step; no copy.
  return at::from_blob(const_cast<std::int64_t*>(v.data()), {b, s}, at::TensorOptions().dtype(at::kLong));
}

// A profiler phase when the trainer has a profiler, nothing otherwise.
class OptionalPhase {
 public:
  OptionalPhase(profiler::Profiler* p, profiler::Phase phase) {
    if (p != nullptr) scope_.emplace(*p, phase);
  }

 private:
  std::optional<profiler::PhaseScope> scope_;
};

at::Generator& default_generator() {
  static at::Generator gen = at::detail::getDefaultCPUGenerator();
  return gen;
}

}  // namespace

Trainer::Trainer(LlamaForCausalLM model, const text::SftDataset& data, const TrainerOptions& options,
                 OptimizerEngine& engine)
    : model_(std::move(model)),
      data_(data),
      options_(options),
      engine_(engine),
      schedule_(options.lr),
      sampler_(static_cast<std::int64_t>(data.examples.size()), engine.rank(), engine.world(), options.seed,
               options.shuffle) {
  if (options.micro_batch <= 0 || options.grad_accum <= 0)
    throw InputError("--micro-batch and --grad-accum must be positive");
  examples_per_rank_ = sampler_.samples_per_rank();
  if (examples_per_rank_ == 0)
    throw InputError("the dataset has no examples for rank " + std::to_string(engine.rank()));
  if (options.pack && options.max_seq_len <= 0) throw InputError("--pack needs --max-seq-len > 0");
}

const std::vector<std::int64_t>& Trainer::epoch_order() {
  if (order_epoch_ != state_.position.epoch) {
    order_ = sampler_.indices(state_.position.epoch);
    order_epoch_ = state_.position.epoch;
  }
  return order_;
}

std::vector<const text::SftExample*> Trainer::next_micro_examples() {
  if (state_.position.index >= static_cast<std::int64_t>(epoch_order().size())) {
    state_.position.epoch += 1;  // micro-batches never straddle epochs; the last one may be short
    state_.position.index = 0;
  }
  const auto& order = epoch_order();
  const std::int64_t left = static_cast<std::int64_t>(order.size()) - state_.position.index;
  std::int64_t take = std::min<std::int64_t>(options_.micro_batch, left);
  if (options_.pack) {
    // As many examples as fill micro_batch rows of max_seq_len.
    std::vector<std::int64_t> lengths;
    for (std::int64_t i = state_.position.index; i < static_cast<std::int64_t>(order.size()); ++i) {
      lengths.push_back(static_cast<std::int64_t>(data_.examples[static_cast<std::size_t>(order[i])].input_ids.size()));
      if (static_cast<std::int64_t>(lengths.size()) > options_.micro_batch * options_.max_seq_len) break;
    }
    take = examples_that_pack(lengths, 0, options_.micro_batch, options_.max_seq_len);
  }
  std::vector<const text::SftExample*> out;
  out.reserve(static_cast<std::size_t>(take));
  for (std::int64_t i = 0; i < take; ++i) out.push_back(&data_.examples[order[state_.position.index + i]]);
  state_.position.index += take;
  return out;
}

StepRecord Trainer::train_step() {
  const auto start = std::chrono::steady_clock::now();
  model_->train();

  const std::int64_t step_number = state_.step + 1;
  auto enter = [&](const char* phase) {
    if (options_.on_phase) options_.on_phase(phase, step_number);
  };
  enter("data");
  // Collate the whole step first: the loss normaliser is the step's label-token count.
  std::vector<text::MicroBatch> micro;
  micro.reserve(static_cast<std::size_t>(options_.grad_accum));
  std::int64_t local_tokens = 0, local_labels = 0;
  for (std::int64_t k = 0; k < options_.grad_accum; ++k) {
    const auto examples = next_micro_examples();
    for (const auto* e : examples) local_tokens += static_cast<std::int64_t>(e->input_ids.size());
    micro.push_back(options_.pack ? text::collate_packed(examples, options_.max_seq_len, options_.pad_id)
                                  : text::collate_padded(examples, options_.pad_id));
    local_labels += shifted_label_tokens(micro.back());
  }
  const double global_labels = engine_.all_reduce_sum(static_cast<double>(local_labels));
  const double global_tokens = engine_.all_reduce_sum(static_cast<double>(local_tokens));
  const double multiplier = engine_.backward_multiplier(global_labels);

  engine_.begin_accumulation();
  double local_loss_sum = 0.0;
  for (const auto& mb : micro) {
    const at::Tensor ids = as_tensor(mb.input_ids, mb.batch, mb.seq);
    const at::Tensor pos = as_tensor(mb.position_ids, mb.batch, mb.seq);
    const at::Tensor labels = as_tensor(mb.labels, mb.batch, mb.seq);
    const at::Tensor seg = right_padded_single_segment(mb) ? at::Tensor() : as_tensor(mb.segment_ids, mb.batch, mb.seq);
    // Forward and backward both charge their tensors (saved activations, their gradients) to
    // activations: parameter gradients accumulate in place into the engine's flat buffer.
    std::optional<LossSum> ls;
    {
      enter("forward");
      OptionalPhase phase(options_.profiler, profiler::Phase::kForward);
      profiler::MemoryScope scope(profiler::Category::kActivations);
      ls = options_.fused_loss
               ? fused_causal_lm_loss_sum(model_->hidden_states(ids, pos, seg), model_->lm_head_weight(), labels)
               : causal_lm_loss_sum(model_->forward(ids, pos, seg), labels);
      ZP_ASSERT(ls->label_tokens == shifted_label_tokens(mb), "loss and trainer disagree on the label-token count");
      local_loss_sum += ls->loss_sum.item<double>();
    }
    enter("backward");
    OptionalPhase phase(options_.profiler, profiler::Phase::kBackward);
    profiler::MemoryScope scope(profiler::Category::kActivations);
    (ls->loss_sum * multiplier).backward();
    ls.reset();
    engine_.after_micro_backward();
  }
  const double global_loss_sum = engine_.all_reduce_sum(local_loss_sum);

  StepRecord r;
  r.lr = schedule_.current_lr();
  StepOutcome outcome;
  {
    enter("optimizer step");
    OptionalPhase phase(options_.profiler, profiler::Phase::kOptimizerStep);
    profiler::MemoryScope scope(profiler::Category::kBuffers);  // the norm's scratch
    outcome = engine_.step(r.lr);
  }
  if (outcome.skipped) {
    state_.skipped_steps += 1;  // DeepSpeed: the LR scheduler is not stepped on overflow
  } else {
    schedule_.step();
  }
  state_.step += 1;

  r.step = state_.step;
  r.loss = global_labels > 0 ? global_loss_sum / global_labels : 0.0;
  r.grad_norm = outcome.grad_norm;
  r.loss_scale = outcome.loss_scale;
  r.tokens = static_cast<std::int64_t>(global_tokens);
  r.label_tokens = static_cast<std::int64_t>(global_labels);
  r.skipped = outcome.skipped;
  r.epoch = state_.position.epoch;
  r.step_time_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.tokens_per_s = r.step_time_s > 0 ? global_tokens / r.step_time_s : 0.0;
  return r;
}

TrainerState Trainer::state() const {
  TrainerState s = state_;
  s.lr_last_batch_iteration = schedule_.last_batch_iteration();
  at::Generator& gen = default_generator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  const at::Tensor rng = gen.get_state();
  const auto* p = rng.data_ptr<std::uint8_t>();
  s.rng_state.assign(p, p + rng.numel());
  return s;
}

void Trainer::set_state(const TrainerState& s) {
  state_ = s;
  schedule_.set_last_batch_iteration(s.lr_last_batch_iteration);
  if (!s.rng_state.empty()) {
    at::Tensor rng = at::empty({static_cast<std::int64_t>(s.rng_state.size())}, at::TensorOptions().dtype(at::kByte));
    std::memcpy(rng.data_ptr<std::uint8_t>(), s.rng_state.data(), s.rng_state.size());
    at::Generator& gen = default_generator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(rng);
  }
}

}  // namespace zeroplan::executor
