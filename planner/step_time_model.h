#pragma once
// The planner ranks candidates by estimated step time through this interface. planner/ ships a
// roofline (RooflineStepTimeModel); simulator/ implements the topology-aware one.
#include <memory>

#include "planner/candidate.h"
#include "planner/hardware_spec.h"
#include "planner/model_spec.h"
#include "planner/training_spec.h"

namespace zeroplan {

// Everything that stays fixed while the search varies the candidate.
struct PlanContext {
  ModelSpec model;
  ClusterSpec cluster;
  TrainingSpec training;
};

struct StepTimeEstimate {
  double compute_s = 0;
  double comm_exposed_s = 0;
  double offload_s = 0;
  double optimizer_s = 0;
  double total_s = 0;       // one optimizer step (grad_accum micro-steps + the update)
  double tokens_per_s = 0;  // global_batch * seq_len / total_s
};

class StepTimeModel {
 public:
  virtual ~StepTimeModel() = default;
  virtual StepTimeEstimate estimate(const PlanContext& context, const Candidate& candidate) const = 0;
  virtual const char* name() const = 0;
};

}  // namespace zeroplan
