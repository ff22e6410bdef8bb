#pragma once
// The plan the compare fixtures (tests/fixtures/compare/run_*/measured.json) were measured against,
// built from the planner's Plan struct so that its JSON always follows the current
// zeroplan.plan/v1 writer. Hand-made numbers:
//   candidate #1 (the best): stage 2, dp 2, mbs 2, gas 2, no checkpointing;
//     params 1 MiB, gradients 512 KiB, optimizer 1 MiB, activations 4 MiB, buffers 2 MiB,
//     overhead 0 -> total 8,912,896 B; step 0.5 s (compute 0.35, comm 0.1, optimizer 0.05)
//   candidate #2: the same at stage 1 (gradients 1 MiB) -> total 9,437,184 B; step 0.45 s.
#include <fstream>
#include <string>

#include "planner/hardware_spec.h"
#include "planner/model_spec.h"
#include "planner/plan.h"
#include "planner/plan_json.h"

namespace zeroplan::reports::testing {

inline Plan fixture_plan() {
  const std::string configs = std::string(ZEROPLAN_SOURCE_DIR) + "/configs";
  Plan plan;
  plan.context.model = load_model_spec("tiny-test", configs);
  plan.context.cluster = load_cluster_spec("1x2-a10-24gb", configs);
  plan.context.training.seq_len = 64;
  plan.context.training.global_batch = 8;
  plan.context.training.precision = Precision::kFp32;
  plan.context.training.activation_checkpointing = Toggle::kOff;
  plan.step_time_model = "roofline";
  plan.usable_gpu_bytes = 20000000000ull;
  plan.usable_cpu_bytes = 100000000000ull;

  EvaluatedCandidate best;
  Candidate& c = best.candidate;
  c.zero_stage = 2;
  c.micro_batch = 2;
  c.grad_accum = 2;
  c.dp = 2;
  c.overlap_comm = true;
  best.memory.gpu = GpuMemory{1048576, 524288, 1048576, 4194304, 2097152, 0};
  best.fits_gpu = best.fits_cpu = true;
  best.step.compute_s = 0.35;
  best.step.comm_exposed_s = 0.1;
  best.step.optimizer_s = 0.05;
  best.step.total_s = 0.5;
  best.step.tokens_per_s = 8 * 64 / 0.5;

  EvaluatedCandidate second = best;
  second.candidate.zero_stage = 1;
  second.memory.gpu.gradients = 1048576;
  second.step.total_s = 0.45;
  second.step.tokens_per_s = 8 * 64 / 0.45;

  plan.best = best;
  plan.candidates = {best, second};
  plan.evaluated_count = 2;
  plan.fitting_count = 2;
  return plan;
}

// Writes fixture_plan() as plan.json into `dir`; returns its path.
inline std::string write_fixture_plan(const std::string& dir) {
  std::string path = dir + "/plan.json";
  std::ofstream(path) << write_plan_json(fixture_plan());
  return path;
}

}  // namespace zeroplan::reports::testing
