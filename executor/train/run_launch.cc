#include "executor/train/run_launch.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "executor/dist/launcher.h"
#include "executor/train/run_setup.h"
#include "planner/error.h"
#include "planner/model_spec.h"

namespace zeroplan::executor {

int launch_run(const RunOptions& options) {
  RunOptions o = options;
  const RunLaunchOptions& l = o.launch;
  const int world = l.nproc_per_node * l.nnodes;
  resolve_run_config(o, world);  // --plan/--ds-config/flags against the job's ranks, before any rank starts
  validate_run_options(o);
  const ModelSpec spec = load_model_spec(o.model_dir.empty() ? o.model_config : o.model_dir, o.configs_dir);

  dist::LaunchOptions launch;
  launch.nproc_per_node = l.nproc_per_node;
  launch.nnodes = l.nnodes;
  launch.node_rank = l.node_rank;
  launch.master_addr = l.master_addr;
  launch.master_port = l.master_port;
  launch.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(l.timeout_s * 1000.0));
  launch.args = dist::current_arguments();
  // Every rank must write into the same run directory: fix the default name once, here.
  if (o.out.empty()) {
    const std::string out = default_out_dir(spec.name);
    launch.args.push_back("--out");
    launch.args.push_back(out);
  }
  const dist::LaunchResult result = dist::launch_local_ranks(launch);
  if (!result.failure.empty()) {
    std::fprintf(stderr, "zeroplan: %s\n", result.failure.c_str());
    return result.exit_code == 0 ? 1 : result.exit_code;
  }
  return 0;
}

}  // namespace zeroplan::executor
