#pragma once
// The planner's StepTimeModel backed by the simulator. Topology and collective costs are built once per
// (cluster, dp) and module costs once per (model, seq_len, persistence threshold), then cached: a
// candidate costs one schedule walk (tens of microseconds for an 80-layer model).
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "planner/step_time_model.h"
#include "simulator/hardware_profile.h"
#include "simulator/step_simulator.h"

namespace zeroplan::sim {

class SimulatedStepTimeModel final : public StepTimeModel {
 public:
  explicit SimulatedStepTimeModel(SimulationOptions options = {}, std::shared_ptr<const HardwareProfile> profile = nullptr);
  StepTimeEstimate estimate(const PlanContext& context, const Candidate& candidate) const override;
  const char* name() const override { return "simulator"; }

  // The full result (phases, collectives, trace when options.trace), using the same caches.
  SimulationResult simulate(const PlanContext& context, const Candidate& candidate, bool trace = false) const;

 private:
  const ClusterModel& cluster_model(const ClusterSpec& cluster, int dp) const;
  const ModuleCosts& modules(const PlanContext& context, std::uint64_t threshold) const;

  SimulationOptions options_;
  std::shared_ptr<const HardwareProfile> profile_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, std::unique_ptr<ClusterModel>> clusters_;
  mutable std::map<std::string, std::unique_ptr<ModuleCosts>> modules_;
};

}  // namespace zeroplan::sim
