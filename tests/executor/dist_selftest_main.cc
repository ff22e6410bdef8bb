// Test helper: `dist_selftest_worker --nproc N [--steps K] [--timeout-ms T] [--kill-rank R]
// [--throw-rank R] [--hang-rank R] [--fault-step S]`. Without RANK in the environment it is the
// launcher (launch_local_ranks of itself, prints the failure line, returns its exit code); with
// RANK set (by the launcher, or torchrun) it is one rank of run_selftest_rank.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>

#include "executor/dist/launcher.h"
#include "executor/dist/rank_env.h"
#include "executor/dist/selftest.h"

using namespace zeroplan::executor::dist;

int main(int argc, char** argv) {
  SelftestOptions selftest;
  LaunchOptions launch;
  launch.master_port = 0;
  launch.timeout = std::chrono::milliseconds(10000);
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int value = std::atoi(argv[i + 1]);
    if (flag == "--nproc") launch.nproc_per_node = value;
    else if (flag == "--steps") selftest.steps = value;
    else if (flag == "--timeout-ms") launch.timeout = std::chrono::milliseconds(value);
    else if (flag == "--kill-rank") selftest.kill_rank = value;
    else if (flag == "--throw-rank") selftest.throw_rank = value;
    else if (flag == "--hang-rank") selftest.hang_rank = value;
    else if (flag == "--fault-step") selftest.fault_step = value;
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  try {
    if (const auto env = rank_env_from_environment()) {
      try {
        return run_selftest_rank(*env, selftest, std::cout);
      } catch (const std::exception&) {
        if (env->source == "zeroplan") return 1;  // the launcher's line reports it
        throw;
      }
    }
    for (int i = 1; i < argc; ++i) launch.args.emplace_back(argv[i]);
    const LaunchResult result = launch_local_ranks(launch);
    if (!result.failure.empty()) std::fprintf(stderr, "zeroplan: %s\n", result.failure.c_str());
    return result.exit_code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "selftest: %s\n", e.what());
    return 3;
  }
}
