// AdamW over flat buffers and the single-process engine (clipping, fp16 overflow skip, bf16 masters)
// against LibTorch's own torch::optim::AdamW on random tensors.
#include <gtest/gtest.h>
#include <torch/optim/adamw.h>

#include <cmath>

#include "executor/train/adamw.h"
#include "executor/train/single_process_engine.h"

namespace zeroplan::executor {
namespace {

using Params = std::vector<std::pair<std::string, at::Tensor>>;

Params random_params(at::ScalarType dtype, std::uint64_t seed) {
  at::manual_seed(seed);
  Params p = {{"w1", at::randn({37, 129})}, {"norm", at::randn({129})}, {"w2", at::randn({64, 37})},
              {"bias", at::randn({5})}};
  for (auto& [n, t] : p) t = t.to(dtype).set_requires_grad(true);
  return p;
}

Params clone_params(const Params& p) {
  Params out;
  for (const auto& [n, t] : p) out.emplace_back(n, t.detach().clone().set_requires_grad(true));
  return out;
}

// Writes `grads[i]` into the parameters' .grad (which the engine made views of its flat buffer).
void set_grads(const Params& p, const std::vector<at::Tensor>& grads) {
  at::NoGradGuard g;
  for (std::size_t i = 0; i < p.size(); ++i) p[i].second.mutable_grad().copy_(grads[i]);
}

EngineOptions engine_options(Precision precision, double clip_grad, double weight_decay = 0.0) {
  EngineOptions o;
  o.precision = precision;
  o.clip_grad = clip_grad;
  o.adamw.weight_decay = weight_decay;
  return o;
}

std::vector<at::Tensor> random_grads(const Params& p, double scale) {
  std::vector<at::Tensor> g;
  for (const auto& [n, t] : p) g.push_back(at::randn(t.sizes()) * scale);
  return g;
}

double max_abs_diff(const Params& a, const Params& b) {
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    d = std::max(d, (a[i].second.to(at::kFloat) - b[i].second.to(at::kFloat)).abs().max().item<double>());
  return d;
}

// torch::optim::AdamW with the engine's grouping: weight decay on >= 2-dim tensors only.
std::unique_ptr<torch::optim::AdamW> reference_adamw(const Params& p, double lr, double wd) {
  std::vector<at::Tensor> decay, no_decay;
  for (const auto& [n, t] : p) (t.dim() >= 2 ? decay : no_decay).push_back(t);
  auto opts = torch::optim::AdamWOptions(lr).betas({0.9, 0.999}).eps(1e-8);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(opts.weight_decay(wd)));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(opts.weight_decay(0.0)));
  return std::make_unique<torch::optim::AdamW>(groups, opts);
}

TEST(AdamW, FlatKernelMatchesTorchOptimAdamW) {
  at::manual_seed(1);
  at::Tensor p = at::randn({100003}) * 0.05;  // the scale of real weights (init std 0.02)
  at::Tensor ref = p.clone().set_requires_grad(true);
  at::Tensor m = at::zeros_like(p), v = at::zeros_like(p);
  torch::optim::AdamW opt({ref}, torch::optim::AdamWOptions(3e-3).weight_decay(0.05));
  AdamWOptions o;
  o.weight_decay = 0.05;
  for (int step = 1; step <= 10; ++step) {
    const at::Tensor g = at::randn({100003}) * (step % 3 + 0.1);
    ref.mutable_grad() = g.clone();
    opt.step();
    adamw_update(p.data_ptr<float>(), g.data_ptr<float>(), m.data_ptr<float>(), v.data_ptr<float>(), p.numel(),
                 adamw_scalars(o, 3e-3, 0.05, step, 1.0));
  }
  EXPECT_LT((p - ref.detach()).abs().max().item<double>(), 1e-6);
}

TEST(AdamW, GradMultiplierFoldsUnscaling) {
  at::manual_seed(2);
  at::Tensor a = at::randn({4097}), b = a.clone();
  at::Tensor ma = at::zeros_like(a), va = at::zeros_like(a), mb = at::zeros_like(a), vb = at::zeros_like(a);
  const at::Tensor g = at::randn({4097});
  const at::Tensor g1024 = g * 1024;  // exact: a power of two
  adamw_update(a.data_ptr<float>(), g.data_ptr<float>(), ma.data_ptr<float>(), va.data_ptr<float>(), a.numel(),
               adamw_scalars({}, 1e-3, 0.0, 1, 1.0));
  adamw_update(b.data_ptr<float>(), g1024.data_ptr<float>(), mb.data_ptr<float>(), vb.data_ptr<float>(), b.numel(),
               adamw_scalars({}, 1e-3, 0.0, 1, 1.0 / 1024));
  EXPECT_TRUE(at::equal(a, b));
}

TEST(SingleProcessEngine, Fp32StepsMatchTorchAdamWWithWeightDecayGroups) {
  Params ours = random_params(at::kFloat, 3);
  Params ref = clone_params(ours);
  SingleProcessEngine engine(ours, engine_options(Precision::kFp32, 0.0, 0.1));
  auto opt = reference_adamw(ref, 2e-3, 0.1);
  for (int step = 0; step < 5; ++step) {
    const auto grads = random_grads(ours, 0.5);
    engine.begin_accumulation();
    set_grads(ours, grads);
    const StepOutcome out = engine.step(2e-3);
    EXPECT_FALSE(out.skipped);
    for (std::size_t i = 0; i < ref.size(); ++i) ref[i].second.mutable_grad() = grads[i].clone();
    opt->step();
  }
  EXPECT_LT(max_abs_diff(ours, ref), 1e-6);
}

TEST(SingleProcessEngine, ClipsToTheGlobalNorm) {
  Params ours = random_params(at::kFloat, 4);
  Params ref = clone_params(ours);
  SingleProcessEngine engine(ours, engine_options(Precision::kFp32, 0.25));
  auto opt = reference_adamw(ref, 1e-2, 0.0);
  for (int step = 0; step < 3; ++step) {
    const auto grads = random_grads(ours, 3.0);
    double sq = 0;
    for (const auto& g : grads) sq += g.pow(2).sum().item<double>();
    const double norm = std::sqrt(sq);
    engine.begin_accumulation();
    set_grads(ours, grads);
    const StepOutcome out = engine.step(1e-2);
    EXPECT_NEAR(out.grad_norm, norm, 1e-4 * norm);  // reported before clipping
    // DeepSpeed: grads / ((norm + 1e-6) / max_norm) when that factor > 1.
    const double factor = (norm + 1e-6) / 0.25;
    ASSERT_GT(factor, 1.0);
    for (std::size_t i = 0; i < ref.size(); ++i) ref[i].second.mutable_grad() = grads[i] / factor;
    opt->step();
  }
  EXPECT_LT(max_abs_diff(ours, ref), 1e-6);
}

TEST(SingleProcessEngine, SmallGradientsAreNotClipped) {
  Params ours = random_params(at::kFloat, 5);
  Params ref = clone_params(ours);
  SingleProcessEngine engine(ours, engine_options(Precision::kFp32, 1e6));
  auto opt = reference_adamw(ref, 1e-3, 0.0);
  const auto grads = random_grads(ours, 1.0);
  engine.begin_accumulation();
  set_grads(ours, grads);
  engine.step(1e-3);
  for (std::size_t i = 0; i < ref.size(); ++i) ref[i].second.mutable_grad() = grads[i].clone();
  opt->step();
  EXPECT_LT(max_abs_diff(ours, ref), 1e-7);
}

TEST(SingleProcessEngine, Fp16OverflowSkipsTheStepAndFollowsTheScaler) {
  Params ours = random_params(at::kHalf, 6);
  const Params before = clone_params(ours);
  SingleProcessEngine engine(ours, engine_options(Precision::kFp16, 1.0));
  EXPECT_EQ(engine.backward_multiplier(10.0), 65536.0 / 10.0);
  for (int attempt = 0; attempt < 2; ++attempt) {
    engine.begin_accumulation();
    auto grads = random_grads(ours, 1.0);
    grads[1][3] = std::numeric_limits<float>::infinity();
    set_grads(ours, grads);
    engine.after_micro_backward();
    const StepOutcome out = engine.step(1e-3);
    EXPECT_TRUE(out.skipped);
    EXPECT_EQ(out.loss_scale, 65536.0);
  }
  EXPECT_EQ(engine.loss_scaler().scale(), 32768.0);  // hysteresis 2: the second overflow halves
  EXPECT_EQ(engine.scalar_state().adam_step, 0);
  EXPECT_EQ(max_abs_diff(ours, before), 0.0);
  // A clean step un-scales: grads written at scale 32768 update like unscaled grads in fp32.
  engine.begin_accumulation();
  auto grads = random_grads(ours, 1.0 / 32);
  std::vector<at::Tensor> scaled;
  for (const auto& g : grads) scaled.push_back((g * 32768.0).to(at::kHalf).to(at::kFloat));
  set_grads(ours, scaled);
  engine.after_micro_backward();
  const StepOutcome out = engine.step(1e-3);
  EXPECT_FALSE(out.skipped);
  double sq = 0;
  for (const auto& g : scaled) sq += g.pow(2).sum().item<double>();
  EXPECT_NEAR(out.grad_norm, std::sqrt(sq) / 32768.0, 1e-3 * out.grad_norm);
  EXPECT_GT(max_abs_diff(ours, before), 0.0);
}

TEST(SingleProcessEngine, Bf16KeepsFp32MastersAndAccumulatesInFp32) {
  Params ours = random_params(at::kBFloat16, 7);
  SingleProcessEngine engine(ours, engine_options(Precision::kBf16, 0.0));
  engine.begin_accumulation();
  // Two micro-steps of the same tiny gradient: accumulation in fp32 keeps both.
  std::vector<at::Tensor> g;
  for (const auto& [n, t] : ours) g.push_back(at::full(t.sizes(), 1e-3));
  for (int k = 0; k < 2; ++k) {
    set_grads(ours, g);
    engine.after_micro_backward();
  }
  EXPECT_NEAR(engine.flat_grad()[0].item<float>(), 2 * at::full({1}, 1e-3).to(at::kBFloat16).item<float>(), 1e-9);
  engine.step(1e-3);
  const auto buffers = engine.state_buffers();
  ASSERT_EQ(buffers[0].name, "master");
  // The bf16 parameters are the rounded fp32 masters.
  std::int64_t offset = 0;
  for (const auto& [n, t] : ours) {
    if (t.dim() < 2) continue;  // the decay group comes first in the flat layout
    const at::Tensor master = at::from_blob(buffers[0].data + offset, {t.numel()}, at::kFloat);
    EXPECT_TRUE(at::equal(master.to(at::kBFloat16), t.detach().reshape({-1}))) << n;
    offset += t.numel();
  }
}

}  // namespace
}  // namespace zeroplan::executor
