#include "profiler/memory_category.h"

namespace zeroplan::profiler {

std::string_view category_name(Category category) {
  switch (category) {
    case Category::kParams: return "params";
    case Category::kGradients: return "gradients";
    case Category::kOptimizerStates: return "optimizer_states";
    case Category::kActivations: return "activations";
    case Category::kBuffers: return "buffers";
    case Category::kComm: return "comm";
    case Category::kOther: return "other";
  }
  return "other";
}

std::string_view phase_name(Phase phase) {
  switch (phase) {
    case Phase::kSetup: return "setup";
    case Phase::kForward: return "forward";
    case Phase::kBackward: return "backward";
    case Phase::kReduce: return "reduce";
    case Phase::kOptimizerStep: return "optimizer_step";
  }
  return "setup";
}

}  // namespace zeroplan::profiler
