// The Llama-family model: HF naming, attention paths, packing masks, checkpointing, init, loss, RoPE.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/cuda.h>

#include "executor/model/layers.h"
#include "executor/model/llama.h"
#include "executor/model/loss.h"
#include "planner/error.h"
#include "tests/executor/test_util.h"

namespace zeroplan::executor {
namespace {

using testing::tiny_spec;

at::Tensor random_ids(const zeroplan::ModelSpec& spec, std::int64_t b, std::int64_t s, std::uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randint(0, spec.vocab_size, {b, s}, gen, at::kLong);
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kFloat) - b.to(at::kFloat)).abs().max().item<double>();
}

TEST(LlamaModel, ParametersFollowModelTensorsOrderAndShapes) {
  for (bool tied : {false, true}) {
    auto spec = tiny_spec("Qwen2ForCausalLM", 2, tied);
    LlamaForCausalLM m(spec, ModelOptions{});
    auto params = m->hf_named_parameters();
    auto expected = zeroplan::model_tensors(spec);
    ASSERT_EQ(params.size(), expected.size());
    std::int64_t total = 0;
    for (std::size_t i = 0; i < params.size(); ++i) {
      EXPECT_EQ(params[i].first, expected[i].name);
      EXPECT_EQ(params[i].second.sizes().vec(), expected[i].shape);
      total += params[i].second.numel();
    }
    EXPECT_EQ(total, zeroplan::count_params(spec).total);
    EXPECT_EQ(params.front().first, "model.embed_tokens.weight");
    EXPECT_EQ(m->named_parameters().contains("lm_head.weight"), !tied);
    EXPECT_EQ(m->layers().size(), 2u);
    if (tied) {
      EXPECT_TRUE(m->lm_head_weight().is_same(m->model->embed_tokens->weight));
    }
  }
}

TEST(LlamaModel, ForwardShapesAndDtypes) {
  auto spec = tiny_spec();
  for (auto dtype : {at::kFloat, at::kBFloat16, at::kHalf}) {
    LlamaForCausalLM m(spec, ModelOptions{dtype});
    init_random(m, 1);
    for (const auto& p : m->parameters()) EXPECT_EQ(p.scalar_type(), dtype);
    at::Tensor logits = m->forward(random_ids(spec, 2, 6, 0), {}, {});
    EXPECT_EQ(logits.sizes().vec(), (std::vector<std::int64_t>{2, 6, spec.vocab_size}));
    EXPECT_EQ(logits.scalar_type(), dtype);
    EXPECT_TRUE(at::isfinite(logits).all().item<bool>());
  }
}

TEST(LlamaModel, SdpaMatchesEagerWithGqa) {
  auto spec = tiny_spec("MistralForCausalLM", /*kv_heads=*/1);
  LlamaForCausalLM sdpa(spec, ModelOptions{at::kFloat, false, zeroplan::AttentionImpl::kSdpa});
  LlamaForCausalLM eager(spec, ModelOptions{at::kFloat, false, zeroplan::AttentionImpl::kEager});
  init_random(sdpa, 11);
  init_random(eager, 11);
  at::Tensor ids = random_ids(spec, 2, 9, 1);
  EXPECT_LT(max_abs_diff(sdpa->forward(ids, {}, {}), eager->forward(ids, {}, {})), 1e-5);
  // With a segment mask too.
  at::Tensor seg = at::tensor({0, 0, 0, 1, 1, 1, 1, 2, 2}, at::kLong).repeat({2, 1});
  EXPECT_LT(max_abs_diff(sdpa->forward(ids, {}, seg), eager->forward(ids, {}, seg)), 1e-5);
}

TEST(LlamaModel, PackedSequencesEqualSeparateRuns) {
  auto spec = tiny_spec("LlamaForCausalLM", 2);
  for (auto impl : {zeroplan::AttentionImpl::kSdpa, zeroplan::AttentionImpl::kEager}) {
    LlamaForCausalLM m(spec, ModelOptions{at::kFloat, false, impl});
    init_random(m, 4);
    at::Tensor a = random_ids(spec, 1, 5, 10), b = random_ids(spec, 1, 4, 11);
    at::Tensor la = m->forward(a, {}, {}), lb = m->forward(b, {}, {});
    // Packed row: a, b, then 3 padding tokens (segment -1, positions restart).
    at::Tensor pad = at::zeros({1, 3}, at::kLong);
    at::Tensor ids = at::cat({a, b, pad}, 1);
    at::Tensor pos = at::cat({at::arange(5, at::kLong), at::arange(4, at::kLong), at::arange(3, at::kLong)}).unsqueeze(0);
    at::Tensor seg = at::tensor({0, 0, 0, 0, 0, 1, 1, 1, 1, -1, -1, -1}, at::kLong).unsqueeze(0);
    at::Tensor packed = m->forward(ids, pos, seg);
    EXPECT_LT(max_abs_diff(packed.narrow(1, 0, 5), la), 1e-5);
    EXPECT_LT(max_abs_diff(packed.narrow(1, 5, 4), lb), 1e-5);
    EXPECT_TRUE(at::isfinite(packed).all().item<bool>());  // padding rows attend to themselves: no NaN
    // Without the segment mask b would see a: the test would notice.
    at::Tensor unmasked = m->forward(ids, pos, {});
    EXPECT_GT(max_abs_diff(unmasked.narrow(1, 5, 4), lb), 1e-4);
  }
}

TEST(LlamaModel, SlidingWindowMaskMatchesDefinition) {
  at::Tensor mask = make_attention_mask({}, 1, 6, 3, at::kCPU);
  ASSERT_TRUE(mask.defined());
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) EXPECT_EQ(mask[0][0][i][j].item<bool>(), j <= i && i - j < 3) << i << "," << j;
  EXPECT_FALSE(make_attention_mask({}, 1, 6, 8, at::kCPU).defined());  // window longer than seq: plain causal
  EXPECT_FALSE(make_attention_mask({}, 1, 6, 0, at::kCPU).defined());
}

// Loss and gradients of one model run, for comparisons.
struct LossGrads {
  double loss;
  std::vector<at::Tensor> grads;
};
LossGrads loss_and_grads(LlamaForCausalLM& m, const at::Tensor& ids, const at::Tensor& labels, const at::Tensor& seg) {
  m->zero_grad();
  at::Tensor logits = m->forward(ids, {}, seg);
  LossSum l = causal_lm_loss_sum(logits, labels);
  at::Tensor mean = l.loss_sum / static_cast<double>(l.label_tokens);
  mean.backward();
  LossGrads r{mean.item<double>(), {}};
  for (auto& [name, p] : m->hf_named_parameters()) r.grads.push_back(p.grad().clone());
  return r;
}

TEST(LlamaModel, ActivationCheckpointingGivesTheSameGradients) {
  auto spec = tiny_spec("Qwen2ForCausalLM", 2, /*tied=*/true);
  for (auto impl : {zeroplan::AttentionImpl::kSdpa, zeroplan::AttentionImpl::kEager}) {
    LlamaForCausalLM plain(spec, ModelOptions{at::kFloat, false, impl});
    LlamaForCausalLM ckpt(spec, ModelOptions{at::kFloat, true, impl});
    init_random(plain, 21);
    init_random(ckpt, 21);
    at::Tensor ids = random_ids(spec, 2, 7, 3);
    at::Tensor labels = ids.clone();
    labels.narrow(1, 0, 2).fill_(-100);
    at::Tensor seg = at::tensor({0, 0, 0, 1, 1, 1, 1}, at::kLong).repeat({2, 1});
    LossGrads a = loss_and_grads(plain, ids, labels, seg), b = loss_and_grads(ckpt, ids, labels, seg);
    EXPECT_NEAR(a.loss, b.loss, 1e-6);
    ASSERT_EQ(a.grads.size(), b.grads.size());
    for (std::size_t i = 0; i < a.grads.size(); ++i) {
      EXPECT_GT(a.grads[i].abs().max().item<double>(), 0.0) << i;  // every parameter gets a gradient
      EXPECT_LT(max_abs_diff(a.grads[i], b.grads[i]), 1e-6) << i;
    }
  }
}

TEST(LlamaModel, CheckpointingSavesOnlyTheLayerInput) {
  // The checkpointed layer's output hangs off one custom node whose inputs are the hidden state, the
  // RoPE tables and the layer's parameters: no per-op nodes of the layer are recorded in forward.
  auto spec = tiny_spec();
  LlamaForCausalLM m(spec, ModelOptions{at::kFloat, true});
  init_random(m, 2);
  at::Tensor h = m->hidden_states(random_ids(spec, 1, 4, 0), {}, {});
  // hidden_states ends with the final norm; walk back to the last layer's node.
  std::function<bool(const std::shared_ptr<torch::autograd::Node>&, int)> find = [&](const auto& node, int depth) {
    if (!node || depth > 40) return false;
    if (node->name().find("CheckpointedLayer") != std::string::npos) return true;
    for (const auto& e : node->next_edges())
      if (find(e.function, depth + 1)) return true;
    return false;
  };
  EXPECT_TRUE(find(h.grad_fn(), 0));
  // Under no_grad the plain path runs (no custom node, no recompute).
  at::NoGradGuard no_grad;
  EXPECT_FALSE(m->hidden_states(random_ids(spec, 1, 4, 0), {}, {}).requires_grad());
}

TEST(LlamaModel, InitRandomIsDeterministicAndHfLike) {
  auto spec = tiny_spec("Qwen2ForCausalLM");
  LlamaForCausalLM a(spec, ModelOptions{}), b(spec, ModelOptions{}), c(spec, ModelOptions{});
  init_random(a, 5);
  init_random(b, 5);
  init_random(c, 6);
  auto pa = a->hf_named_parameters(), pb = b->hf_named_parameters(), pc = c->hf_named_parameters();
  bool any_differs = false;
  for (std::size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(at::equal(pa[i].second, pb[i].second)) << pa[i].first;
    const auto& name = pa[i].first;
    if (name.find("norm") != std::string::npos) {
      EXPECT_TRUE(at::equal(pa[i].second, at::ones_like(pa[i].second))) << name;
    } else if (name.find(".bias") != std::string::npos) {
      EXPECT_TRUE(at::equal(pa[i].second, at::zeros_like(pa[i].second))) << name;
    } else {
      any_differs |= !at::equal(pa[i].second, pc[i].second);
      if (pa[i].second.numel() >= 1000) {
        EXPECT_NEAR(pa[i].second.std().item<double>(), 0.02, 0.002) << name;
      }
    }
  }
  EXPECT_TRUE(any_differs);
}

TEST(Loss, SumMatchesManualShiftedCrossEntropy) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  at::Tensor logits = at::randn({2, 5, 7}, gen);
  at::Tensor labels = at::tensor({-100, -100, 3, 1, 6, -100, 2, 2, 0, -100}, at::kLong).view({2, 5});
  LossSum l = causal_lm_loss_sum(logits, labels);
  // By hand: position t predicts labels[t+1].
  double expected = 0;
  std::int64_t count = 0;
  at::Tensor logp = at::log_softmax(logits, -1);
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t + 1 < 5; ++t) {
      const auto y = labels[b][t + 1].item<std::int64_t>();
      if (y == -100) continue;
      expected -= logp[b][t][y].item<double>();
      ++count;
    }
  EXPECT_EQ(l.label_tokens, count);
  EXPECT_EQ(count, 6);  // labels[*, 0] never counts; the -100s do not
  EXPECT_NEAR(l.loss_sum.item<double>(), expected, 1e-5);
  EXPECT_EQ(l.loss_sum.scalar_type(), at::kFloat);

  at::Tensor none = at::full({1, 4}, -100, at::kLong);
  LossSum z = causal_lm_loss_sum(at::randn({1, 4, 7}).to(at::kBFloat16), none);
  EXPECT_EQ(z.label_tokens, 0);
  EXPECT_EQ(z.loss_sum.item<double>(), 0.0);
}

TEST(Rope, ScalingVariants) {
  auto spec = tiny_spec();  // head_dim 8, theta 1e4
  at::Tensor base = rope_inv_freq(spec);
  ASSERT_EQ(base.numel(), 4);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(base[i].item<double>(), std::pow(10000.0, -2.0 * i / 8), 1e-7);
  auto linear = spec;
  linear.rope_scaling.rope_type = "linear";
  linear.rope_scaling.factor = 4;
  EXPECT_TRUE(at::allclose(rope_inv_freq(linear), base / 4));
  auto llama3 = spec;
  llama3.rope_scaling = {"llama3", 8.0, 1.0, 4.0, 64};
  at::Tensor l3 = rope_inv_freq(llama3);
  // wavelength 2*pi/f: < 16 kept, > 64 divided by 8, in between interpolated.
  for (int i = 0; i < 4; ++i) {
    const double f = base[i].item<double>(), wl = 2 * M_PI / f, got = l3[i].item<double>();
    if (wl < 16) {
      EXPECT_NEAR(got, f, 1e-9);
    } else if (wl > 64) {
      EXPECT_NEAR(got, f / 8, 1e-9);
    } else {
      EXPECT_TRUE(got < f && got > f / 8);
    }
  }
  auto dynamic = spec;
  dynamic.rope_scaling.rope_type = "dynamic";
  EXPECT_THROW(rope_inv_freq(dynamic), zeroplan::InputError);
}

TEST(LlamaModel, InvalidSpecIsAnInputError) {
  auto spec = tiny_spec();
  spec.num_key_value_heads = 3;
  EXPECT_THROW(LlamaForCausalLM(spec, ModelOptions{}), zeroplan::InputError);
  spec = tiny_spec();
  spec.head_dim = 7;
  EXPECT_THROW(LlamaForCausalLM(spec, ModelOptions{}), zeroplan::InputError);
}

TEST(LlamaModelGpu, CudaMatchesCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  auto spec = tiny_spec("MistralForCausalLM", 1);
  LlamaForCausalLM cpu(spec, ModelOptions{});
  init_random(cpu, 8);
  LlamaForCausalLM gpu(spec, ModelOptions{});
  init_random(gpu, 8);
  gpu->to(at::kCUDA);
  at::Tensor ids = random_ids(spec, 2, 16, 2);
  at::Tensor seg = at::tensor({0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1}, at::kLong).repeat({2, 1});
  EXPECT_LT(max_abs_diff(cpu->forward(ids, {}, seg), gpu->forward(ids.cuda(), {}, seg.cuda()).cpu()), 1e-4);
  // bf16 with checkpointing trains on the GPU: finite loss and gradients.
  LlamaForCausalLM bf(spec, ModelOptions{at::kBFloat16, true});
  init_random(bf, 8);
  bf->to(at::kCUDA);
  at::Tensor logits = bf->forward(ids.cuda(), {}, seg.cuda());
  LossSum l = causal_lm_loss_sum(logits, ids);
  l.loss_sum.backward();
  EXPECT_TRUE(std::isfinite(l.loss_sum.item<double>()));
  for (const auto& p : bf->parameters()) EXPECT_TRUE(at::isfinite(p.grad()).all().item<bool>());
}

}  // namespace
}  // namespace zeroplan::executor
