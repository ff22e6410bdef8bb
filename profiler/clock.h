#pragma once
// Wall time through a small interface so tests control it (style.md rule 5).
#include <chrono>

namespace zeroplan::profiler {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual double now_s() const = 0;  // monotonic seconds from an arbitrary origin
};

class SteadyClock final : public Clock {
 public:
  double now_s() const override {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
};

// Advances only when told (tests).
class ManualClock final : public Clock {
 public:
  double now_s() const override { return now_s_; }
  void advance_s(double seconds) { now_s_ += seconds; }

 private:
  double now_s_ = 0;
};

}  // namespace zeroplan::profiler
