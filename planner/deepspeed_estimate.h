#pragma once
// DeepSpeed 0.19's own model-state estimators, reproduced formula for formula
// (reference/deepspeed.md sections 1.1 and 1.2). They count model states only: no activations,
// buckets, CUDA context or fragmentation. zeroplan reports them beside its own estimate.
#include <cstdint>

#include "planner/memory_breakdown.h"

namespace zeroplan {

inline constexpr double kDeepSpeedAdditionalBufferFactor = 1.5;

// deepspeed/runtime/zero/stage_1_and_2.py: estimate_zero2_model_states_mem_needs (also used for stage 0
// and 1: DeepSpeed has no stage-1 estimator). cpu_offload = offload_optimizer == cpu.
DeepSpeedEstimate deepspeed_zero2_estimate(std::int64_t total_params, int num_nodes, int num_gpus_per_node,
                                           bool cpu_offload,
                                           double additional_buffer_factor = kDeepSpeedAdditionalBufferFactor);

// deepspeed/runtime/zero/stage3.py: estimate_zero3_model_states_mem_needs.
// cpu_offload = offload_optimizer == cpu, cpu_offload_params = offload_param == cpu.
DeepSpeedEstimate deepspeed_zero3_estimate(std::int64_t total_params, std::int64_t largest_layer_params,
                                           int num_nodes, int num_gpus_per_node, bool cpu_offload,
                                           bool cpu_offload_params, bool zero_init = true,
                                           double additional_buffer_factor = kDeepSpeedAdditionalBufferFactor);

}  // namespace zeroplan
