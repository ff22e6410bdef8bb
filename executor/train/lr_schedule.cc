#include "executor/train/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "planner/error.h"

namespace zeroplan::executor {

LrScheduleKind parse_lr_schedule_kind(const std::string& name) {
  if (name == "none" || name == "constant") return LrScheduleKind::kConstant;
  if (name == "WarmupLR") return LrScheduleKind::kWarmupLR;
  if (name == "WarmupDecayLR") return LrScheduleKind::kWarmupDecayLR;
  if (name == "WarmupCosineLR") return LrScheduleKind::kWarmupCosineLR;
  throw InputError("--lr-scheduler: unknown scheduler '" + name +
                   "' (expected none, WarmupLR, WarmupDecayLR or WarmupCosineLR)");
}

WarmupType parse_warmup_type(const std::string& name) {
  if (name == "log") return WarmupType::kLog;
  if (name == "linear") return WarmupType::kLinear;
  throw InputError("--warmup-type: unknown warmup type '" + name + "' (expected log or linear)");
}

const char* lr_schedule_kind_name(LrScheduleKind kind) {
  switch (kind) {
    case LrScheduleKind::kConstant: return "none";
    case LrScheduleKind::kWarmupLR: return "WarmupLR";
    case LrScheduleKind::kWarmupDecayLR: return "WarmupDecayLR";
    case LrScheduleKind::kWarmupCosineLR: return "WarmupCosineLR";
  }
  return "?";
}

LrSchedule::LrSchedule(const LrScheduleOptions& options)
    : options_(options), warmup_steps_(std::max<std::int64_t>(2, options.warmup_num_steps)) {
  const bool needs_total = options.kind == LrScheduleKind::kWarmupDecayLR ||
                           options.kind == LrScheduleKind::kWarmupCosineLR;
  if (needs_total && options.total_num_steps <= 0)
    throw InputError(std::string(lr_schedule_kind_name(options.kind)) +
                     " needs total_num_steps > 0 (give --steps or --epochs)");
  if (options.kind == LrScheduleKind::kWarmupCosineLR && options.total_num_steps <= warmup_steps_)
    // DeepSpeed divides by (total - warmup) in the cosine phase.
    throw InputError("WarmupCosineLR needs total steps > warmup steps (got " +
                     std::to_string(options.total_num_steps) + " <= " + std::to_string(warmup_steps_) + ")");
}

// DeepSpeed _get_gamma during warmup (iteration < warmup_num_steps):
//   log:    log(it + 1) / log(warmup_num_steps)
//   linear: it / warmup_num_steps
double LrSchedule::warmup_gamma(std::int64_t it) const {
  if (options_.warmup_type == WarmupType::kLog)
    return (1.0 / std::log(static_cast<double>(warmup_steps_))) * std::log(static_cast<double>(it + 1));
  return static_cast<double>(it) / static_cast<double>(warmup_steps_);
}

double LrSchedule::lr_at(std::int64_t it) const {
  const auto& o = options_;
  switch (o.kind) {
    case LrScheduleKind::kConstant:
      return o.lr;
    case LrScheduleKind::kWarmupLR:
    case LrScheduleKind::kWarmupDecayLR: {
      // get_lr(): min_lr + delta_lr * gamma; before the first step (it < 0) it returns min_lr.
      if (it < 0) return o.warmup_min_lr;
      const double delta = o.lr - o.warmup_min_lr;
      double gamma = 1.0;
      if (it < warmup_steps_) {
        gamma = warmup_gamma(it);
      } else if (o.kind == LrScheduleKind::kWarmupDecayLR) {
        // Linear decay: max(0, (total - it) / max(1, total - warmup)).
        gamma = std::max(0.0, static_cast<double>(o.total_num_steps - it) /
                                  std::max(1.0, static_cast<double>(o.total_num_steps - warmup_steps_)));
      }
      return o.warmup_min_lr + delta * gamma;
    }
    case LrScheduleKind::kWarmupCosineLR: {
      // get_lr(): org_lr * ratio; before the first step (it < 0) DeepSpeed returns 0.
      if (it < 0) return 0.0;
      double ratio;
      if (it < warmup_steps_) {
        ratio = o.warmup_min_ratio + warmup_gamma(it) * (1.0 - o.warmup_min_ratio);
      } else {
        // real_last_step = it - warmup + 1; real_total = total - warmup;
        // ratio = max(0, cos_min + (1 - cos_min) * (1 + cos(pi * real_last / real_total)) / 2)
        const double real_last_step = static_cast<double>(it - warmup_steps_ + 1);
        const double real_total_steps = static_cast<double>(o.total_num_steps - warmup_steps_);
        const double c = (1.0 + std::cos(std::numbers::pi * real_last_step / real_total_steps)) / 2.0;
        ratio = std::max(0.0, o.cos_min_ratio + (1.0 - o.cos_min_ratio) * c);
      }
      return o.lr * ratio;
    }
  }
  return o.lr;
}

}  // namespace zeroplan::executor
