#pragma once
// DeepSpeed's fp16 DynamicLossScaler (deepspeed/runtime/fp16/loss_scaler.py; reference/deepspeed.md
// section 7), and the static/no-op cases. Pure C++: no LibTorch.
//
// update(overflow) is called once per optimizer step (gradient-accumulation boundary):
//   overflow:  if hysteresis == 1 or cur_hysteresis == 1: halve the scale (error at min_scale),
//              else cur_hysteresis -= 1 (scale unchanged); last_overflow_iter = cur_iter.
//   clean:     if consecutive_hysteresis: refill cur_hysteresis. stable = cur_iter - last_overflow_iter - 1;
//              if stable > 0 and stable % window == 0: double the scale (and refill cur_hysteresis
//              when not consecutive).
//   cur_iter += 1 always.
#include <cstdint>

namespace zeroplan::executor {

struct LossScalerOptions {
  bool dynamic = true;            // false: a static scale (1.0 = no scaling, bf16/fp32)
  double initial_scale = 65536.0;  // 2^initial_scale_power (16)
  std::int64_t window = 1000;      // loss_scale_window
  std::int64_t hysteresis = 2;     // delayed_shift
  bool consecutive_hysteresis = false;
  double min_scale = 1.0;          // min_loss_scale
  double scale_factor = 2.0;
};

struct LossScalerState {
  double cur_scale = 65536.0;
  std::int64_t cur_iter = 0;
  std::int64_t last_overflow_iter = -1;
  std::int64_t cur_hysteresis = 2;
};

class LossScaler {
 public:
  explicit LossScaler(const LossScalerOptions& options);
  static LossScaler none() {
    LossScalerOptions o;
    o.dynamic = false;
    o.initial_scale = 1.0;
    return LossScaler(o);
  }

  double scale() const { return state_.cur_scale; }
  // Returns true when the step must be skipped (overflow). Throws InputError when the scale is already
  // at min_scale and overflows again (DeepSpeed: "Current loss scale already at minimum").
  bool update(bool overflow);

  const LossScalerOptions& options() const { return options_; }
  const LossScalerState& state() const { return state_; }
  void set_state(const LossScalerState& s) { state_ = s; }

 private:
  LossScalerOptions options_;
  LossScalerState state_;
};

}  // namespace zeroplan::executor
