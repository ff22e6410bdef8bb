// DeepSpeed LR schedules and the fp16 dynamic loss scaler, against hand-computed values
// (deepspeed/runtime/lr_schedules.py, deepspeed/runtime/fp16/loss_scaler.py).
#include <gtest/gtest.h>

#include "executor/train/loss_scaler.h"
#include "executor/train/lr_schedule.h"
#include "planner/error.h"

namespace zeroplan::executor {
namespace {

LrScheduleOptions warmup(LrScheduleKind kind, WarmupType type) {
  LrScheduleOptions o;
  o.kind = kind;
  o.lr = 0.001;
  o.warmup_num_steps = 10;
  o.warmup_type = type;
  o.total_num_steps = 20;
  return o;
}

LossScalerOptions scaler(double initial, std::int64_t window, std::int64_t hysteresis, bool consecutive = false) {
  LossScalerOptions o;
  o.initial_scale = initial;
  o.window = window;
  o.hysteresis = hysteresis;
  o.consecutive_hysteresis = consecutive;
  return o;
}

TEST(LrSchedule, ConstantIgnoresIterations) {
  LrScheduleOptions o;
  o.lr = 3e-4;
  LrSchedule s(o);
  EXPECT_EQ(s.lr_at(-1), 3e-4);
  EXPECT_EQ(s.lr_at(1000), 3e-4);
}

TEST(LrSchedule, WarmupLogMatchesDeepSpeed) {
  LrSchedule s(warmup(LrScheduleKind::kWarmupLR, WarmupType::kLog));
  EXPECT_EQ(s.lr_at(-1), 0.0);  // before the first scheduler.step(): warmup_min_lr
  EXPECT_EQ(s.lr_at(0), 0.0);   // log(1) = 0
  EXPECT_DOUBLE_EQ(s.lr_at(1), 0.0003010299956639812);  // 1e-3 * ln 2 / ln 10
  EXPECT_DOUBLE_EQ(s.lr_at(9), 0.001);
  EXPECT_EQ(s.lr_at(10), 0.001);
  EXPECT_EQ(s.lr_at(500), 0.001);
}

TEST(LrSchedule, WarmupLinearAndMinimumOfTwoWarmupSteps) {
  LrSchedule s(warmup(LrScheduleKind::kWarmupLR, WarmupType::kLinear));
  EXPECT_DOUBLE_EQ(s.lr_at(5), 0.0005);
  auto o = warmup(LrScheduleKind::kWarmupLR, WarmupType::kLinear);
  o.warmup_num_steps = 1;  // DeepSpeed: max(2, warmup_num_steps)
  LrSchedule two(o);
  EXPECT_DOUBLE_EQ(two.lr_at(1), 0.0005);
  EXPECT_EQ(two.lr_at(2), 0.001);
}

TEST(LrSchedule, WarmupDecayIsLinearToZeroAtTotal) {
  auto o = warmup(LrScheduleKind::kWarmupDecayLR, WarmupType::kLinear);
  LrSchedule s(o);
  EXPECT_DOUBLE_EQ(s.lr_at(10), 0.001);  // (20 - 10) / (20 - 10)
  EXPECT_DOUBLE_EQ(s.lr_at(15), 0.0005);
  EXPECT_EQ(s.lr_at(20), 0.0);
  EXPECT_EQ(s.lr_at(25), 0.0);  // max(0, ...)
  o.warmup_min_lr = 1e-5;
  LrSchedule m(o);
  EXPECT_EQ(m.lr_at(-1), 1e-5);
  EXPECT_DOUBLE_EQ(m.lr_at(15), 0.000505);  // min + (max - min) * 0.5
}

TEST(LrSchedule, WarmupCosineMatchesDeepSpeed) {
  auto o = warmup(LrScheduleKind::kWarmupCosineLR, WarmupType::kLinear);
  LrSchedule s(o);
  EXPECT_EQ(s.lr_at(-1), 0.0);  // DeepSpeed's constructor writes lr 0 before the first step
  EXPECT_DOUBLE_EQ(s.lr_at(5), 0.0005);
  EXPECT_DOUBLE_EQ(s.lr_at(10), 0.0009755307053217621);  // real_last_step 1 of 10
  EXPECT_DOUBLE_EQ(s.lr_at(14), 0.00050005);              // cos(pi/2): the midpoint
  EXPECT_DOUBLE_EQ(s.lr_at(19), 0.001 * 0.0001);          // cos_min_ratio at the end
  o.warmup_type = WarmupType::kLog;
  o.warmup_min_ratio = 0.1;
  LrSchedule l(o);
  EXPECT_DOUBLE_EQ(l.lr_at(3), 0.000641853992195166);  // 1e-3 * (0.1 + 0.9 * ln 4 / ln 10)
}

TEST(LrSchedule, StepAdvancesFromMinusOne) {
  LrSchedule s(warmup(LrScheduleKind::kWarmupLR, WarmupType::kLinear));
  EXPECT_EQ(s.last_batch_iteration(), -1);
  EXPECT_EQ(s.current_lr(), 0.0);
  s.step();
  s.step();
  s.step();
  EXPECT_DOUBLE_EQ(s.current_lr(), 0.0002);  // iteration 2 of 10
}

TEST(LrSchedule, BadInputIsAnInputError) {
  EXPECT_THROW(parse_lr_schedule_kind("cosine"), InputError);
  EXPECT_THROW(parse_warmup_type("exp"), InputError);
  auto o = warmup(LrScheduleKind::kWarmupDecayLR, WarmupType::kLog);
  o.total_num_steps = 0;
  EXPECT_THROW(LrSchedule{o}, InputError);
  EXPECT_EQ(parse_lr_schedule_kind("WarmupCosineLR"), LrScheduleKind::kWarmupCosineLR);
}

TEST(LossScaler, FirstOverflowUsesHysteresisThenHalves) {
  LossScaler s(LossScalerOptions{});
  EXPECT_EQ(s.scale(), 65536.0);
  EXPECT_TRUE(s.update(true));  // skipped, hysteresis 2 -> 1, scale unchanged
  EXPECT_EQ(s.scale(), 65536.0);
  EXPECT_EQ(s.state().cur_hysteresis, 1);
  EXPECT_TRUE(s.update(true));
  EXPECT_EQ(s.scale(), 32768.0);
  EXPECT_TRUE(s.update(true));  // hysteresis is not refilled by overflows
  EXPECT_EQ(s.scale(), 16384.0);
  EXPECT_FALSE(s.update(false));
  EXPECT_EQ(s.scale(), 16384.0);
  EXPECT_EQ(s.state().last_overflow_iter, 2);
  EXPECT_EQ(s.state().cur_iter, 4);
}

TEST(LossScaler, GrowsAfterWindowCleanStepsAndRefillsHysteresis) {
  LossScaler s(scaler(8.0, 3, 2));
  // stable = cur_iter - last_overflow_iter - 1 = cur_iter; doubles when stable % 3 == 0 and > 0.
  s.update(false);  // iter 0
  s.update(false);  // 1
  s.update(false);  // 2
  EXPECT_EQ(s.scale(), 8.0);
  s.update(false);  // 3 -> stable 3
  EXPECT_EQ(s.scale(), 16.0);
  s.update(true);   // iter 4: hysteresis 2 -> 1, last_overflow_iter 4
  EXPECT_EQ(s.scale(), 16.0);
  s.update(false);  // 5: stable 0
  s.update(false);  // 6: 1
  s.update(false);  // 7: 2
  EXPECT_EQ(s.scale(), 16.0);
  EXPECT_EQ(s.state().cur_hysteresis, 1);
  s.update(false);  // 8: stable 3 -> double, hysteresis refilled
  EXPECT_EQ(s.scale(), 32.0);
  EXPECT_EQ(s.state().cur_hysteresis, 2);
}

TEST(LossScaler, MinimumScaleIsAFloorThenAnError) {
  LossScaler s(scaler(3.0, 1000, 1));
  s.update(true);
  EXPECT_EQ(s.scale(), 1.5);
  s.update(true);
  EXPECT_EQ(s.scale(), 1.0);  // max(0.75, 1)
  EXPECT_THROW(s.update(true), InputError);
}

TEST(LossScaler, ConsecutiveHysteresisRefillsOnEveryCleanStep) {
  LossScaler s(scaler(65536.0, 1000, 2, true));
  s.update(true);
  EXPECT_EQ(s.state().cur_hysteresis, 1);
  s.update(false);
  EXPECT_EQ(s.state().cur_hysteresis, 2);
  s.update(true);
  EXPECT_EQ(s.scale(), 65536.0);  // the refill absorbed it
}

TEST(LossScaler, StaticScalerNeverMovesButStillReportsOverflow) {
  LossScaler s = LossScaler::none();
  EXPECT_TRUE(s.update(true));
  EXPECT_FALSE(s.update(false));
  EXPECT_EQ(s.scale(), 1.0);
}

}  // namespace
}  // namespace zeroplan::executor
