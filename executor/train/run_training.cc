// `zeroplan run`: which role this process plays (run_training.h).
#include "executor/train/run_training.h"

#include "executor/dist/rank_env.h"
#include "executor/train/run_launch.h"
#include "executor/train/run_rank.h"
#include "planner/error.h"

namespace zeroplan::executor {

int run_training(const RunOptions& options) {
  const RunLaunchOptions& l = options.launch;
  const auto env = dist::rank_env_from_environment();
  if (env) {
    // One rank of a job: launched by us (the same arguments come back), torchrun or srun.
    if (l.nproc_per_node > 0 && env->source != "zeroplan")
      throw InputError("--nproc-per-node: this process is already rank " + std::to_string(env->rank) + " of a " +
                       env->source + " job (RANK/WORLD_SIZE are set); drop the flag or the launcher");
    return run_this_process(options, env);
  }
  if (l.nproc_per_node == 0 && (l.nnodes != 1 || l.node_rank != 0))
    throw InputError("--nnodes/--node-rank go with --nproc-per-node N");
  if (l.nproc_per_node > 0 && l.nproc_per_node * l.nnodes > 1) return launch_run(options);
  return run_this_process(options, std::nullopt);
}

}  // namespace zeroplan::executor
