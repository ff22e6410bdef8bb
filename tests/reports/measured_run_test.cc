#include "reports/measured_run.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "planner/error.h"
#include "tests/reports/test_util.h"

namespace zeroplan::reports {
namespace {

using nlohmann::json;

MeasuredRun sample_run() {
  MeasuredRun run;
  run.device = {"cpu", "cpu"};
  run.config = {{"zero_stage", 2}, {"dp", 2}};
  for (int r = 0; r < 2; ++r) {
    MeasuredRank rank;
    rank.rank = r;
    rank.peak = {100, 50, 200, 400 + static_cast<std::uint64_t>(r), 30, 20, 5, 790};
    rank.at_peak = {100, 50, 200, 380, 30, 20, 5, 785};
    PhaseMeasurement forward;
    forward.count = 3;
    forward.wall_s = 0.75;
    forward.peak = rank.peak;
    rank.by_phase["forward"] = forward;
    PhaseMeasurement backward = forward;
    backward.device = DevicePeak{1000, 2048, 1500};
    rank.by_phase["backward"] = backward;
    rank.step_times_s = {0.9, 0.5, 0.4, 0.6};
    rank.step_time_s = median_step_time_s(rank.step_times_s);
    rank.collectives = {{"all_gather", 4096, 6, 0.012}};
    rank.process_peak_rss_bytes = 123456789;
    rank.device_peak = DevicePeak{1000, 2048, 1500};
    rank.host_peak = MeasuredMemory{1, 2, 3, 4, 5, 6, 7, 28};
    rank.timeline = {{0.1, "setup", 300, 350}, {0.4, "forward", 700, 790}};
    run.ranks.push_back(rank);
  }
  return run;
}

TEST(MeasuredRun, RoundTripsThroughJson) {
  MeasuredRun run = sample_run();
  json j = measured_run_to_json(run);
  EXPECT_EQ(j["schema"], "zeroplan.measured/v1");
  EXPECT_EQ(j["ranks"][1]["peak"]["activations"], 401);
  MeasuredRun back = measured_run_from_json(j, "m.json");
  ASSERT_EQ(back.ranks.size(), 2u);
  EXPECT_EQ(back.ranks[1].peak.activations, 401u);
  EXPECT_EQ(back.ranks[0].peak.comm, 20u);
  EXPECT_EQ(back.ranks[0].at_peak.activations, 380u);
  EXPECT_EQ(back.ranks[0].by_phase.at("backward").device->reserved_bytes, 2048u);
  EXPECT_FALSE(back.ranks[0].by_phase.at("forward").device.has_value());
  EXPECT_DOUBLE_EQ(back.ranks[0].by_phase.at("forward").wall_s, 0.75);
  EXPECT_EQ(back.ranks[0].collectives[0].op, "all_gather");
  EXPECT_DOUBLE_EQ(back.ranks[0].collectives[0].mean_s(), 0.002);
  EXPECT_EQ(back.ranks[0].timeline[1].peak_bytes, 790u);
  EXPECT_EQ(back.ranks[0].host_peak->total, 28u);
  EXPECT_EQ(back.config["zero_stage"], 2);
  EXPECT_EQ(measured_run_to_json(back), j);  // lossless
}

TEST(MeasuredRun, WritesAndReadsAFile) {
  auto path = std::filesystem::temp_directory_path() / "zeroplan_measured_roundtrip.json";
  write_measured_run(path.string(), sample_run());
  MeasuredRun back = read_measured_run(path.string());
  EXPECT_EQ(back.ranks.size(), 2u);
  std::filesystem::remove(path);
}

TEST(MeasuredRun, MedianStepLeavesOutTheWarmUpStep) {
  EXPECT_DOUBLE_EQ(median_step_time_s({9.0, 1.0, 3.0, 2.0}), 2.0);  // {1,3,2} -> 2
  EXPECT_DOUBLE_EQ(median_step_time_s({9.0, 1.0, 3.0, 2.0, 5.0}), 2.5);  // {1,3,2,5} -> 2.5
  EXPECT_DOUBLE_EQ(median_step_time_s({4.0, 2.0}), 3.0);  // too few to drop one
  EXPECT_DOUBLE_EQ(median_step_time_s({}), 0.0);
}

void expect_error(json j, const std::string& fragment) {
  try {
    measured_run_from_json(j, "run/measured.json");
    FAIL() << "expected an InputError containing " << fragment;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line";
  }
}

TEST(MeasuredRun, RejectsBadInput) {
  json good = measured_run_to_json(sample_run());
  json j = good;
  j["schema"] = "zeroplan.measured/v0";
  expect_error(j, "field \"schema\" is \"zeroplan.measured/v0\"");
  j = good;
  j["ranks"][0]["peak"]["activations"] = -1;
  expect_error(j, "ranks[0].peak.activations");
  j = good;
  j["ranks"][0]["peak"]["params"] = "1GB";
  expect_error(j, "ranks[0].peak.params");
  j = good;
  j["ranks"][1]["rank"] = 0;
  expect_error(j, "rank 1 is missing or repeated");
  j = good;
  j["ranks"][0]["by_phase"]["warmup"] = j["ranks"][0]["by_phase"]["forward"];
  expect_error(j, "is not a phase");
  j = good;
  j["ranks"][0]["typo_key"] = 1;
  expect_error(j, "typo_key");
  j = good;
  j["device"]["kind"] = "tpu";
  expect_error(j, "device.kind");
  j = good;
  j["ranks"] = json::array();
  expect_error(j, "ranks");
  j = good;
  j.erase("config");
  expect_error(j, "config");
}

TEST(MeasuredRun, MissingFileIsAnInputError) {
  EXPECT_THROW(read_measured_run("/nonexistent/measured.json"), InputError);
}

TEST(MeasuredRun, ReadsTheCompareFixtures) {
  MeasuredRun run = read_measured_run(testing::fixture("run_ok/measured.json"));
  ASSERT_EQ(run.ranks.size(), 2u);
  EXPECT_EQ(run.ranks[0].peak.total, 9000000u);
}

}  // namespace
}  // namespace zeroplan::reports

namespace zeroplan::reports {
namespace {

TEST(MeasuredRun, AssemblesPerRankFiles) {
  auto dir = std::filesystem::temp_directory_path() / "zeroplan_measured_ranks";
  std::filesystem::create_directories(dir);
  MeasuredRun run = sample_run();
  std::vector<std::string> paths;
  for (const auto& r : run.ranks) {
    paths.push_back((dir / measured_rank_file_name(r.rank)).string());
    write_measured_rank(paths.back(), r);
  }
  EXPECT_EQ(measured_rank_file_name(3), "measured_rank3.json");
  MeasuredRun joined = assemble_measured_run(paths, {"cpu", "cpu"}, {{"zero_stage", 2}});
  ASSERT_EQ(joined.ranks.size(), 2u);
  EXPECT_EQ(joined.ranks[1].peak.activations, 401u);
  EXPECT_EQ(joined.config["zero_stage"], 2);
  // Rank 1 alone is not a run (rank 0 missing).
  EXPECT_THROW(assemble_measured_run({paths[1]}, {"cpu", "cpu"}, json::object()), InputError);
  EXPECT_THROW(assemble_measured_run({paths[0], (dir / "nope.json").string()}, {"cpu", "cpu"}, json::object()),
               InputError);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace zeroplan::reports
