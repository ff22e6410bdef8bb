#pragma once
// The step-time models the CLI can inject into the planner's search (`--step-model NAME`).
// The simulator (simulator/) is the default: the planner ranks candidates with it (issue 3). The
// roofline (planner/) stays selectable: it is simpler, and needs no topology.
#include <memory>
#include <string>
#include <vector>

#include "planner/step_time_model.h"

namespace zeroplan::cli {

inline constexpr const char* kDefaultStepTimeModel = "simulator";

std::vector<std::string> step_time_model_names();
// InputError naming --step-model for an unknown name. `hardware_profile` (a zeroplan.hardware_profile/v1
// file, "" = none) feeds the simulator's figures; the roofline does not read one, so giving it with
// --step-model roofline is an InputError rather than silently ignored.
std::unique_ptr<StepTimeModel> make_step_time_model(const std::string& name, const std::string& hardware_profile = "");

}  // namespace zeroplan::cli
