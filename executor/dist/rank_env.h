#pragma once
// Where this process sits in the job, read once from the environment that a launcher sets:
// zeroplan's own (`zeroplan run --nproc-per-node N`, launcher.h), torchrun (RANK, WORLD_SIZE,
// LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, TORCHELASTIC_USE_AGENT_STORE) or srun
// (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_NTASKS_PER_NODE; MASTER_ADDR/MASTER_PORT
// still come from the job script). Pure C++ (no LibTorch).
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace zeroplan::executor::dist {

struct RankEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // True when the launcher hosts the TCPStore (zeroplan's launcher, torchrun's agent): every rank
  // connects as a client. False: rank 0 hosts it.
  bool agent_store = false;
  // Collective timeout requested by the launcher (ZEROPLAN_TIMEOUT_MS), if any.
  std::optional<std::chrono::milliseconds> timeout;
  std::string source;  // "zeroplan", "torchrun", "slurm", "env": for messages
};

// Reads the environment through `getenv` (std::getenv by default; tests pass a map).
// Returns nullopt when no launcher variables are set (a plain single-process run).
// Throws InputError naming the variable when a value is malformed or inconsistent.
using GetEnv = std::function<const char*(const char*)>;
std::optional<RankEnv> rank_env_from_environment(const GetEnv& getenv = {});

// Intra-op threads of one rank: `requested` when > 0 (--threads); otherwise the host's default
// (LibTorch's: its physical cores) shared by the ranks on this host, at least 1. Two ranks of two
// threads each on a 2-core host spin against each other in OpenMP's barriers: one step took 0.74-1.65 s
// where 1 thread per rank takes 0.3 s (tools/validate_machine.sh). torchrun sets OMP_NUM_THREADS=1 for
// the same reason.
int rank_intra_op_threads(int requested, int host_default_threads, int local_world_size);

// The variables a launcher sets for one rank (zeroplan's launcher and tests).
std::vector<std::pair<std::string, std::string>> rank_env_variables(const RankEnv& env);

}  // namespace zeroplan::executor::dist
