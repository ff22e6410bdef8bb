// The training loop on a tiny random Llama (configs/models/tiny-test.json) and synthetic SFT data:
// loss normalisation over the global batch (accumulation invariance), a falling loss, and resume
// bit-identical to an uninterrupted run.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "executor/checkpoint/train_checkpoint.h"
#include "executor/model/llama.h"
#include "executor/train/fused_lm_loss.h"
#include "executor/train/single_process_engine.h"
#include "executor/train/trainer.h"
#include "planner/model_spec.h"

namespace zeroplan::executor {
namespace {

namespace fs = std::filesystem;

ModelSpec tiny_spec() { return load_model_spec("tiny-test", ZEROPLAN_SOURCE_DIR "/configs"); }

// Examples of varied length; the first `prompt` tokens carry label -100, as an SFT prompt would.
text::SftDataset synthetic_data(int n, std::uint64_t seed, std::int64_t vocab) {
  std::mt19937_64 rng(seed);
  text::SftDataset d;
  for (int i = 0; i < n; ++i) {
    const int len = 6 + static_cast<int>(rng() % 20);
    const int prompt = 1 + static_cast<int>(rng() % 4);
    text::SftExample e;
    // A learnable pattern: token t+1 = (token t * 3 + 1) mod (vocab - 3) + 3.
    std::int32_t tok = 3 + static_cast<std::int32_t>(rng() % (vocab - 3));
    for (int t = 0; t < len; ++t) {
      e.input_ids.push_back(tok);
      e.labels.push_back(t < prompt ? -100 : tok);
      tok = static_cast<std::int32_t>((tok * 3 + 1) % (vocab - 3) + 3);
    }
    d.examples.push_back(std::move(e));
  }
  return d;
}

ModelOptions model_options(Precision p) {
  ModelOptions o;
  o.dtype = p == Precision::kFp32 ? torch::kFloat32 : p == Precision::kBf16 ? torch::kBFloat16 : torch::kFloat16;
  return o;
}

struct TrainRun {
  TrainRun(const ModelSpec& spec, const text::SftDataset& data, TrainerOptions to, Precision precision = Precision::kFp32)
      : model(spec, model_options(precision)) {
    init_random(model, 1234);
    EngineOptions eo;
    eo.precision = precision;
    eo.clip_grad = 1.0;
    engine = std::make_unique<SingleProcessEngine>(model->hf_named_parameters(), eo);
    trainer = std::make_unique<Trainer>(model, data, to, *engine);
  }
  at::Tensor master() {
    const StateBuffer b = engine->state_buffers()[0];
    return at::from_blob(b.data, {b.numel}, at::kFloat).clone();
  }
  LlamaForCausalLM model;
  std::unique_ptr<SingleProcessEngine> engine;
  std::unique_ptr<Trainer> trainer;
};

TrainerOptions options(std::int64_t micro_batch, std::int64_t grad_accum, std::int64_t steps) {
  TrainerOptions o;
  o.micro_batch = micro_batch;
  o.grad_accum = grad_accum;
  o.total_steps = steps;
  o.seed = 7;
  o.lr.kind = LrScheduleKind::kWarmupDecayLR;
  o.lr.lr = 3e-3;
  o.lr.warmup_num_steps = 3;
  o.lr.warmup_type = WarmupType::kLinear;
  o.lr.total_num_steps = steps;
  return o;
}

TEST(TrainLoop, StepsPerEpochArithmetic) {
  EXPECT_EQ(micro_batches_per_epoch(10, 4), 3);
  EXPECT_EQ(steps_for_epochs(2, 10, 4, 2), 3);  // 6 micro-batches / 2
  EXPECT_EQ(steps_for_epochs(1, 8, 4, 1), 2);
  // Packing into rows of 10 with collate_packed's rule (a new row when the next example does not fit).
  EXPECT_EQ(examples_that_pack({5, 5, 5, 5, 5}, 0, 2, 10), 4);
  EXPECT_EQ(examples_that_pack({5, 5, 5, 5, 5}, 0, 1, 10), 2);
  EXPECT_EQ(examples_that_pack({6, 5, 4, 9}, 0, 2, 10), 3);  // [6] [5 4] | 9 needs a third row
  EXPECT_EQ(examples_that_pack({6, 5, 4, 9}, 3, 2, 10), 1);
}

// The fused, chunked lm_head + cross-entropy equals the unfused HF-style loss in value and gradients.
TEST(FusedLoss, MatchesUnfusedLossAndGradients) {
  const ModelSpec spec = tiny_spec();
  LlamaForCausalLM model(spec, ModelOptions{});
  init_random(model, 5);
  at::manual_seed(3);
  const at::Tensor ids = at::randint(3, spec.vocab_size, {3, 17});
  at::Tensor labels = ids.clone();
  labels.narrow(1, 0, 5).fill_(-100);  // a masked prompt
  labels[2].narrow(0, 10, 7).fill_(-100);  // padding at the end of one row
  const at::Tensor pos = at::arange(17).unsqueeze(0).expand({3, 17}).contiguous();
  auto grads_of = [&](bool fused) {
    model->zero_grad();
    const LossSum ls = fused ? fused_causal_lm_loss_sum(model->hidden_states(ids, pos, {}), model->lm_head_weight(),
                                                        labels, /*chunk_rows=*/7)
                             : causal_lm_loss_sum(model->forward(ids, pos, {}), labels);
    (ls.loss_sum * 0.37).backward();
    std::vector<at::Tensor> g;
    for (auto& [n, p] : model->hf_named_parameters()) g.push_back(p.grad().clone());
    return std::make_tuple(ls.loss_sum.item<double>(), ls.label_tokens, g);
  };
  const auto [loss_a, tokens_a, grads_a] = grads_of(false);
  const auto [loss_b, tokens_b, grads_b] = grads_of(true);
  EXPECT_EQ(tokens_a, tokens_b);
  EXPECT_EQ(tokens_a, 3 * 12 - 7);  // 16 targets per row, 4 prompt, 7 padding
  EXPECT_NEAR(loss_a, loss_b, 1e-5 * std::abs(loss_a));
  for (std::size_t i = 0; i < grads_a.size(); ++i)
    EXPECT_LT((grads_a[i] - grads_b[i]).abs().max().item<double>(), 1e-6) << i;
}

TEST(TrainLoop, GradAccumulationDoesNotChangeTheStep) {
  const ModelSpec spec = tiny_spec();
  const auto data = synthetic_data(24, 1, spec.vocab_size);
  TrainRun whole(spec, data, options(4, 1, 3));  // 4 examples in one micro-batch
  TrainRun split(spec, data, options(1, 4, 3));  // the same 4 examples in 4 micro-steps
  for (int s = 0; s < 3; ++s) {
    const StepRecord a = whole.trainer->train_step();
    const StepRecord b = split.trainer->train_step();
    EXPECT_EQ(a.label_tokens, b.label_tokens);
    EXPECT_EQ(a.tokens, b.tokens);
    EXPECT_NEAR(a.loss, b.loss, 1e-6 * std::abs(a.loss)) << "step " << s;
    EXPECT_NEAR(a.grad_norm, b.grad_norm, 1e-5 * a.grad_norm) << "step " << s;
  }
  EXPECT_LT((whole.master() - split.master()).abs().max().item<double>(), 1e-6);
}

TEST(TrainLoop, LossFallsOnALearnablePattern) {
  const ModelSpec spec = tiny_spec();
  const auto data = synthetic_data(32, 2, spec.vocab_size);
  auto o = options(8, 1, 30);
  o.lr.lr = 1e-2;
  TrainRun run(spec, data, o);
  std::vector<double> losses;
  while (!run.trainer->done()) losses.push_back(run.trainer->train_step().loss);
  ASSERT_EQ(losses.size(), 30u);
  EXPECT_LT(losses.back(), 0.7 * losses.front()) << losses.front() << " -> " << losses.back();
}

class TrainResume : public ::testing::TestWithParam<Precision> {};

TEST_P(TrainResume, FivePlusFiveIsBitIdenticalToTen) {
  const ModelSpec spec = tiny_spec();
  const auto data = synthetic_data(20, 3, spec.vocab_size);  // 10 steps of 4 cross an epoch boundary
  const auto o = options(2, 2, 10);
  const fs::path dir = fs::temp_directory_path() / ("zp_resume_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const nlohmann::json fingerprint = {{"test", "resume"}};

  TrainRun straight(spec, data, o, GetParam());
  std::vector<double> expected;
  while (!straight.trainer->done()) expected.push_back(straight.trainer->train_step().loss);

  std::vector<double> got;
  {
    TrainRun first(spec, data, o, GetParam());
    for (int s = 0; s < 5; ++s) got.push_back(first.trainer->train_step().loss);
    save_train_checkpoint(dir.string(), first.trainer->state(), *first.engine, fingerprint);
    // Later steps of this process must not leak into the checkpoint.
    first.trainer->train_step();
  }
  at::manual_seed(999);  // a resumed process starts from an unrelated RNG state
  TrainRun resumed(spec, data, o, GetParam());
  resumed.trainer->set_state(load_train_checkpoint(dir.string(), *resumed.engine, fingerprint));
  while (!resumed.trainer->done()) got.push_back(resumed.trainer->train_step().loss);

  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], expected[i]) << "step " << i + 1;
  EXPECT_TRUE(at::equal(straight.master(), resumed.master()));
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Precisions, TrainResume, ::testing::Values(Precision::kFp32, Precision::kBf16),
                         [](const auto& info) { return std::string(precision_name(info.param)); });

}  // namespace
}  // namespace zeroplan::executor
