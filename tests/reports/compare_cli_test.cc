// `zeroplan compare` end to end on the fixtures: exit codes, --json, --html, one-line errors.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "tests/reports/fixture_plan.h"
#include "tests/reports/test_util.h"

namespace zeroplan::reports {
namespace {

using testing::fixture;
using testing::run_command;

std::string zeroplan() { return ZEROPLAN_BINARY; }

struct CompareCli : ::testing::Test {
  std::filesystem::path tmp = std::filesystem::temp_directory_path() /
                              ("zeroplan_compare_cli_" + std::to_string(::getpid()));
  std::string plan;
  void SetUp() override {
    std::filesystem::create_directories(tmp);
    plan = testing::write_fixture_plan(tmp.string());
  }
  void TearDown() override { std::filesystem::remove_all(tmp); }
  std::string html() const { return (tmp / "report.html").string(); }
};

TEST_F(CompareCli, WithinToleranceExitsZeroAndWritesTheReport) {
  auto r = run_command(zeroplan() + " compare --plan " + plan + " --run " + fixture("run_ok") +
                       " --html " + html());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("within 3% ✓"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("report: " + html()), std::string::npos) << r.output;
  EXPECT_TRUE(std::filesystem::file_size(html()) > 1000);
}

TEST_F(CompareCli, BeyondToleranceExitsFour) {
  auto r = run_command(zeroplan() + " compare --plan " + plan + " --run " + fixture("run_over") +
                       " --html " + html());
  EXPECT_EQ(r.exit_code, 4) << r.output;
  EXPECT_NE(r.output.find("exceeds 3%"), std::string::npos) << r.output;
  auto loose = run_command(zeroplan() + " compare --plan " + plan + " --run " +
                           fixture("run_over") + " --tolerance 0.1 --html " + html());
  EXPECT_EQ(loose.exit_code, 0) << loose.output;
}

TEST_F(CompareCli, JsonOutputParses) {
  auto r = run_command(zeroplan() + " compare --json --plan " + plan + " --run " +
                       fixture("run_over") + " --html " + html());
  EXPECT_EQ(r.exit_code, 4);
  auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["schema"], "zeroplan.compare/v1");
  EXPECT_NEAR(j["max_total_error"].get<double>(), (9500000.0 - 8912896.0) / 9500000.0, 1e-12);
  EXPECT_EQ(j["report"], html());
}

TEST_F(CompareCli, DefaultReportGoesIntoTheRunDirectory) {
  std::filesystem::copy(fixture("run_ok"), tmp / "run");
  auto r = run_command(zeroplan() + " compare --plan " + plan + " --run " + (tmp / "run").string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::filesystem::exists(tmp / "run" / "report.html"));
}

void expect_bad_input(const std::string& args, const std::string& fragment) {  // NOLINT
  auto r = run_command(zeroplan() + " compare " + args);
  EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
  EXPECT_NE(r.output.find(fragment), std::string::npos) << r.output;
  // One line, no stack trace.
  EXPECT_EQ(r.output.find('\n'), r.output.size() - 1) << r.output;
}

TEST_F(CompareCli, BadInputIsOneLineAndExitsTwo) {
  expect_bad_input("--plan /nonexistent/plan.json --run " + fixture("run_ok") + " --html " + html(),
                   "/nonexistent/plan.json: cannot read");
  expect_bad_input("--plan " + plan + " --run " + tmp.string(), "measured.json: missing");
  expect_bad_input("--plan " + plan + " --run /nonexistent/run", "not a run directory");
  // measured.json given as the plan: wrong schema.
  expect_bad_input("--plan " + fixture("run_ok/measured.json") + " --run " + fixture("run_ok") + " --html " + html(),
                   "schema");
  expect_bad_input("--plan " + plan + " --run " + fixture("run_ok") + " --candidate 2 --html " + html(),
                   "config.zero_stage");
  expect_bad_input("--plan " + plan + " --run " + fixture("run_ok") + " --candidate 9 --html " + html(),
                   "out of range");
  expect_bad_input("--plan " + plan + " --run " + fixture("run_ok") + " --tolerance -1", "--tolerance");
}

TEST_F(CompareCli, MismatchedRanksExitTwo) {
  auto j = nlohmann::json::parse(testing::read_text(fixture("run_ok/measured.json")));
  j["ranks"].erase(1);
  std::filesystem::create_directories(tmp / "one");
  std::ofstream(tmp / "one" / "measured.json") << j.dump();
  expect_bad_input("--plan " + plan + " --run " + (tmp / "one").string(), "dp = 2 ranks");
}

}  // namespace
}  // namespace zeroplan::reports
