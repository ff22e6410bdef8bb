#pragma once
// zeroplan.plan/v1: the plan written by `zeroplan plan --json/--out` and read back by `simulate`,
// `run` and `compare`. Keys are only ever added (architecture.md). All memory figures are integer
// bytes; bucket sizes are element counts named as DeepSpeed names them.
//
//   {"schema": "zeroplan.plan/v1",
//    "model": {"name", "architecture", "num_params", "largest_layer_params", <every ModelSpec field>},
//    "cluster": {"name", "nodes", "gpus_per_node", "gpu": {"name", "memory_bytes", ...}, ...},
//    "training": {"seq_len", "global_batch", "precision", "activation_checkpointing", "attention",
//                 "headroom_fraction", "gradient_clipping", "lr"},
//    "step_time_model" ("simulator" | "roofline"), "hardware_profile" (file path | null = datasheets),
//    "usable_gpu_bytes", "usable_cpu_bytes", "evaluated_count", "fitting_count",
//    "best": CANDIDATE | null, "candidates": [CANDIDATE...], "rejections": [REJECTION...],
//    "suggestions": [{"change", "best": CANDIDATE}...]}  (when nothing fits: what would fit instead)
//
// The reader is strict: unknown keys, missing fields and a num_params that does not match the model
// shape are InputErrors naming the file and field.
#include <nlohmann/json.hpp>

#include <string>

#include "planner/plan.h"

namespace zeroplan {

inline constexpr const char* kPlanSchema = "zeroplan.plan/v1";

nlohmann::ordered_json plan_to_json(const Plan& plan);
nlohmann::ordered_json candidate_to_json(const EvaluatedCandidate& candidate);
std::string write_plan_json(const Plan& plan);  // pretty-printed, 2-space indent, trailing newline

// `source` names the file for error messages.
Plan plan_from_json(const nlohmann::json& json, const std::string& source);
Plan read_plan_json(const std::string& path);

}  // namespace zeroplan
