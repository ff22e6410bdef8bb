#pragma once
// `zeroplan run --nproc-per-node N [--nnodes M --node-rank R --master-addr A --master-port P]`:
// this process becomes the launcher (executor/dist/launcher.h). It checks the options and resolves
// the run directory first (so bad input is one line before any rank starts), then re-executes this
// binary once per local rank with the same arguments (+ --out RUN_DIR) and the rank variables, and
// prints one line when a rank fails: "zeroplan: rank 2 exited (signal 9) during backward of step 17;
// stopped ranks 0,1,3 (within 1.2 s)".
#include "executor/train/run_training.h"

namespace zeroplan::executor {

int launch_run(const RunOptions& options);

}  // namespace zeroplan::executor
