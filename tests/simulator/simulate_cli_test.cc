// `zeroplan simulate` end to end through the binary (skipped when the binary is not built).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

struct CliRun {
  int exit_code = -1;
  std::string out;
};

CliRun run(const std::string& args) {
  CliRun r;
  const std::string cmd = std::string(ZEROPLAN_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class SimulateCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(ZEROPLAN_BINARY)) GTEST_SKIP() << "zeroplan binary not built";
  }
};

TEST_F(SimulateCli, CollectiveJson) {
  CliRun r = run("simulate collective --op all_reduce --bytes 1GiB --cluster 1x8-h100-80gb --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  nlohmann::json j = nlohmann::json::parse(r.out);
  for (const char* k : {"time_s", "algbw_GBps", "busbw_GBps", "algorithm"}) EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_NEAR(j["busbw_GBps"].get<double>(), j["algbw_GBps"].get<double>() * 1.75, 1e-6);
  CliRun ring = run("simulate collective --op all_reduce --bytes 1GiB --cluster 1x8-h100-80gb --algorithm ring --json");
  ASSERT_EQ(ring.exit_code, 0) << ring.out;
  EXPECT_EQ(nlohmann::json::parse(ring.out)["algorithm"], "ring");
}

TEST_F(SimulateCli, BadCollectiveInputExitsTwoWithOneLine) {
  for (const char* args : {"simulate collective --op all_to_all", "simulate collective --algorithm butterfly",
                           "simulate collective --algorithm tree --cluster 1x8-h100-80gb",
                           "simulate collective --bytes 12"}) {
    CliRun r = run(args);
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  }
}

TEST_F(SimulateCli, StepJsonAndTrace) {
  const std::string trace = (std::filesystem::temp_directory_path() / "zeroplan_sim_cli_trace.json").string();
  CliRun r = run("simulate --model tiny-test --cluster 1x8-h100-80gb --seq-len 256 --zero-stage 3 --offload-optimizer none "
              "--offload-param none --micro-batch 1 --grad-accum 2 --json --trace " + trace);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["schema"], "zeroplan.simulation/v1");
  EXPECT_GT(j["step"]["total_s"].get<double>(), 0);
  EXPECT_FALSE(j["collectives"].empty());
  std::ifstream in(trace);
  nlohmann::json t = nlohmann::json::parse(in);
  EXPECT_GT(t["traceEvents"].size(), 10u);
  std::filesystem::remove(trace);
}

}  // namespace
