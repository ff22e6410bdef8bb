#pragma once
// `zeroplan run`, step 3 of 3: what a run prints and leaves in its run directory.
//   rank 0 prints the summary line (stdout), one progress line per step (stderr) and the final line;
//   every rank writes RUN_DIR/measured_rank{r}.json; after a barrier rank 0 joins them into
//   RUN_DIR/measured.json and the per-rank traces (trace_rank{r}.json) into RUN_DIR/trace.json.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "executor/train/run_setup.h"

namespace zeroplan::profiler {
class Profiler;
}

namespace zeroplan::executor {

struct RunShape {
  int world = 1;
  std::string backend;            // "gloo" / "nccl"; empty for one process
  std::int64_t num_parameters = 0;
  std::int64_t resumed_step = -1;  // >= 0 when resumed
};

// "tiny (25.24 M params, fp32) | data: 219 examples ... | micro-batch 2 x grad-accum 2 x 2 ranks = 8 ..."
std::string run_summary_line(const RunOptions& o, const RunInputs& in, const RunShape& shape);

// "trace_rank{r}.json" (world > 1) or "trace.json" (one process).
std::string rank_trace_file_name(int rank, int world);

// This rank's part: measured_rank{r}.json and its trace.
void write_rank_outputs(profiler::Profiler& prof, const std::string& out_dir, int rank, int world);

// Rank 0, after every rank wrote its part (ranks of other nodes: copied here from the store):
// measured.json (all ranks) and trace.json merged from the traces present in out_dir.
void merge_run_outputs(const std::string& out_dir, int world, const nlohmann::json& config);

}  // namespace zeroplan::executor
