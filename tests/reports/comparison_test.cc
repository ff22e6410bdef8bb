#include "reports/comparison.h"

#include <gtest/gtest.h>

#include <cmath>

#include "planner/error.h"
#include "planner/plan_json.h"
#include "tests/reports/fixture_plan.h"
#include "tests/reports/test_util.h"

namespace zeroplan::reports {
namespace {

const CategoryComparison& category(const RankComparison& r, const std::string& name) {
  for (const auto& c : r.categories) {
    if (c.category == name) return c;
  }
  throw std::runtime_error("no category " + name);
}

struct Fixture : ::testing::Test {
  Plan plan = testing::fixture_plan();
  MeasuredRun ok = read_measured_run(testing::fixture("run_ok/measured.json"));
  MeasuredRun over = read_measured_run(testing::fixture("run_over/measured.json"));
};

TEST(SignedError, IsAFractionOfTheMeasuredValue) {
  EXPECT_DOUBLE_EQ(*signed_error(100, 110), 10.0 / 110.0);   // under-predicted: positive
  EXPECT_DOUBLE_EQ(*signed_error(110, 100), -10.0 / 100.0);  // over-predicted: negative
  EXPECT_DOUBLE_EQ(*signed_error(5, 5), 0.0);
  EXPECT_DOUBLE_EQ(*signed_error(0, 0), 0.0);
  EXPECT_FALSE(signed_error(5, 0).has_value());              // undefined, not infinite
  EXPECT_DOUBLE_EQ(*signed_error(0, 8), 1.0);
}

TEST_F(Fixture, ComparesEveryCategoryOfEveryRank) {
  Comparison c = compare_run(plan, "plan.json", ok, "run_ok", 0, 0.03);
  ASSERT_EQ(c.ranks.size(), 2u);
  ASSERT_EQ(c.ranks[0].categories.size(), kCompareCategories.size());
  EXPECT_EQ(c.ranks[0].categories.back().category, "total");
  // Hand-computed from the fixtures: predicted total 8,912,896 B; measured 9,000,000 / 8,950,000 B.
  const auto& t0 = c.ranks[0].total();
  EXPECT_EQ(t0.predicted, 8912896u);
  EXPECT_EQ(t0.measured, 9000000u);
  EXPECT_NEAR(*t0.error, (9000000.0 - 8912896.0) / 9000000.0, 1e-15);
  EXPECT_NEAR(*c.ranks[1].total().error, (8950000.0 - 8912896.0) / 8950000.0, 1e-15);
  // Activations: 4,194,304 predicted vs 4,300,000 measured on rank 0.
  EXPECT_NEAR(*category(c.ranks[0], "activations").error, (4300000.0 - 4194304.0) / 4300000.0, 1e-15);
  // Buffers compare against measured buffers + comm (2,000,000 + 100,000).
  EXPECT_EQ(category(c.ranks[0], "buffers").measured, 2100000u);
  EXPECT_NEAR(*category(c.ranks[0], "buffers").error, (2100000.0 - 2097152.0) / 2100000.0, 1e-15);
  EXPECT_DOUBLE_EQ(*category(c.ranks[0], "params").error, 0.0);
  // Overhead 0 predicted, 0 measured on CPU -> 0 error; other 0 -> 0.
  EXPECT_DOUBLE_EQ(*category(c.ranks[0], "overhead").error, 0.0);
  EXPECT_NEAR(c.max_total_error, (9000000.0 - 8912896.0) / 9000000.0, 1e-15);
  EXPECT_EQ(c.worst_rank, 0);
  EXPECT_TRUE(c.within_tolerance);
  EXPECT_EQ(c.candidate_index, 1);
}

TEST_F(Fixture, ToleranceVerdict) {
  Comparison c = compare_run(plan, "plan.json", over, "run_over", 0, 0.03);
  EXPECT_EQ(c.worst_rank, 1);
  EXPECT_NEAR(c.max_total_error, (9500000.0 - 8912896.0) / 9500000.0, 1e-15);  // 6.2%
  EXPECT_FALSE(c.within_tolerance);
  EXPECT_TRUE(compare_run(plan, "plan.json", over, "run_over", 0, 0.07).within_tolerance);
  // The ok run at 0.5%: rank 0's 0.97% exceeds it.
  EXPECT_FALSE(compare_run(plan, "plan.json", ok, "run_ok", 0, 0.005).within_tolerance);
}

TEST_F(Fixture, StepTimeAndBreakdown) {
  Comparison c = compare_run(plan, "plan.json", ok, "run_ok", 0, 0.03);
  EXPECT_DOUBLE_EQ(c.step_time.predicted_s, 0.5);
  EXPECT_DOUBLE_EQ(c.step_time.measured_s, 0.51);
  EXPECT_NEAR(*c.step_time.error, (0.51 - 0.5) / 0.51, 1e-12);
  ASSERT_EQ(c.predicted_step_parts.size(), 4u);
  EXPECT_DOUBLE_EQ(c.predicted_step_parts[0].seconds, 0.35);
  ASSERT_EQ(c.measured_step_parts.size(), 4u);
  EXPECT_EQ(c.measured_step_parts[0].name, "forward");
  // forward wall_s = 0.3 * (0.62 + 0.51 + 0.5 + 0.52) over 4 steps.
  EXPECT_NEAR(c.measured_step_parts[0].seconds, 0.3 * 2.15 / 4, 1e-9);
  EXPECT_EQ(c.collectives.size(), 4u);  // 2 ops x 2 ranks
}

TEST_F(Fixture, PicksTheCandidateAskedFor) {
  // Candidate 2 is stage 1: the run's config (stage 2) contradicts it.
  try {
    compare_run(plan, "plan.json", ok, "run_ok", 2, 0.03);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("config.zero_stage\" is 2 but plan.json candidate #2 has 1"),
              std::string::npos)
        << e.what();
  }
  MeasuredRun stage1 = ok;
  stage1.config["zero_stage"] = 1;
  Comparison c = compare_run(plan, "plan.json", stage1, "run_ok", 2, 0.03);
  EXPECT_EQ(c.ranks[0].total().predicted, 9437184u);
  EXPECT_EQ(c.candidate_index, 2);
  EXPECT_THROW(compare_run(plan, "plan.json", ok, "run_ok", 3, 0.03), InputError);
}

TEST_F(Fixture, RankCountMustMatchTheCandidate) {
  MeasuredRun one = ok;
  one.ranks.pop_back();
  try {
    compare_run(plan, "plan.json", one, "run_ok", 0, 0.03);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("has 1 rank but"), std::string::npos) << e.what();
  }
}

TEST_F(Fixture, ZeroMeasuredTotalIsAnUndefinedErrorAndFailsTheVerdict) {
  MeasuredRun zero = ok;
  zero.ranks[1].peak = MeasuredMemory{};
  Comparison c = compare_run(plan, "plan.json", zero, "run_ok", 0, 0.03);
  EXPECT_FALSE(c.ranks[1].total().error.has_value());
  EXPECT_FALSE(c.total_error_defined);
  EXPECT_FALSE(c.within_tolerance);
  EXPECT_EQ(c.worst_rank, 1);
}

TEST_F(Fixture, CudaRunsCompareTotalsWithReservedMemory) {
  MeasuredRun cuda = ok;
  cuda.device.kind = "cuda";
  for (auto& r : cuda.ranks) r.device_peak = DevicePeak{8000000, 9200000, 8100000};
  Comparison c = compare_run(plan, "plan.json", cuda, "run_ok", 0, 0.03);
  EXPECT_EQ(c.ranks[0].total().measured, 9200000u);
}

}  // namespace
}  // namespace zeroplan::reports
