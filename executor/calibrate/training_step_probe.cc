// probe_training_step (probes.h): one training micro-step of the executor's own model, as the trainer
// runs it, optionally on every rank of a group at once.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "executor/calibrate/probes.h"
#include "executor/dist/communicator.h"
#include "executor/model/llama.h"
#include "executor/train/adamw.h"
#include "executor/train/fused_lm_loss.h"
#include "executor/train/grad_accumulation.h"
#include "executor/train/precision_dtype.h"
#include "executor/zero/grad_reducer.h"
#include "planner/error.h"

namespace zeroplan::executor::calibrate {

namespace {

using Clock = std::chrono::steady_clock;

// The slowest rank's value per element (no-op without a communicator).
void max_over_ranks(std::vector<double>& v, dist::Communicator* comm) {
  if (comm == nullptr || v.empty()) return;
  at::Tensor t = at::empty({static_cast<std::int64_t>(v.size())}, at::kFloat);
  for (size_t i = 0; i < v.size(); ++i) t.data_ptr<float>()[i] = static_cast<float>(v[i]);
  comm->all_reduce(t, dist::ReduceOp::kMax);
  for (size_t i = 0; i < v.size(); ++i) v[i] = t.data_ptr<float>()[i];
}

}  // namespace

TrainingStepProbeResult probe_training_step(const ModelSpec& spec, std::int64_t seq_len, std::int64_t micro_batch,
                                            Precision precision, bool activation_checkpointing,
                                            const ProbeBudget& budget, dist::Communicator* comm) {
  if (seq_len < 2 || micro_batch < 1) {
    throw InputError(fmt::format("calibrate: the training-step probe needs seq_len >= 2 and micro_batch >= 1 (got {}, {})",
                                 seq_len, micro_batch));
  }
  ModelOptions options;
  options.dtype = compute_dtype(precision);
  options.activation_checkpointing = activation_checkpointing;
  LlamaForCausalLM model(spec, options);
  init_random(model, 0);  // as `zeroplan run --init random --seed 0`
  model->train();

  // Gradients are views of one flat buffer and autograd accumulates into them in place (the engines do
  // this, single_process_engine.cc); 16-bit training adds them into an fp32 buffer per micro-step.
  const bool lowp = precision != Precision::kFp32;
  auto params = model->hf_named_parameters();
  std::int64_t numel = 0;
  for (const auto& [name, p] : params) numel += p.numel();
  at::Tensor flat_grad = at::zeros({numel}, at::TensorOptions().dtype(options.dtype));
  at::Tensor fp32_grad = lowp ? at::zeros({numel}, at::kFloat) : flat_grad;
  std::vector<std::pair<std::int64_t, std::int64_t>> slices;  // (offset, numel) per parameter
  std::int64_t offset = 0;
  for (auto& [name, p] : params) {
    p.mutable_grad() = flat_grad.narrow(0, offset, p.numel()).view(p.sizes());
    slices.emplace_back(offset, p.numel());
    offset += p.numel();
  }
  bool first_micro = true;

  // Random tokens, positions 0..s-1 per row, one segment (the trainer's fast causal path), a label on
  // every position.
  at::Generator gen = at::detail::createCPUGenerator(1234);
  const at::Tensor ids = at::randint(spec.vocab_size, {micro_batch, seq_len}, gen, at::TensorOptions().dtype(at::kLong));
  const at::Tensor pos = at::arange(seq_len, at::TensorOptions().dtype(at::kLong)).expand({micro_batch, seq_len}).contiguous();
  const at::Tensor labels = ids.clone();

  auto micro_step = [&] {
    LossSum ls = fused_causal_lm_loss_sum(model->hidden_states(ids, pos, at::Tensor()), model->lm_head_weight(), labels);
    (void)ls.loss_sum.item<double>();  // the trainer reads the loss every micro-step
    (ls.loss_sum * (1.0 / static_cast<double>(std::max<std::int64_t>(ls.label_tokens, 1)))).backward();
    accumulate_micro_step_grad(lowp, fp32_grad, flat_grad, first_micro);
  };
  // The engine's optimizer step on fp32 masters and states of every parameter (one rank's view).
  at::Tensor master = at::zeros({numel}, at::kFloat);
  at::Tensor exp_avg = at::zeros({numel}, at::kFloat);
  at::Tensor exp_avg_sq = at::zeros({numel}, at::kFloat);
  std::int64_t adam_step = 0;
  auto optimizer_step = [&] {
    at::NoGradGuard no_grad;
    const double norm = at::linalg_vector_norm(fp32_grad, 2).item<double>();
    AdamWOptions ao;
    const double multiplier = std::isfinite(norm) ? 1.0 : 0.0;  // the engines skip the update on overflow
    adamw_update(master.data_ptr<float>(), fp32_grad.data_ptr<float>(), exp_avg.data_ptr<float>(),
                 exp_avg_sq.data_ptr<float>(), numel, adamw_scalars(ao, 1e-4, ao.weight_decay, ++adam_step, multiplier));
    if (lowp) flat_grad.copy_(master);  // stands for the 16-bit parameters' refresh (same size and dtype)
    flat_grad.zero_();  // the next step's begin_accumulation (grad_accumulation.h)
  };
  auto timed_with = [&](auto&& body) {
    if (comm != nullptr) comm->barrier();
    const auto t0 = Clock::now();
    body();
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  // One warm-up, then max(1, budget.reps) timed repetitions; each repetition takes as long as its slowest
  // rank.
  auto repetitions = [&](auto&& body) {
    (void)timed_with(body);
    std::vector<double> t;
    for (int k = 0; k < std::max(1, budget.reps); ++k) t.push_back(timed_with(body));
    max_over_ranks(t, comm);
    return t;
  };

  TrainingStepProbeResult r;
  r.precision = precision;
  r.ranks = comm != nullptr ? comm->world_size() : 1;
  r.threads = at::get_num_threads();
  r.activation_checkpointing = activation_checkpointing;
  r.tokens = seq_len * micro_batch;
  // The warm-up is never the measurement (unlike ProbeBudget's rule for long probes): the first micro-step
  // allocates the activations and gradients and was measured 10x slower than the next on 2 ranks.
  r.rep_times_s = repetitions(micro_step);
  r.forward_backward_s = pick_repetition(r.rep_times_s, budget.statistic);

  // The optimizer step, the same way (it is short: always warm-up + budget.reps, at least one).
  r.optimizer_params = numel;
  r.optimizer_step_s = pick_repetition(repetitions(optimizer_step), budget.statistic);

  // The bucketed reduction's gradient passes (probes.h), on buffers the size of the model's gradients.
  // `fresh` stands for autograd's gradients.
  const at::Tensor fresh = at::ones({numel}, at::TensorOptions().dtype(options.dtype));
  at::Tensor bucket = at::empty({numel}, at::TensorOptions().dtype(options.dtype));
  at::Tensor accum = at::zeros({numel}, at::kFloat);
  auto time_pass = [&](auto&& body) { return pick_repetition(repetitions(body), budget.statistic); };
  at::NoGradGuard no_grad;
  r.grad_copy_s = time_pass([&] {
    for (const auto& [off, n] : slices) bucket.narrow(0, off, n).copy_(fresh.narrow(0, off, n));
  });
  r.grad_accumulate_s = time_pass([&] { zero::accumulate_into(accum, bucket); });
  r.grad_in_step_s = time_pass([&] {
    for (const auto& [off, n] : slices) flat_grad.narrow(0, off, n).add_(fresh.narrow(0, off, n));
    bool first = false;
    accumulate_micro_step_grad(lowp, fp32_grad, flat_grad, first);
  });
  return r;
}

}  // namespace zeroplan::executor::calibrate
