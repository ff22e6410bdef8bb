#pragma once
// Local launcher: `zeroplan run --nproc-per-node N [--nnodes M --node-rank R --master-addr A
// --master-port P]` calls launch_local_ranks(), which
//  1. hosts the job's TCPStore on node 0 (other nodes' launchers connect to it), so the status
//     channel outlives any rank;
//  2. fork/execs `program args...` once per local rank with RANK, WORLD_SIZE, LOCAL_RANK,
//     LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, TORCHELASTIC_USE_AGENT_STORE=True,
//     ZEROPLAN_LAUNCHER=1 and ZEROPLAN_TIMEOUT_MS set (rank_env.h reads them back; the same
//     variables come from torchrun, so a binary that calls rank_env_from_environment() runs under
//     either);
//  3. watches the ranks: when one exits abnormally (signal or non-zero code), or another node's
//     launcher writes the abort key, it writes zeroplan/abort, gives the others `grace` to exit on
//     their own, then SIGTERM, then SIGKILL. It never waits on a rank without a deadline.
// The message names the root cause from the status channel (status_channel.h):
//   "rank 2 exited (signal 9) during backward of step 17; stopped ranks 0,1,3 (within 1.2 s)"
// Children get PR_SET_PDEATHSIG(SIGKILL): if the launcher dies, its ranks die with it.
#include <chrono>
#include <string>
#include <vector>

namespace zeroplan::executor::dist {

struct LaunchOptions {
  int nproc_per_node = 1;
  int nnodes = 1;
  int node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;  // 0: pick a free port (single node only)
  std::chrono::milliseconds timeout{30000};  // collective timeout handed to every rank
  std::chrono::milliseconds grace{1000};     // after a failure, before SIGTERM (then 2 s to SIGKILL)
  std::string program;                       // executable of each rank; empty = this binary
  std::vector<std::string> args;             // its arguments (argv[1..])
};

struct RankOutcome {
  int rank = -1;
  int exit_code = 0;   // when exited normally
  int signal = 0;      // when killed by a signal (0 otherwise)
  bool stopped_by_launcher = false;
};

struct LaunchResult {
  int exit_code = 0;     // 0 when every rank exited 0; else the failing rank's code, or 1
  std::string failure;   // one line (empty on success)
  std::vector<RankOutcome> ranks;  // local ranks, by global rank
};

// Throws InputError on inconsistent options (named by their CLI flag); everything that goes wrong
// at run time is reported in the result, never thrown.
LaunchResult launch_local_ranks(const LaunchOptions& options);

// Validates options (InputError naming the flag).
void check_launch_options(const LaunchOptions& options);

// The path of the running executable (/proc/self/exe).
std::string current_executable();
// This process's arguments without argv[0] (/proc/self/cmdline): a launcher re-executes them.
std::vector<std::string> current_arguments();

}  // namespace zeroplan::executor::dist
