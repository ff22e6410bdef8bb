// Launcher end to end: the dist_selftest_worker binary launches 2-4 ranks of itself on loopback
// (fork/exec, TCPStore hosted by the launcher, Gloo), checks collective results, and for the
// failure cases that every rank stops within the timeout with a message naming the failed rank
// and its phase.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <string>

namespace {

struct WorkerRun {
  int exit_code = -1;
  std::string output;  // stdout + stderr
  double seconds = 0;
};

WorkerRun run_worker(const std::string& flags) {
  const auto start = std::chrono::steady_clock::now();
  const std::string command = std::string(DIST_SELFTEST_BIN) + " " + flags + " 2>&1";
  WorkerRun run;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  std::array<char, 4096> buf{};
  while (fgets(buf.data(), buf.size(), pipe) != nullptr) run.output += buf.data();
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

// The job's failure is ONE line (the launcher's); survivors print nothing of their own.
void expect_one_failure_line(const WorkerRun& run) {
  int lines = 0;
  std::size_t start = 0;
  while (start < run.output.size()) {
    const std::size_t end = run.output.find('\n', start);
    const std::string line = run.output.substr(start, end == std::string::npos ? std::string::npos : end - start);
    lines += line.rfind("zeroplan:", 0) == 0 || line.rfind("selftest:", 0) == 0;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  EXPECT_EQ(lines, 1) << run.output;
  EXPECT_EQ(run.output.find("Connection closed"), std::string::npos) << run.output;
}

TEST(DistLauncher, TwoAndFourRanksRunCheckedCollectives) {
  for (const int n : {2, 4}) {
    const WorkerRun run = run_worker("--nproc " + std::to_string(n) + " --steps 4");
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_NE(run.output.find(std::to_string(n) + " ranks x 4 steps (gloo backend): all collectives correct"),
              std::string::npos)
        << run.output;
  }
}

TEST(DistLauncher, KilledRankStopsEveryoneWithItsPhase) {
  const WorkerRun run = run_worker("--nproc 4 --steps 5 --kill-rank 2 --fault-step 3 --timeout-ms 5000");
  EXPECT_NE(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("rank 2 exited (signal 9) during backward of step 3; stopped ranks 0,1,3"),
            std::string::npos)
      << run.output;
  EXPECT_LT(run.seconds, 15.0) << run.output;
  expect_one_failure_line(run);
}

TEST(DistLauncher, ThrowingRankIsNamedWithItsError) {
  const WorkerRun run = run_worker("--nproc 3 --steps 4 --throw-rank 1 --fault-step 1 --timeout-ms 5000");
  EXPECT_NE(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("rank 1 failed during backward of step 1: injected failure"), std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("stopped ranks 0,2"), std::string::npos) << run.output;
  EXPECT_LT(run.seconds, 15.0) << run.output;
  expect_one_failure_line(run);
}

TEST(DistLauncher, HungRankEndsInTimeoutNotAHang) {
  const WorkerRun run = run_worker("--nproc 2 --steps 3 --hang-rank 1 --fault-step 1 --timeout-ms 1500");
  EXPECT_NE(run.exit_code, 0) << run.output;
  // The hung rank is named, not the rank whose collective timed out first.
  EXPECT_NE(run.output.find("rank 1 stopped responding during backward of step 1"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("stopped ranks 0"), std::string::npos) << run.output;
  EXPECT_LT(run.seconds, 15.0) << run.output;
  expect_one_failure_line(run);
}

}  // namespace
