#pragma once
// Live bytes and their running maximum: the replay the activation timelines are written in
// (activation_timeline.cc, executor_activations.cc).
#include <algorithm>
#include <cstdint>

#include "planner/error.h"

namespace zeroplan {

struct Live {
  std::uint64_t cur = 0;
  std::uint64_t peak = 0;
  void alloc(std::uint64_t b) {
    cur += b;
    peak = std::max(peak, cur);
  }
  void free(std::uint64_t b) {
    ZP_ASSERT(b <= cur, "activation timeline frees more than it allocated");
    cur -= b;
  }
  void reset_peak() { peak = cur; }
};

}  // namespace zeroplan
