#pragma once
// What the training loop reports per optimizer step: one JSON object per line in
// RUN_DIR/metrics.jsonl and a progress line on stderr. Pure C++.
#include <cstdint>
#include <cstdio>
#include <string>

namespace zeroplan::executor {

struct StepRecord {
  std::int64_t step = 0;          // 1-based optimizer step (skipped steps count, as DeepSpeed's global_steps)
  double loss = 0.0;              // sum of token losses / label tokens of the whole global batch
  double lr = 0.0;                // the LR this step used
  double grad_norm = 0.0;         // global L2 norm of the unscaled gradients before clipping
  double loss_scale = 1.0;
  std::int64_t tokens = 0;        // non-padding tokens of the global batch
  std::int64_t label_tokens = 0;  // tokens that carried a label (the loss normaliser)
  double step_time_s = 0.0;
  double tokens_per_s = 0.0;
  bool skipped = false;           // overflow: no update
  std::int64_t epoch = 0;         // data position after the step
};

struct ProcessMemory {
  std::int64_t rss_bytes = 0;       // VmRSS
  std::int64_t peak_rss_bytes = 0;  // VmHWM
};
ProcessMemory read_process_memory();  // zeros where /proc is unavailable

// {"step","loss","lr","grad_norm","loss_scale","tokens","tokens_per_s","step_time_s",
//  "label_tokens","skipped","epoch"}
std::string step_record_json(const StepRecord& r);

// "step  12/50 | loss 3.9120 | lr 2.40e-04 | gnorm 1.23 | 412 tok/s | 0.52 s | rss 1.9 GiB peak 2.1 GiB"
std::string progress_line(const StepRecord& r, std::int64_t total_steps, const ProcessMemory& m);

// Appends lines to RUN_DIR/metrics.jsonl, flushed per line (a crash loses at most the current step).
class MetricsLog {
 public:
  MetricsLog(const std::string& path, bool append);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  void write(const StepRecord& r);

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace zeroplan::executor
