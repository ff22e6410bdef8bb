#pragma once
// `zeroplan run`, step 2 of 3: train on this process -- the whole job (one process) or one rank
// of it (launched by `zeroplan run --nproc-per-node`, torchrun or srun; `env` says which).
//   one process, stage 0, no offload: SingleProcessEngine (executor/train/single_process_engine.h)
//   one process otherwise: make_zero_engine over a one-rank in-process communicator
//   a rank: TCPStore rendezvous + Gloo communicator (executor/dist/rendezvous.h) and
//           make_zero_engine; its sampler takes samples r, r + world, ...; its phases go to the
//           status channel so that a failure report names what it was doing.
#include <optional>

#include "executor/dist/rank_env.h"
#include "executor/train/run_training.h"

namespace zeroplan::executor {

// Returns the process exit code. Without `env`: InputError for bad input. With `env`: failures are
// recorded on the status channel; under zeroplan's own launcher the rank then exits quietly (the
// launcher prints the one line for the job), under torchrun/srun it prints "zeroplan: rank R: ...".
int run_this_process(const RunOptions& options, const std::optional<dist::RankEnv>& env);

}  // namespace zeroplan::executor
