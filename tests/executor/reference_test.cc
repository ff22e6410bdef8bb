// Reference checks against Hugging Face transformers: tests/fixtures/reference/<name>/ holds a tiny
// random checkpoint and what transformers computed with it (tools/make_reference.py). The executor
// must reproduce the fp32 logits (1e-4 absolute), the loss (1e-5 relative) and the parameters after
// backward + one AdamW step (1e-6 absolute; executor/train/adamw.h), for each attention path.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "executor/model/llama.h"
#include "executor/model/loss.h"
#include "executor/train/adamw.h"
#include "executor/weights/safetensors.h"
#include "tests/executor/test_util.h"

namespace zeroplan::executor {
namespace {

const std::string kFixtures = std::string(ZEROPLAN_SOURCE_DIR) + "/tests/fixtures/reference/";

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kFloat) - b.to(at::kFloat)).abs().max().item<double>();
}

struct Case {
  std::string fixture;
  zeroplan::AttentionImpl attention;
  bool checkpointing;
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return info.param.fixture + (info.param.attention == zeroplan::AttentionImpl::kSdpa ? "_sdpa" : "_eager") +
         (info.param.checkpointing ? "_ckpt" : "");
}

class Reference : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    dir_ = kFixtures + GetParam().fixture;
    ASSERT_TRUE(std::filesystem::exists(dir_ + "/reference.safetensors")) << "run tools/make_reference.py";
    spec_ = zeroplan::load_model_spec(dir_, std::string(ZEROPLAN_SOURCE_DIR) + "/configs");
    ref_ = std::make_unique<SafetensorsFile>(dir_ + "/reference.safetensors");
  }
  LlamaForCausalLM load_model() {
    LlamaForCausalLM m(spec_, ModelOptions{at::kFloat, GetParam().checkpointing, GetParam().attention});
    load_hf_weights(dir_, m);
    return m;
  }
  double meta(const std::string& key) const { return std::stod(ref_->header().metadata.at(key)); }

  std::string dir_;
  zeroplan::ModelSpec spec_;
  std::unique_ptr<SafetensorsFile> ref_;
};

TEST_P(Reference, LogitsLossGradientsAndOneAdamWStep) {
  LlamaForCausalLM m = load_model();
  // One reference per attention path (see tools/make_reference.py on why the AdamW step needs it).
  const std::string p = GetParam().attention == zeroplan::AttentionImpl::kSdpa ? "sdpa." : "";
  at::Tensor ids = ref_->read("input_ids"), labels = ref_->read("labels");
  at::Tensor logits = m->forward(ids, {}, {});
  const double logits_err = max_abs_diff(logits, ref_->read(p + "logits"));
  EXPECT_LE(logits_err, 1e-4);

  LossSum l = causal_lm_loss_sum(logits, labels);
  at::Tensor loss = l.loss_sum / static_cast<double>(l.label_tokens);  // HF: mean over label tokens
  const double ref_loss = ref_->read(p + "loss").item<double>();
  EXPECT_LE(std::abs(loss.item<double>() - ref_loss) / std::abs(ref_loss), 1e-5);
  loss.backward();

  AdamWOptions opt{meta("beta1"), meta("beta2"), meta("eps"), meta("weight_decay")};
  const AdamWStepScalars s = adamw_scalars(opt, meta("lr"), meta("weight_decay"), /*step=*/1, /*grad_multiplier=*/1.0);
  double param_err = 0, moved = 0;
  auto params = m->hf_named_parameters();
  ASSERT_EQ(std::to_string(params.size()), ref_->header().metadata.at("params"));
  for (auto& [name, param] : params) {
    ASSERT_TRUE(param.grad().defined()) << name;
    at::Tensor w = param.detach().clone().contiguous(), g = param.grad().contiguous();
    at::Tensor m1 = at::zeros_like(w), v1 = at::zeros_like(w);
    adamw_update(w.data_ptr<float>(), g.data_ptr<float>(), m1.data_ptr<float>(), v1.data_ptr<float>(), w.numel(), s);
    at::Tensor after = ref_->read(p + "after." + name);
    param_err = std::max(param_err, max_abs_diff(w, after));
    moved = std::max(moved, max_abs_diff(after, param));
  }
  EXPECT_LE(param_err, 1e-6);
  EXPECT_GT(moved, 1e-4);  // the step moved the parameters: the comparison is not vacuous
  RecordProperty("max_logits_err", fmt::format("{:.3g}", logits_err));
  RecordProperty("max_param_err", fmt::format("{:.3g}", param_err));
  RecordProperty("loss_rel_err", fmt::format("{:.3g}", std::abs(loss.item<double>() - ref_loss) / std::abs(ref_loss)));
}

// save_hf_checkpoint then load_hf_weights reproduces each fixture model exactly. With
// ZEROPLAN_EXPORT_DIR set, the exports are kept there (DIR/<fixture>) for
// `tools/make_reference.py --check-export DIR/<fixture> --fixture <fixture>` (transformers loads them).
TEST(ReferenceExport, SaveLoadRoundTrip) {
  for (const char* fixture : {"llama", "qwen2", "mistral", "llama3_rope"}) {
    SCOPED_TRACE(fixture);
    const std::string dir = kFixtures + fixture;
    auto spec = zeroplan::load_model_spec(dir, "configs");
    LlamaForCausalLM m(spec, ModelOptions{});
    load_hf_weights(dir, m);
    testing::TempDir tmp;
    std::string out = tmp / "export";
    if (const char* keep = std::getenv("ZEROPLAN_EXPORT_DIR")) out = std::string(keep) + "/" + fixture;
    save_hf_checkpoint(out, m, spec);
    auto spec2 = zeroplan::load_model_spec(out, "configs");
    LlamaForCausalLM m2(spec2, ModelOptions{});
    load_hf_weights(out, m2);
    SafetensorsFile ref(dir + "/reference.safetensors");
    at::Tensor ids = ref.read("input_ids");
    EXPECT_TRUE(at::equal(m->forward(ids, {}, {}), m2->forward(ids, {}, {})));
  }
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (const char* f : {"llama", "qwen2", "mistral", "llama3_rope"}) {
    cases.push_back({f, zeroplan::AttentionImpl::kSdpa, false});
    cases.push_back({f, zeroplan::AttentionImpl::kEager, false});
    cases.push_back({f, zeroplan::AttentionImpl::kSdpa, true});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Reference, ::testing::ValuesIn(all_cases()), case_name);

}  // namespace
}  // namespace zeroplan::executor
