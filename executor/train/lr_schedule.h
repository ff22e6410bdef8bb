#pragma once
// DeepSpeed's learning-rate schedulers (deepspeed/runtime/lr_schedules.py), reproduced exactly:
// WarmupLR, WarmupDecayLR, WarmupCosineLR, plus "none" (a constant LR, DeepSpeed without a
// "scheduler" section). Pure C++: no LibTorch.
//
// DeepSpeed's timeline, mirrored here: the scheduler starts at last_batch_iteration = -1 and its
// constructor already writes get_lr() into the optimizer, so the FIRST optimizer step runs with the
// LR of iteration -1 (warmup_min_lr for WarmupLR/WarmupDecayLR, 0 for WarmupCosineLR). The engine
// calls scheduler.step() after every optimizer step that was not skipped for overflow, which moves
// last_batch_iteration to 0, 1, ... So optimizer step k (0-based, counting applied steps) uses
// lr_at(k - 1).
#include <cstdint>
#include <string>

namespace zeroplan::executor {

enum class LrScheduleKind { kConstant, kWarmupLR, kWarmupDecayLR, kWarmupCosineLR };
enum class WarmupType { kLog, kLinear };

struct LrScheduleOptions {
  LrScheduleKind kind = LrScheduleKind::kConstant;
  double lr = 1e-4;              // the optimizer's lr: warmup_max_lr (WarmupLR/DecayLR), org_lr (Cosine)
  double warmup_min_lr = 0.0;    // WarmupLR/WarmupDecayLR
  std::int64_t warmup_num_steps = 1000;  // DeepSpeed clamps it to >= 2
  WarmupType warmup_type = WarmupType::kLog;
  std::int64_t total_num_steps = 0;      // WarmupDecayLR, WarmupCosineLR
  double warmup_min_ratio = 0.0;         // WarmupCosineLR
  double cos_min_ratio = 0.0001;         // WarmupCosineLR
};

// "none" | "WarmupLR" | "WarmupDecayLR" | "WarmupCosineLR" (DeepSpeed's "type" names); InputError otherwise.
LrScheduleKind parse_lr_schedule_kind(const std::string& name);
WarmupType parse_warmup_type(const std::string& name);  // "log" | "linear"
const char* lr_schedule_kind_name(LrScheduleKind kind);

class LrSchedule {
 public:
  explicit LrSchedule(const LrScheduleOptions& options);

  // The LR DeepSpeed's get_lr() returns when last_batch_iteration == iteration (iteration >= -1).
  double lr_at(std::int64_t iteration) const;
  // The LR the next optimizer step uses.
  double current_lr() const { return lr_at(last_batch_iteration_); }
  // After an applied (not skipped) optimizer step.
  void step() { ++last_batch_iteration_; }

  std::int64_t last_batch_iteration() const { return last_batch_iteration_; }
  void set_last_batch_iteration(std::int64_t it) { last_batch_iteration_ = it; }  // resume
  const LrScheduleOptions& options() const { return options_; }

 private:
  double warmup_gamma(std::int64_t iteration) const;  // in [0, 1) during warmup
  LrScheduleOptions options_;
  std::int64_t warmup_steps_;  // max(2, warmup_num_steps)
  std::int64_t last_batch_iteration_ = -1;
};

}  // namespace zeroplan::executor
