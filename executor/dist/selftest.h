#pragma once
// A distributed self-test that exercises the real stack: launcher -> env -> TCPStore rendezvous ->
// Gloo communicator -> status channel. Each rank runs `steps` simulated ZeRO-2 steps:
//   "forward":        broadcast from rank 0
//   "backward":       reduce_scatter of a gradient-like buffer
//   "optimizer step": all_gather of the updated partition + all_reduce(max) of an overflow flag
// and checks every result against the closed form. Fault injection for the failure tests:
// kill_rank SIGKILLs itself in "backward" of kill_step; throw_rank throws there; hang_rank sleeps
// there forever (the others must time out).
#include <cstdint>
#include <iosfwd>

#include "executor/dist/rank_env.h"

namespace zeroplan::executor::dist {

struct SelftestOptions {
  int steps = 5;
  int64_t numel_per_rank = 4099;
  int kill_rank = -1;
  int throw_rank = -1;
  int hang_rank = -1;
  int fault_step = 2;
};

// Rank side. Returns 0 when every check passed; 1 on a wrong result. Communication failures and
// injected faults throw (after recording themselves in the status channel).
int run_selftest_rank(const RankEnv& env, const SelftestOptions& options, std::ostream& log);

}  // namespace zeroplan::executor::dist
