// ZeroEngine stages 0 and 1 on FakeCommunicator ranks give the single-process trajectory: same
// global batch, rank r takes samples r, r + world, ..., loss normalised by the global label count.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>

#include "executor/dist/fake_communicator.h"
#include "executor/train/single_process_engine.h"
#include "executor/zero/zero_engine.h"
#include "planner/error.h"

namespace zeroplan::executor::zero {
namespace {

using namespace std::chrono_literals;

constexpr int kIn = 6, kHidden = 8, kOut = 3, kGlobalBatch = 24, kGas = 2, kSteps = 4;

// Deterministic (no global RNG: ranks are threads) parameters of y = W2 tanh(W1 x + b1) + b2.
std::vector<std::pair<std::string, at::Tensor>> make_params() {
  auto init = [](int64_t n, double phase, std::vector<int64_t> shape) {
    return (at::sin(at::arange(n, at::kFloat) * 0.7 + phase) * 0.4).view(shape).set_requires_grad(true);
  };
  return {{"w1", init(kHidden * kIn, 0.1, {kHidden, kIn})},
          {"b1", init(kHidden, 0.2, {kHidden})},
          {"w2", init(kOut * kHidden, 0.3, {kOut, kHidden})},
          {"b2", init(kOut, 0.4, {kOut})}};
}

at::Tensor sample_x(int64_t j) { return at::sin(at::arange(kIn, at::kFloat) * 0.37 + 0.11 * j); }
at::Tensor sample_t(int64_t j) { return at::cos(at::arange(kOut, at::kFloat) * 0.5 + 0.07 * j); }

at::Tensor loss_sum(const std::vector<std::pair<std::string, at::Tensor>>& p, const std::vector<int64_t>& samples) {
  std::vector<at::Tensor> xs, ts;
  for (int64_t j : samples) {
    xs.push_back(sample_x(j));
    ts.push_back(sample_t(j));
  }
  const at::Tensor x = at::stack(xs), t = at::stack(ts);
  const at::Tensor h = at::tanh(at::matmul(x, p[0].second.t()) + p[1].second);
  const at::Tensor y = at::matmul(h, p[2].second.t()) + p[3].second;
  return (y - t).square().sum();
}

// Trains kSteps with the trainer's protocol; returns the parameters' values after each step.
std::vector<std::vector<at::Tensor>> train(OptimizerEngine& engine,
                                           const std::vector<std::pair<std::string, at::Tensor>>& params) {
  std::vector<std::vector<at::Tensor>> trajectory;
  for (int step = 0; step < kSteps; ++step) {
    std::vector<int64_t> mine;
    for (int64_t j = step * kGlobalBatch; j < (step + 1) * kGlobalBatch; ++j) {
      if (j % engine.world() == engine.rank()) mine.push_back(j);
    }
    engine.begin_accumulation();
    const double tokens = engine.all_reduce_sum(static_cast<double>(mine.size()));
    const size_t per_micro = mine.size() / kGas;
    for (int m = 0; m < kGas; ++m) {
      const std::vector<int64_t> micro(mine.begin() + m * per_micro, mine.begin() + (m + 1) * per_micro);
      (loss_sum(params, micro) * engine.backward_multiplier(tokens)).backward();
      engine.after_micro_backward();
    }
    engine.step(/*lr=*/0.05);
    std::vector<at::Tensor> values;
    for (const auto& [name, p] : params) values.push_back(p.detach().clone());
    trajectory.push_back(values);
  }
  return trajectory;
}

EngineOptions engine_options() {
  EngineOptions o;
  o.adamw.weight_decay = 0.1;
  o.clip_grad = 0.5;  // small enough to clip: exercises the global norm over shards
  return o;
}

std::vector<std::vector<at::Tensor>> reference_trajectory() {
  auto params = make_params();
  SingleProcessEngine engine(params, engine_options());
  return train(engine, params);
}

struct Case {
  int stage;
  int world;
};

class ZeroEquivalence : public ::testing::TestWithParam<Case> {};

TEST_P(ZeroEquivalence, MatchesSingleProcessTrajectory) {
  const auto [stage, world] = GetParam();
  const auto reference = reference_trajectory();
  std::mutex mutex;
  double worst = 0.0;
  dist::run_fake_ranks(world, 20s, [&](dist::Communicator& comm) {
    auto params = make_params();
    ZeroOptions options;
    options.stage = stage;
    options.engine = engine_options();
    options.alignment = 4;
    ZeroEngine engine(params, options, comm);
    const auto trajectory = train(engine, params);
    for (int s = 0; s < kSteps; ++s) {
      for (size_t i = 0; i < params.size(); ++i) {
        const double diff = (trajectory[s][i] - reference[s][i]).abs().max().item<double>();
        const double scale = reference[s][i].abs().max().item<double>();
        std::lock_guard<std::mutex> lock(mutex);
        worst = std::max(worst, diff / scale);
      }
    }
  });
  std::printf("stage %d, world %d: worst relative parameter difference over %d steps %.3g\n", stage, world, kSteps,
              worst);
  EXPECT_LT(worst, 1e-5) << "stage " << stage << " world " << world;
  // The trajectory moved (a no-op engine would "match" a no-op reference).
  EXPECT_GT((reference.back()[0] - make_params()[0].second.detach()).abs().max().item<double>(), 1e-3);
}

INSTANTIATE_TEST_SUITE_P(Stages, ZeroEquivalence,
                         ::testing::Values(Case{0, 2}, Case{1, 2}, Case{1, 3}, Case{1, 4}),
                         [](const auto& info) {
                           return "stage" + std::to_string(info.param.stage) + "_world" +
                                  std::to_string(info.param.world);
                         });

TEST(ZeroEngine, Stage1PartitionsTheOptimizerState) {
  dist::run_fake_ranks(3, 10s, [](dist::Communicator& comm) {
    auto params = make_params();
    ZeroOptions options;
    options.engine = engine_options();
    options.alignment = 4;
    ZeroEngine engine(params, options, comm);
    // 48 + 8 + 24 + 3 = 83 elements -> padded to 84 (unit 12), partitions of 28.
    EXPECT_EQ(engine.num_parameters(), 83);
    for (const auto& b : engine.state_buffers()) EXPECT_EQ(b.numel, 28) << b.name;
  });
}

TEST(ZeroEngine, UnsupportedStageIsAnInputError) {
  dist::run_fake_ranks(1, 10s, [](dist::Communicator& comm) {
    auto params = make_params();
    ZeroOptions options;
    options.stage = 3;
    EXPECT_THROW(ZeroEngine(params, options, comm), InputError);
  });
}

}  // namespace
}  // namespace zeroplan::executor::zero
