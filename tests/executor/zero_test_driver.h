#pragma once
// Drives make_zero_engine() on FakeCommunicator ranks (threads, each with its own tiny Llama built
// from the same seed) with the trainer's protocol (executor/train/trainer.cc): same global batch,
// rank r takes samples r, r + world, ..., loss normalised by the global label tokens. Shared by
// zero_stages_test.cc (fast) and zero_equivalence_test.cc (slow).
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "executor/dist/fake_communicator.h"
#include "executor/dist/gloo_communicator.h"
#include "executor/model/llama.h"
#include "executor/train/fused_lm_loss.h"
#include "executor/train/single_process_engine.h"
#include "executor/zero/make_engine.h"
#include "executor/zero/sharded_engine.h"
#include "planner/error.h"
#include "tests/executor/gloo_thread_ranks.h"
#include "tests/executor/test_util.h"

namespace zeroplan::executor::zero::testdriver {

using namespace std::chrono_literals;

constexpr int kGlobalBatch = 8, kSeq = 12;
constexpr std::uint64_t kSeed = 1234;

// Deterministic sample j: a random first token, then a fixed bigram rule; labels with a prompt of 1-4 masked tokens (label counts
// differ between samples, so the global normaliser matters).
inline void sample(int64_t j, int64_t vocab, std::vector<int64_t>& ids, std::vector<int64_t>& labels) {
  std::uint64_t x = 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(j + 1);
  const int64_t prompt = 1 + j % 4;
  x ^= x >> 29;
  int64_t tok = static_cast<int64_t>(x % static_cast<std::uint64_t>(vocab));
  for (int64_t t = 0; t < kSeq; ++t) {
    if (t > 0) tok = (tok * 7 + 3) % vocab;  // a learnable bigram rule
    ids.push_back(tok);
    labels.push_back(t < prompt ? kIgnoreLabel : tok);
  }
}

struct Batch {
  at::Tensor ids, labels;
  int64_t label_tokens = 0;
};

inline Batch make_batch(const std::vector<int64_t>& samples, int64_t vocab) {
  std::vector<int64_t> ids, labels;
  for (int64_t j : samples) sample(j, vocab, ids, labels);
  const auto b = static_cast<int64_t>(samples.size());
  Batch out;
  out.ids = at::tensor(ids, at::kLong).view({b, kSeq});
  out.labels = at::tensor(labels, at::kLong).view({b, kSeq});
  out.label_tokens = out.labels.narrow(1, 1, kSeq - 1).ne(kIgnoreLabel).sum().item<int64_t>();
  return out;
}

struct RunConfig {
  int world = 1;
  int gas = 1;
  ZeroRunOptions zero;
  bool checkpointing = false;
  bool tied = false;
  at::ScalarType dtype = at::kFloat;
  int steps = 20;
  bool gloo = false;  // real c10d Gloo communicators on loopback (threads) instead of the fake
};

inline EngineOptions engine_options(at::ScalarType dtype) {
  EngineOptions o;
  o.precision = dtype == at::kFloat ? Precision::kFp32 : dtype == at::kBFloat16 ? Precision::kBf16 : Precision::kFp16;
  o.adamw.weight_decay = 0.1;
  o.clip_grad = 0.5;  // small enough to clip: the global norm over shards matters
  return o;
}

inline LlamaForCausalLM make_model(const RunConfig& c) {
  ModelOptions mo;
  mo.dtype = c.dtype;
  mo.activation_checkpointing = c.checkpointing;
  LlamaForCausalLM model(testing::tiny_spec("LlamaForCausalLM", 2, c.tied), mo);
  init_random(model, kSeed);
  return model;
}

// The trainer's protocol for kSteps; returns the global loss of each step.
inline std::vector<double> train(LlamaForCausalLM& model, OptimizerEngine& engine, int gas, int steps,
                                 std::vector<StepOutcome>* outcomes = nullptr) {
  std::vector<double> losses;
  const int64_t vocab = model->spec().vocab_size;
  for (int step = 0; step < steps; ++step) {
    std::vector<int64_t> mine;
    for (int64_t j = step * kGlobalBatch; j < (step + 1) * kGlobalBatch; ++j)
      if (j % engine.world() == engine.rank()) mine.push_back(j);
    const size_t per_micro = mine.size() / static_cast<size_t>(gas);
    std::vector<Batch> micro;
    int64_t local_labels = 0;
    for (int m = 0; m < gas; ++m) {
      micro.push_back(make_batch({mine.begin() + m * per_micro, mine.begin() + (m + 1) * per_micro}, vocab));
      local_labels += micro.back().label_tokens;
    }
    const double global_labels = engine.all_reduce_sum(static_cast<double>(local_labels));
    const double multiplier = engine.backward_multiplier(global_labels);
    engine.begin_accumulation();
    double local_loss = 0;
    for (const auto& mb : micro) {
      LossSum ls = fused_causal_lm_loss_sum(model->hidden_states(mb.ids, {}, {}), model->lm_head_weight(), mb.labels);
      local_loss += ls.loss_sum.item<double>();
      (ls.loss_sum * multiplier).backward();
      engine.after_micro_backward();
    }
    losses.push_back(engine.all_reduce_sum(local_loss) / global_labels);
    const StepOutcome outcome = engine.step(/*lr=*/5e-3);
    if (outcomes != nullptr) outcomes->push_back(outcome);
  }
  return losses;
}

inline std::vector<double> reference_losses(const RunConfig& c) {
  at::set_num_threads(1);  // 2-4 rank threads on few cores: intra-op threads only contend
  LlamaForCausalLM model = make_model(c);
  model->set_activation_checkpointing(false);
  SingleProcessEngine engine(model->hf_named_parameters(), engine_options(c.dtype));
  return train(model, engine, 1, c.steps);
}

// Small buckets and thresholds so that every mechanism runs: several buckets per unit, persistent
// norms, prefetch limited by max_live.
inline ZeroRunOptions zero_options(int stage, at::ScalarType dtype) {
  ZeroRunOptions o;
  o.stage = stage;
  o.overlap_comm = true;
  o.reduce_bucket_elems = 1500;
  o.allgather_bucket_elems = 1500;
  o.stage3_prefetch_bucket_elems = 10000;
  o.stage3_max_live_parameters = 12000;
  o.stage3_param_persistence_threshold = 64;  // the 32-element norms stay whole
  o.alignment = 4;
  o.engine = engine_options(dtype);
  return o;
}

struct RankResult {
  std::vector<double> losses;
  std::vector<StepOutcome> outcomes;
  std::vector<ShardPiece> pieces;
  EngineMemory memory;
  int64_t partition_numel = 0, total_numel = 0, max_bucket = 0, max_shard = 0;
  int64_t peak_live = -1;
  int64_t temporary_buffers = 0;
};

inline std::vector<RankResult> run_ranks(const RunConfig& c) {
  at::set_num_threads(1);
  std::vector<RankResult> results(static_cast<size_t>(c.world));
  auto runner = [&](const std::function<void(dist::Communicator&)>& fn) {
    if (c.gloo) {
      dist::run_gloo_ranks(c.world, dist::GlooCommunicatorOptions{}, fn);
    } else {
      dist::run_fake_ranks(c.world, 60s, fn);
    }
  };
  runner([&](dist::Communicator& comm) {
    LlamaForCausalLM model = make_model(c);
    auto engine = make_zero_engine(model, c.zero, comm);
    RankResult& r = results[static_cast<size_t>(comm.rank())];
    r.losses = train(model, *engine, c.gas, c.steps, &r.outcomes);
    r.pieces = engine->shard_pieces();
    if (auto* se = dynamic_cast<ShardedEngine*>(engine.get())) {
      r.memory = se->memory();
      r.partition_numel = se->layout().partition_numel();
      r.total_numel = se->layout().total_numel();
      r.max_bucket = se->layout().max_padded_bucket_numel();
      r.max_shard = se->layout().max_shard_numel();
      if (se->gatherer() != nullptr) r.peak_live = se->gatherer()->peak_live_elems();
      if (se->reducer() != nullptr) r.temporary_buffers = se->reducer()->temporary_buffers();
    }
  });
  return results;
}

inline double worst_relative(const std::vector<double>& a, const std::vector<double>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]) / std::abs(b[i]));
  return worst;
}

// One row of the stage tables (zero_stages_test.cc fast, zero_equivalence_test.cc slow).
struct StageCase {
  int stage;
  int world;
  bool offload_optimizer;
  bool offload_param;
};

// fp32, gas 2: every rank reports the same global loss, and it equals the single-process trajectory
// within 1e-5 relative; the reference really trains.
// The test name of a case: stage<S>_world<W>[_offopt][_offparam].
inline std::string stage_case_name(const ::testing::TestParamInfo<StageCase>& info) {
  const StageCase& k = info.param;
  return "stage" + std::to_string(k.stage) + "_world" + std::to_string(k.world) +
         (k.offload_optimizer ? "_offopt" : "") + (k.offload_param ? "_offparam" : "");
}

inline void expect_matches_single_process(const StageCase& k) {
  RunConfig c;
  c.world = k.world;
  c.gas = 2;
  c.zero = zero_options(k.stage, at::kFloat);
  c.zero.offload_optimizer = k.offload_optimizer;
  c.zero.offload_param = k.offload_param;
  const auto reference = reference_losses(c);
  const auto ranks = run_ranks(c);
  for (const auto& r : ranks) {
    const double worst = worst_relative(r.losses, reference);
    EXPECT_LT(worst, 1e-5);
    EXPECT_EQ(r.losses, ranks[0].losses);  // every rank reports the same global loss
  }
  std::printf("stage %d world %d offload_opt %d offload_param %d: loss %.5f -> %.5f, worst rel diff %.3g\n", k.stage,
              k.world, k.offload_optimizer, k.offload_param, reference.front(), reference.back(),
              worst_relative(ranks[0].losses, reference));
  EXPECT_LT(reference.back(), reference.front() - 0.05) << "the reference did not train";
}

}  // namespace zeroplan::executor::zero::testdriver
