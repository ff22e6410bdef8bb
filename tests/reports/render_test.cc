#include "reports/compare_render.h"

#include <gtest/gtest.h>

#include <regex>

#include "planner/plan_json.h"
#include "tests/reports/fixture_plan.h"
#include "tests/reports/test_util.h"

namespace zeroplan::reports {
namespace {

struct Render : ::testing::Test {
  Plan plan = testing::fixture_plan();
  MeasuredRun ok = read_measured_run(testing::fixture("run_ok/measured.json"));
  MeasuredRun over = read_measured_run(testing::fixture("run_over/measured.json"));
};

TEST(FormatErrorPercent, SignsAndUndefined) {
  EXPECT_EQ(format_error_percent(0.015), "+1.5%");
  EXPECT_EQ(format_error_percent(-0.1234), "-12.3%");
  EXPECT_EQ(format_error_percent(0.0001), "0.0%");
  EXPECT_EQ(format_error_percent(std::nullopt), "n/a");
}

TEST_F(Render, JsonFollowsTheCompareContract) {
  Comparison c = compare_run(plan, "plan.json", ok, "run_ok", 0, 0.03);
  nlohmann::json j = nlohmann::json::parse(compare_to_json(c).dump());
  EXPECT_EQ(j["schema"], "zeroplan.compare/v1");
  ASSERT_EQ(j["ranks"].size(), 2u);
  EXPECT_EQ(j["ranks"][0]["rank"], 0);
  for (const char* cat : {"params", "gradients", "optimizer_states", "activations", "buffers", "total"}) {
    const auto& entry = j["ranks"][0]["categories"][cat];
    EXPECT_TRUE(entry["predicted"].is_number_unsigned()) << cat;
    EXPECT_TRUE(entry["measured"].is_number_unsigned()) << cat;
    EXPECT_TRUE(entry["error"].is_number()) << cat;
  }
  EXPECT_EQ(j["ranks"][0]["categories"]["total"]["measured"], 9000000);
  EXPECT_NEAR(j["ranks"][0]["categories"]["total"]["error"].get<double>(), (9000000.0 - 8912896.0) / 9000000.0,
              1e-15);
  EXPECT_NEAR(j["max_total_error"].get<double>(), (9000000.0 - 8912896.0) / 9000000.0, 1e-15);
  EXPECT_DOUBLE_EQ(j["step_time"]["predicted"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["step_time"]["measured"].get<double>(), 0.51);
  EXPECT_TRUE(j["step_time"]["error"].is_number());
  EXPECT_EQ(j["within_tolerance"], true);
}

TEST_F(Render, JsonWritesNullForUndefinedErrors) {
  MeasuredRun zero = ok;
  zero.ranks[1].peak = MeasuredMemory{};
  nlohmann::json j = nlohmann::json::parse(compare_to_json(compare_run(plan, "p", zero, "r", 0, 0.03)).dump());
  EXPECT_TRUE(j["ranks"][1]["categories"]["total"]["error"].is_null());
  EXPECT_TRUE(j["max_total_error"].is_null());
  EXPECT_EQ(j["within_tolerance"], false);
}

TEST_F(Render, TableNamesTheVerdictAndTheReport) {
  std::string table = render_compare_table(compare_run(plan, "plan.json", ok, "run_ok", 0, 0.03), "run_ok/report.html");
  EXPECT_NE(table.find("within 3% ✓"), std::string::npos) << table;
  EXPECT_NE(table.find("activations"), std::string::npos);
  EXPECT_NE(table.find("+2.5%"), std::string::npos) << table;  // (4.3M - 4194304) / 4.3M
  EXPECT_NE(table.find("report: run_ok/report.html"), std::string::npos);
  std::string bad = render_compare_table(compare_run(plan, "plan.json", over, "run_over", 0, 0.03), "");
  EXPECT_NE(bad.find("exceeds 3% ✗"), std::string::npos) << bad;
  EXPECT_NE(bad.find("total (rank 1)"), std::string::npos) << bad;
}

TEST_F(Render, HtmlIsOneSelfContainedPageWithCharts) {
  Comparison c = compare_run(plan, "plan.json", ok, "run_ok", 0, 0.03);
  std::string html = render_compare_html(c);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("</html>"), std::string::npos);
  // Nothing fetched: no URLs, no external scripts, stylesheets or images.
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  // Three kinds of chart: memory bars (1) + one timeline per rank (2) + step breakdown (1).
  std::size_t svgs = 0;
  for (std::size_t pos = html.find("<svg"); pos != std::string::npos; pos = html.find("<svg", pos + 1)) ++svgs;
  EXPECT_EQ(svgs, 4u);
  // Stacked bars: a rect per category per bar, with tooltips naming rank, side and category.
  EXPECT_NE(html.find("<title>rank 1 measured activations: "), std::string::npos);
  EXPECT_NE(html.find("<title>rank 0 predicted params: 1.0 MiB</title>"), std::string::npos);
  // Timeline blocks per phase occurrence.
  EXPECT_NE(html.find("<title>backward until"), std::string::npos);
  // Well-formed enough: every <svg> closed, no NaN coordinates.
  std::size_t closes = 0;
  for (std::size_t pos = html.find("</svg>"); pos != std::string::npos; pos = html.find("</svg>", pos + 1)) ++closes;
  EXPECT_EQ(closes, svgs);
  EXPECT_EQ(html.find("nan"), std::string::npos);
  EXPECT_EQ(html.find("inf\""), std::string::npos);
}

TEST_F(Render, HtmlEscapesNames) {
  Comparison c = compare_run(plan, "<plan>.json", ok, "run&dir", 0, 0.03);
  std::string html = render_compare_html(c);
  EXPECT_EQ(html.find("<plan>"), std::string::npos);
  EXPECT_NE(html.find("&lt;plan&gt;.json"), std::string::npos);
  EXPECT_NE(html.find("run&amp;dir"), std::string::npos);
}

}  // namespace
}  // namespace zeroplan::reports
