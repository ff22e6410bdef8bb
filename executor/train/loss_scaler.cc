#include "executor/train/loss_scaler.h"

#include <algorithm>
#include <string>

#include "planner/error.h"

namespace zeroplan::executor {

LossScaler::LossScaler(const LossScalerOptions& options) : options_(options) {
  if (options.dynamic && (options.window <= 0 || options.hysteresis <= 0 || options.min_scale <= 0))
    throw InputError("loss scaler: window, hysteresis and min_scale must be positive");
  state_.cur_scale = options.initial_scale;
  state_.cur_hysteresis = options.hysteresis;
}

bool LossScaler::update(bool overflow) {
  if (!options_.dynamic) {
    // A static scaler still skips a step whose gradients are not finite (DeepSpeed bf16
    // check_grad_overflow); the scale never moves.
    ++state_.cur_iter;
    return overflow;
  }
  auto& s = state_;
  if (overflow) {
    if (options_.hysteresis == 1 || s.cur_hysteresis == 1) {
      if (s.cur_scale == options_.min_scale)
        throw InputError("fp16 loss scale already at its minimum (" + std::to_string(options_.min_scale) +
                         ") and the gradients overflow again; the run diverged (try bf16 or a lower --lr)");
      s.cur_scale = std::max(s.cur_scale / options_.scale_factor, options_.min_scale);
    } else {
      s.cur_hysteresis -= 1;
    }
    s.last_overflow_iter = s.cur_iter;
  } else {
    if (options_.consecutive_hysteresis) s.cur_hysteresis = options_.hysteresis;
    const std::int64_t stable = s.cur_iter - s.last_overflow_iter - 1;
    if (stable > 0 && stable % options_.window == 0) {
      s.cur_scale *= options_.scale_factor;
      if (!options_.consecutive_hysteresis) s.cur_hysteresis = options_.hysteresis;
    }
  }
  s.cur_iter += 1;
  return overflow;
}

}  // namespace zeroplan::executor
