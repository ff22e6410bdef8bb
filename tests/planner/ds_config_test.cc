#include "planner/ds_config.h"

#include <gtest/gtest.h>

#include "planner/error.h"
#include "planner/memory_model.h"
#include "planner/roofline_step_time.h"
#include "planner/search.h"
#include "tests/planner/search_fixtures.h"

namespace zeroplan {
namespace {

using testing::context_on;
using testing::llama2_7b_shape;

std::string error_of(const nlohmann::json& config, const PlanContext& ctx, const DsConfigFlags& flags = {}) {
  try {
    read_ds_config(config, "ds.json", ctx, flags);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(DsConfig, EveryWrittenConfigSatisfiesDeepSpeedsBatchRule) {
  for (auto [nodes, gpn, global] : {std::tuple{1, 4, 64}, std::tuple{2, 8, 32}, std::tuple{1, 2, 6}}) {
    const PlanContext ctx = context_on(llama2_7b_shape(), nodes, gpn, global);
    for (const Candidate& c : enumerate_candidates(ctx, SearchOptions{})) {
      const auto j = ds_config_to_json(ctx, c);
      // deepspeed/runtime/config.py _batch_assertion: train_batch_size == micro * gas * world_size.
      const auto tbs = j["train_batch_size"].get<std::int64_t>();
      EXPECT_EQ(tbs, j["train_micro_batch_size_per_gpu"].get<std::int64_t>() *
                         j["gradient_accumulation_steps"].get<std::int64_t>() * (nodes * gpn));
      EXPECT_EQ(tbs, global);
    }
  }
}

TEST(DsConfig, WritesPrecisionOptimizerAndZeroBlocks) {
  PlanContext ctx = context_on(llama2_7b_shape(), 1, 8, 64);
  ctx.training.precision = Precision::kFp16;
  Candidate c;
  c.zero_stage = 3;
  c.offload_optimizer = OffloadDevice::kCpu;
  c.offload_param = OffloadDevice::kNone;
  c.dp = 8;
  c.micro_batch = 2;
  c.grad_accum = 4;
  c.overlap_comm = true;
  c.reduce_bucket_size = 16777216;
  const auto j = ds_config_to_json(ctx, c);
  EXPECT_EQ(j["fp16"]["enabled"], true);
  EXPECT_EQ(j["fp16"]["loss_scale"], 0);
  EXPECT_EQ(j["fp16"]["initial_scale_power"], 16);
  EXPECT_EQ(j["fp16"]["loss_scale_window"], 1000);
  EXPECT_EQ(j["fp16"]["hysteresis"], 2);
  EXPECT_EQ(j["fp16"]["min_loss_scale"], 1);
  EXPECT_FALSE(j.contains("bf16"));
  EXPECT_EQ(j["gradient_clipping"], 1.0);
  EXPECT_EQ(j["optimizer"]["type"], "AdamW");
  EXPECT_TRUE(j["optimizer"]["params"].contains("lr"));
  const auto& z = j["zero_optimization"];
  EXPECT_EQ(z["stage"], 3);
  EXPECT_EQ(z["offload_optimizer"]["device"], "cpu");
  EXPECT_EQ(z["offload_optimizer"]["pin_memory"], true);
  EXPECT_EQ(z["offload_param"]["device"], "none");
  EXPECT_EQ(z["reduce_bucket_size"], 16777216u);
  EXPECT_EQ(z["overlap_comm"], true);
  EXPECT_EQ(z["contiguous_gradients"], true);
  for (const char* k : {"allgather_bucket_size", "stage3_prefetch_bucket_size", "stage3_max_live_parameters",
                        "stage3_param_persistence_threshold"}) {
    EXPECT_TRUE(z.contains(k)) << k;
  }
  ctx.training.precision = Precision::kBf16;
  const auto b = ds_config_to_json(ctx, c);
  EXPECT_EQ(b["bf16"]["enabled"], true);
  EXPECT_FALSE(b.contains("fp16"));
}

TEST(DsConfig, WrittenConfigReadsBackToTheSameCandidate) {
  const PlanContext ctx = context_on(llama2_7b_shape(), 1, 4, 64);
  for (const Candidate& c : enumerate_candidates(ctx, SearchOptions{})) {
    const nlohmann::json j = nlohmann::json::parse(ds_config_to_json(ctx, c).dump());
    const DsConfigResolved r = read_ds_config(j, "ds.json", ctx, {});
    EXPECT_EQ(r.candidate.zero_stage, c.zero_stage);
    EXPECT_EQ(r.candidate.offload_optimizer, c.offload_optimizer);
    EXPECT_EQ(r.candidate.offload_param, c.offload_param);
    EXPECT_EQ(r.candidate.micro_batch, c.micro_batch);
    EXPECT_EQ(r.candidate.grad_accum, c.grad_accum);
    EXPECT_EQ(r.candidate.dp, c.dp);
    EXPECT_EQ(r.candidate.overlap_comm, c.overlap_comm);
    EXPECT_EQ(r.candidate.reduce_bucket_size, c.reduce_bucket_size);
    EXPECT_EQ(r.candidate.allgather_bucket_size, c.allgather_bucket_size);
    EXPECT_EQ(r.candidate.prefetch_bucket_size, c.prefetch_bucket_size);
    EXPECT_EQ(r.candidate.max_live_parameters, c.max_live_parameters);
    EXPECT_EQ(r.candidate.param_persistence_threshold, c.param_persistence_threshold);
    EXPECT_EQ(r.candidate.max_reuse_distance, c.max_reuse_distance);
    EXPECT_EQ(r.context.training.global_batch, 64);
    EXPECT_EQ(r.context.training.precision, Precision::kBf16);
  }
}

// The ZeRO-3 template from the Hugging Face DeepSpeed integration docs.
const char* kHfZero3Auto = R"({
  "fp16": {"enabled": "auto", "loss_scale": 0, "loss_scale_window": 1000, "initial_scale_power": 16,
           "hysteresis": 2, "min_loss_scale": 1},
  "bf16": {"enabled": "auto"},
  "optimizer": {"type": "AdamW", "params": {"lr": "auto", "betas": "auto", "eps": "auto", "weight_decay": "auto"}},
  "scheduler": {"type": "WarmupLR", "params": {"warmup_min_lr": "auto", "warmup_max_lr": "auto", "warmup_num_steps": "auto"}},
  "zero_optimization": {
    "stage": 3,
    "offload_optimizer": {"device": "cpu", "pin_memory": true},
    "offload_param": {"device": "cpu", "pin_memory": true},
    "overlap_comm": true,
    "contiguous_gradients": true,
    "sub_group_size": 1e9,
    "reduce_bucket_size": "auto",
    "stage3_prefetch_bucket_size": "auto",
    "stage3_param_persistence_threshold": "auto",
    "stage3_max_live_parameters": 1e9,
    "stage3_max_reuse_distance": 1e9,
    "stage3_gather_16bit_weights_on_model_save": true
  },
  "gradient_accumulation_steps": "auto",
  "gradient_clipping": "auto",
  "steps_per_print": 2000,
  "train_batch_size": "auto",
  "train_micro_batch_size_per_gpu": "auto",
  "wall_clock_breakdown": false
})";

TEST(DsConfig, ResolvesHfTrainerAutoValuesLikeTheTrainer) {
  const PlanContext ctx = context_on(llama2_7b_shape(), 1, 4, 64);
  DsConfigFlags flags;
  flags.micro_batch = 2;
  flags.grad_accum = 8;
  flags.precision = Precision::kBf16;
  const DsConfigResolved r = read_ds_config(nlohmann::json::parse(kHfZero3Auto), "ds.json", ctx, flags);
  const Candidate& c = r.candidate;
  EXPECT_EQ(c.zero_stage, 3);
  EXPECT_EQ(c.offload_optimizer, OffloadDevice::kCpu);
  EXPECT_EQ(c.offload_param, OffloadDevice::kCpu);
  EXPECT_EQ(c.micro_batch, 2);
  EXPECT_EQ(c.grad_accum, 8);
  EXPECT_EQ(r.context.training.global_batch, 2 * 8 * 4);  // world x per_device x gas
  EXPECT_EQ(r.context.training.precision, Precision::kBf16);
  EXPECT_EQ(c.reduce_bucket_size, 4096u * 4096u);                // hidden²
  EXPECT_EQ(c.prefetch_bucket_size, 15099494u);                  // 0.9 hidden²
  EXPECT_EQ(c.param_persistence_threshold, 40960u);              // 10 hidden
  EXPECT_EQ(c.max_live_parameters, 1000000000u);
  EXPECT_EQ(c.allgather_bucket_size, 500000000u);                // absent: DeepSpeed's default
  EXPECT_TRUE(c.overlap_comm);

  flags.precision = Precision::kFp16;
  EXPECT_EQ(read_ds_config(nlohmann::json::parse(kHfZero3Auto), "ds.json", ctx, flags).context.training.precision,
            Precision::kFp16);
}

TEST(DsConfig, DerivesMissingBatchValuesByDeepSpeedsRule) {
  const PlanContext ctx = context_on(llama2_7b_shape(), 1, 4, 64);
  auto resolve = [&](const char* text) { return read_ds_config(nlohmann::json::parse(text), "ds.json", ctx, {}); };
  auto r = resolve(R"({"train_batch_size": 32, "train_micro_batch_size_per_gpu": 2})");
  EXPECT_EQ(r.candidate.grad_accum, 4);
  r = resolve(R"({"train_batch_size": 32, "gradient_accumulation_steps": 2})");
  EXPECT_EQ(r.candidate.micro_batch, 4);
  r = resolve(R"({"train_batch_size": 32})");
  EXPECT_EQ(r.candidate.micro_batch, 8);
  EXPECT_EQ(r.candidate.grad_accum, 1);
  r = resolve(R"({"train_micro_batch_size_per_gpu": 3, "gradient_accumulation_steps": 5})");
  EXPECT_EQ(r.context.training.global_batch, 60);
  EXPECT_EQ(r.candidate.zero_stage, 0);
  EXPECT_EQ(r.context.training.precision, Precision::kFp32);  // neither fp16 nor bf16 enabled
}

TEST(DsConfig, MaxReuseDistanceIsWrittenForStageThreeAndReadBack) {
  const PlanContext ctx = context_on(llama2_7b_shape(), 1, 8, 64);
  Candidate c;
  c.dp = 8;
  c.micro_batch = 2;
  c.grad_accum = 4;
  c.zero_stage = 3;
  c.overlap_comm = true;
  c.max_reuse_distance = 123456789;
  const auto j = ds_config_to_json(ctx, c);
  ASSERT_TRUE(j["zero_optimization"].contains("stage3_max_reuse_distance"));
  EXPECT_EQ(j["zero_optimization"]["stage3_max_reuse_distance"].get<std::uint64_t>(), 123456789u);
  const DsConfigResolved r = read_ds_config(nlohmann::json::parse(j.dump()), "ds.json", ctx, {});
  EXPECT_EQ(r.candidate.max_reuse_distance, 123456789u);
  // Stages 0-2 have no reuse distance: not written.
  for (int stage : {0, 1, 2}) {
    c.zero_stage = stage;
    EXPECT_FALSE(ds_config_to_json(ctx, c)["zero_optimization"].contains("stage3_max_reuse_distance")) << stage;
  }
  // Absent: DeepSpeed's default 1e9. A number in DeepSpeed's float form: read as elements.
  EXPECT_EQ(read_ds_config(nlohmann::json::parse(R"({"train_batch_size": 64, "zero_optimization": {"stage": 3}})"),
                           "ds.json", ctx, {})
                .candidate.max_reuse_distance,
            1000000000u);
  EXPECT_EQ(read_ds_config(nlohmann::json::parse(
                               R"({"train_batch_size": 64, "zero_optimization": {"stage": 3, "stage3_max_reuse_distance": 2e8}})"),
                           "ds.json", ctx, {})
                .candidate.max_reuse_distance,
            200000000u);
  // It changes the planner's estimate: the gathered-parameter buffer holds what is kept for reuse.
  Candidate small = c, large = c;
  small.zero_stage = large.zero_stage = 3;
  small.max_reuse_distance = 0;
  large.max_reuse_distance = 1000000000;
  EXPECT_LT(estimate_memory(ctx, small).gpu.buffers, estimate_memory(ctx, large).gpu.buffers);
  // "auto" is not resolved by HF Trainer for this key, a negative count is an error; both name the field.
  EXPECT_NE(error_of(nlohmann::json::parse(
                         R"({"train_batch_size": 64, "zero_optimization": {"stage": 3, "stage3_max_reuse_distance": "auto"}})"),
                     ctx)
                .find("zero_optimization.stage3_max_reuse_distance"),
            std::string::npos);
  EXPECT_NE(error_of(nlohmann::json::parse(
                         R"({"train_batch_size": 64, "zero_optimization": {"stage": 3, "stage3_max_reuse_distance": -1}})"),
                     ctx)
                .find("stage3_max_reuse_distance"),
            std::string::npos);
}

TEST(DsConfig, BadConfigsAreOneLineErrorsNamingTheField) {
  const PlanContext ctx = context_on(llama2_7b_shape(), 1, 4, 64);
  auto err = [&](const char* text, const DsConfigFlags& flags = {}) {
    return error_of(nlohmann::json::parse(text), ctx, flags);
  };
  EXPECT_NE(err(R"({"train_batch_size": 30, "train_micro_batch_size_per_gpu": 2, "gradient_accumulation_steps": 2})")
                .find("\"train_batch_size\""),
            std::string::npos);
  EXPECT_NE(err(R"({"train_batch_size": 32, "zero_optimization": {"stage": 3, "stage3_prefetch_bucket": 5}})")
                .find("zero_optimization.stage3_prefetch_bucket"),
            std::string::npos);
  EXPECT_NE(err(R"({"train_batch_size": 32, "train_batch": 4})").find("train_batch"), std::string::npos);
  EXPECT_NE(err(R"({"train_batch_size": 32, "zero_optimization": {"stage": 3, "offload_param": {"device": "nvme"}}})")
                .find("zero_optimization.offload_param.device"),
            std::string::npos);
  EXPECT_NE(err(R"({"train_batch_size": 32, "zero_optimization": {"stage": 2, "offload_param": {"device": "cpu"}}})")
                .find("offload_param"),
            std::string::npos);
  EXPECT_NE(err(R"({"train_micro_batch_size_per_gpu": "auto"})").find("--micro-batch"), std::string::npos);
  EXPECT_NE(err(R"({"train_batch_size": 32, "optimizer": {"type": "Lamb"}})").find("optimizer.type"),
            std::string::npos);
  EXPECT_NE(err(R"({"train_batch_size": 32, "zero_optimization": {"stage": 2, "allgather_bucket_size": "auto"}})")
                .find("allgather_bucket_size"),
            std::string::npos);
  EXPECT_NE(err(R"({"train_batch_size": -4})").find("train_batch_size"), std::string::npos);
  DsConfigFlags flags;
  flags.micro_batch = 4;
  EXPECT_NE(err(R"({"train_micro_batch_size_per_gpu": 2, "gradient_accumulation_steps": 8})", flags)
                .find("--micro-batch"),
            std::string::npos);
  EXPECT_NE(err(R"({"train_batch_size": 32, "fp16": {"enabled": true}, "bf16": {"enabled": true}})").find("bf16"),
            std::string::npos);
  for (const char* text : {R"({"train_batch_size": 30})", R"({"train_batch_size": 32, "zero_optimization": {"stage": 7}})"}) {
    const std::string e = err(text);
    EXPECT_EQ(e.find('\n'), std::string::npos);
    EXPECT_EQ(e.rfind("ds.json: ", 0), 0u) << e;
  }
}

TEST(DsConfig, AcceptsAndIgnoresTheDocumentedKeys) {
  const PlanContext ctx = context_on(llama2_7b_shape(), 1, 4, 64);
  const char* text = R"({"train_batch_size": 32, "steps_per_print": 10, "wall_clock_breakdown": false,
    "zero_allow_untested_optimizer": true, "scheduler": {"type": "WarmupLR"},
    "zero_optimization": {"stage": 2, "reduce_scatter": true, "allgather_partitions": true,
                          "round_robin_gradients": false}})";
  EXPECT_NO_THROW(read_ds_config(nlohmann::json::parse(text), "ds.json", ctx, {}));
}

}  // namespace
}  // namespace zeroplan
