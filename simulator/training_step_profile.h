#pragma once
// The hardware profile's "training_step" entries (hardware_profile.h): the measured time of one whole
// training micro-step of the executor's model -- forward, fused lm_head + loss, backward, the non-GEMM
// work (norms, RoPE, attention softmax, SiLU, autograd) included -- taken by `zeroplan calibrate
// --probes train` with `ranks` rank processes of one host running it at the same time (so the entry
// already carries the contention of those ranks for the host's cores).
//
//   "training_step": [{"precision": "fp32", "ranks": 2, "model": "tiny-llama-25m", "seq_len": 128,
//                      "micro_batch": 1, "activation_checkpointing": false, "threads": 0,
//                      "forward_backward_s": 0.081, "tokens": 128,
//                      "optimizer_step_s": 0.05, "optimizer_params": 25240000,
//                      "grad_copy_s": 0.019, "grad_accumulate_s": 0.018, "grad_in_step_s": 0.017}]
// (optimizer_step_s and optimizer_params optional, together; the three grad_*_s optional, together, and
// only with optimizer_params, the element count they were timed over).
//
// threads: LibTorch intra-op threads of each rank (0 = LibTorch's default, as `zeroplan run` without
// --threads). The simulator turns an entry into a per-rank FLOP rate: its model FLOPs at the entry's
// shape (module_costs, step_simulator.h) / forward_backward_s; with optimizer_step_s, a rank's optimizer
// step takes optimizer_step_s x (its partition / optimizer_params) (norm and AdamW stream the partition).
// The grad_*_s are the bucketed reduction's memory passes (executor/zero/grad_reducer.h) over
// optimizer_params elements: the copy of the gradients into buckets, the add of a reduced bucket into the
// fp32 accumulator, and the accumulation forward_backward_s already contains (autograd's in-place .grad +=,
// plus the fp32 add for 16-bit) which the reducer does not do. step_simulator.cc scales them per bucket.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "planner/json_fields.h"
#include "planner/training_spec.h"

namespace zeroplan::sim {

struct TrainingStepMeasurement {
  Precision precision = Precision::kFp32;
  int ranks = 1;  // rank processes on the host that ran it at the same time
  std::string model;
  std::int64_t seq_len = 0;
  std::int64_t micro_batch = 0;
  bool activation_checkpointing = false;
  int threads = 0;
  double forward_backward_s = 0;  // one micro-step
  std::int64_t tokens = 0;        // micro_batch x seq_len
  // Optional (both or neither): the engine's optimizer step over `optimizer_params` parameters (gradient
  // norm + AdamW + gradient zeroing), timed with the same ranks at once.
  double optimizer_step_s = 0;
  std::int64_t optimizer_params = 0;
  // Optional (all three or none; 0 = not measured): the reducer's gradient passes over optimizer_params
  // elements (see above).
  double grad_copy_s = 0;
  double grad_accumulate_s = 0;
  double grad_in_step_s = 0;
  bool has_grad_passes() const { return grad_copy_s > 0; }
};

// Reads f's "training_step" list (when present); InputError naming the file and field for unknown keys,
// non-positive numbers, tokens != seq_len x micro_batch, and duplicate entries.
std::vector<TrainingStepMeasurement> parse_training_steps(JsonFields& f);
nlohmann::ordered_json training_steps_to_json(const std::vector<TrainingStepMeasurement>& entries);

// The entry the simulator uses for `precision`, `model` and `ranks_per_host` ranks on a host: same
// precision and model name; the closest ranks count (ties: the smaller); then the closest tokens per
// micro-step to `tokens`; then activation checkpointing as `checkpointing`. nullptr when none matches.
const TrainingStepMeasurement* select_training_step(const std::vector<TrainingStepMeasurement>& entries,
                                                    Precision precision, const std::string& model,
                                                    int ranks_per_host, std::int64_t tokens, bool checkpointing);

}  // namespace zeroplan::sim
