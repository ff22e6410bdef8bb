#include "tools/cli/step_time_models.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "planner/error.h"
#include "planner/roofline_step_time.h"
#include "simulator/hardware_profile.h"
#include "simulator/simulated_step_time_model.h"

namespace zeroplan::cli {

std::vector<std::string> step_time_model_names() { return {"simulator", "roofline"}; }

std::unique_ptr<StepTimeModel> make_step_time_model(const std::string& name, const std::string& hardware_profile) {
  if (name == "roofline") {
    if (!hardware_profile.empty()) {
      throw InputError(fmt::format("--hardware-profile {}: only --step-model simulator reads a hardware profile "
                                   "(the roofline uses datasheet figures)",
                                   hardware_profile));
    }
    return std::make_unique<RooflineStepTimeModel>();
  }
  if (name == "simulator") {
    std::shared_ptr<const sim::HardwareProfile> profile;
    if (!hardware_profile.empty()) {
      profile = std::make_shared<sim::HardwareProfile>(sim::load_hardware_profile(hardware_profile));
    }
    return std::make_unique<sim::SimulatedStepTimeModel>(sim::SimulationOptions{}, std::move(profile));
  }
  throw InputError(fmt::format("--step-model: unknown model \"{}\" (known: {})", name,
                               fmt::join(step_time_model_names(), ", ")));
}

}  // namespace zeroplan::cli
