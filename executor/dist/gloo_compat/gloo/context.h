#pragma once
// zeroplan gloo_compat (see ../README.md): held through shared_ptr only. setTimeout is named by
// c10d's inline ProcessGroupGloo::setTimeout, which zeroplan never calls (it sets the timeout
// through ProcessGroupGloo::Options before construction).
#include <chrono>

namespace gloo {
class Context {
 public:
  void setTimeout(std::chrono::milliseconds timeout);
};
}  // namespace gloo
