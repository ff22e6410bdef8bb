#pragma once
// `zeroplan export CHECKPOINT_OR_RUN_DIR --out DIR` (DeepSpeed's zero_to_fp32 job): joins every
// rank's fp32 master partitions of a sharded checkpoint (sharded_checkpoint.h) by parameter name
// and offset into whole tensors and writes DIR/model.safetensors (fp32, Hugging Face names) and
// DIR/config.json (the model's config as the run saved it). No model is built and no rank runs.
#include <cstdint>
#include <string>

namespace zeroplan::executor {

struct ExportSummary {
  std::string checkpoint;  // the checkpoint directory that was read
  int world = 0;           // ranks that wrote it
  std::int64_t step = 0;
  std::int64_t tensors = 0;
  std::int64_t parameters = 0;
};

// InputError naming the file on a missing, corrupt or incomplete checkpoint.
ExportSummary export_consolidated(const std::string& checkpoint_or_run_dir, const std::string& out_dir);

}  // namespace zeroplan::executor
