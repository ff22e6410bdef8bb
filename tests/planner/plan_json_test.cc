#include "planner/plan_json.h"

#include <gtest/gtest.h>

#include "planner/error.h"
#include "planner/roofline_step_time.h"
#include "planner/search.h"
#include "tests/planner/search_fixtures.h"

namespace zeroplan {
namespace {

using testing::context_on;
using testing::llama2_7b_shape;

Plan sample_plan() {
  PlanContext ctx = context_on(llama2_7b_shape(), 1, 4, 64);
  ctx.model.rope_scaling.rope_type = "linear";
  ctx.model.rope_scaling.factor = 2.0;
  RooflineStepTimeModel roofline;
  return search_plans(ctx, SearchOptions{}, roofline);
}

std::string expect_error(const nlohmann::json& j) {
  try {
    plan_from_json(j, "plan.json");
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(PlanJson, FollowsTheContract) {
  const Plan plan = sample_plan();
  const nlohmann::json j = nlohmann::json::parse(write_plan_json(plan));
  EXPECT_EQ(j["schema"], "zeroplan.plan/v1");
  EXPECT_EQ(j["model"]["num_params"].get<std::int64_t>(), 6738415616);
  EXPECT_EQ(j["model"]["largest_layer_params"].get<std::int64_t>(), 32000 * 4096);
  EXPECT_EQ(j["cluster"]["nodes"], 1);
  EXPECT_EQ(j["cluster"]["gpus_per_node"], 4);
  EXPECT_EQ(j["cluster"]["gpu"]["memory_bytes"].get<std::uint64_t>(), 24ull << 30);
  EXPECT_EQ(j["training"]["seq_len"], 2048);
  EXPECT_EQ(j["training"]["global_batch"], 64);
  EXPECT_EQ(j["training"]["precision"], "bf16");
  ASSERT_TRUE(j["best"].is_object());
  ASSERT_FALSE(j["candidates"].empty());
  for (const auto& c : j["candidates"]) {
    for (const char* key : {"zero_stage", "offload_optimizer", "offload_param", "micro_batch", "grad_accum", "dp",
                            "activation_checkpointing", "reduce_bucket_size", "allgather_bucket_size",
                            "prefetch_bucket_size", "max_live_parameters", "memory", "deepspeed_estimate", "fits",
                            "step_time_s", "tokens_per_s"}) {
      EXPECT_TRUE(c.contains(key)) << key;
    }
    const auto& g = c["memory"]["gpu"];
    EXPECT_TRUE(g["total"].is_number_unsigned());
    EXPECT_EQ(g["total"].get<std::uint64_t>(),
              g["params"].get<std::uint64_t>() + g["gradients"].get<std::uint64_t>() +
                  g["optimizer_states"].get<std::uint64_t>() + g["activations"].get<std::uint64_t>() +
                  g["buffers"].get<std::uint64_t>() + g["overhead"].get<std::uint64_t>());
    EXPECT_EQ(c["micro_batch"].get<std::int64_t>() * c["grad_accum"].get<std::int64_t>() * c["dp"].get<std::int64_t>(),
              64);
    EXPECT_TRUE(c["fits"].get<bool>());
    EXPECT_TRUE(c["deepspeed_estimate"]["gpu"].is_number_unsigned());
  }
  EXPECT_EQ(j["best"], j["candidates"][0]);
  EXPECT_FALSE(j["rejections"].empty());
}

TEST(PlanJson, RoundTripsExactly) {
  const Plan plan = sample_plan();
  const std::string first = write_plan_json(plan);
  const Plan back = plan_from_json(nlohmann::json::parse(first), "plan.json");
  EXPECT_EQ(write_plan_json(back), first);
  ASSERT_TRUE(back.best.has_value());
  EXPECT_EQ(back.best->candidate.micro_batch, plan.best->candidate.micro_batch);
  EXPECT_EQ(back.best->memory.gpu.total(), plan.best->memory.gpu.total());
  EXPECT_EQ(back.context.model.hidden_size, 4096);
  EXPECT_EQ(back.context.model.rope_scaling.rope_type, "linear");
  EXPECT_EQ(back.context.cluster.gpu.memory_bytes, 24ull << 30);
  EXPECT_EQ(back.rejections.size(), plan.rejections.size());
}

TEST(PlanJson, RecordsTheHardwareProfileAndReadsPlansWithoutIt) {
  Plan plan = sample_plan();
  EXPECT_TRUE(nlohmann::json::parse(write_plan_json(plan))["hardware_profile"].is_null());
  plan.hardware_profile = "profiles/this-host.json";
  const std::string text = write_plan_json(plan);
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["hardware_profile"], "profiles/this-host.json");
  EXPECT_EQ(plan_from_json(j, "plan.json").hardware_profile, "profiles/this-host.json");
  // Plans written before the key existed read as "datasheet figures".
  j.erase("hardware_profile");
  EXPECT_EQ(plan_from_json(j, "plan.json").hardware_profile, "");
  j["hardware_profile"] = 3;
  EXPECT_NE(expect_error(j).find("hardware_profile"), std::string::npos);
}

TEST(PlanJson, NothingFitsRoundTripsWithNullBest) {
  PlanContext ctx = context_on(llama2_7b_shape(), 1, 1, 4);
  ctx.cluster.cpu_memory_bytes_per_node = 8ull << 30;
  RooflineStepTimeModel roofline;
  Plan plan = search_plans(ctx, SearchOptions{}, roofline);
  ASSERT_FALSE(plan.best.has_value());
  plan.suggestions = suggest_fixes(ctx, SearchOptions{}, roofline);
  ASSERT_FALSE(plan.suggestions.empty());
  const std::string text = write_plan_json(plan);
  const auto j = nlohmann::json::parse(text);
  EXPECT_TRUE(j["best"].is_null());
  EXPECT_EQ(j["suggestions"].size(), plan.suggestions.size());
  EXPECT_TRUE(j["suggestions"][0]["best"]["fits"].get<bool>());
  EXPECT_EQ(write_plan_json(plan_from_json(nlohmann::json::parse(text), "p.json")), text);
}

TEST(PlanJson, RejectsUnknownKeysWrongSchemaAndInconsistentFigures) {
  const nlohmann::json good = nlohmann::json::parse(write_plan_json(sample_plan()));
  nlohmann::json j = good;
  j["candidates"][0]["reduce_bucket"] = 5;
  EXPECT_NE(expect_error(j).find("reduce_bucket"), std::string::npos);
  j = good;
  j["schema"] = "zeroplan.plan/v9";
  EXPECT_NE(expect_error(j).find("schema"), std::string::npos);
  j = good;
  j["candidates"][0]["memory"]["gpu"]["total"] = 1;
  EXPECT_NE(expect_error(j).find("candidates[0].memory.gpu.total"), std::string::npos);
  j = good;
  j["model"]["num_params"] = 7000000000;
  EXPECT_NE(expect_error(j).find("model.num_params"), std::string::npos);
  j = good;
  j["cluster"]["gpu"].erase("memory_bytes");
  EXPECT_NE(expect_error(j).find("cluster.gpu.memory_bytes"), std::string::npos);
  j = good;
  j["candidates"][0]["memory"]["cpu"]["params"] = -1;
  EXPECT_NE(expect_error(j).find("must not be negative"), std::string::npos);
  j = good;
  j["candidates"][0]["offload_param"] = "nvme";
  EXPECT_NE(expect_error(j).find("offload_param"), std::string::npos);
}

TEST(PlanJson, ReadsAFile) {
  const std::string path = ::testing::TempDir() + "/plan_json_test.json";
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    const std::string text = write_plan_json(sample_plan());
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  }
  EXPECT_TRUE(read_plan_json(path).best.has_value());
  EXPECT_THROW(read_plan_json(path + ".missing"), InputError);
}

}  // namespace
}  // namespace zeroplan
