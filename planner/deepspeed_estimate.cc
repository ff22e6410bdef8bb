#include "planner/deepspeed_estimate.h"

#include <algorithm>

#include "planner/error.h"

namespace zeroplan {
namespace {

// Python's int() of a float: truncation toward zero. Python floats are IEEE doubles and Python's
// int/int true division is correctly rounded, as is double division, so the results match bit for bit
// while the integers stay below 2^53.
std::uint64_t py_int(double v) { return v <= 0 ? 0 : static_cast<std::uint64_t>(v); }

}  // namespace

DeepSpeedEstimate deepspeed_zero2_estimate(std::int64_t total_params, int num_nodes, int num_gpus_per_node,
                                           bool cpu_offload, double additional_buffer_factor) {
  ZP_ASSERT(total_params >= 0 && num_nodes > 0 && num_gpus_per_node > 0, "zero2 estimate of an empty cluster");
  const double P = static_cast<double>(total_params);
  const double total_gpus = static_cast<double>(num_nodes) * num_gpus_per_node;
  double gpu_mem = 0;
  double cpu_mem = 0;
  if (cpu_offload) {
    gpu_mem = 2 * P;                                                                   // 2 * total_params
    cpu_mem = P * std::max(4 * total_gpus, 16.0) * additional_buffer_factor;  // max(4*total_gpus, 16)
  } else {
    // 2 = params_16bit; 18 = 2 grads_16bit + 4 grads_32bit + 4 params_32bit + 8 optimizer_states_32bit
    gpu_mem = 2 * P + static_cast<double>(py_int(18 * P / total_gpus));
    cpu_mem = P * 4 * num_gpus_per_node * additional_buffer_factor;
  }
  return {py_int(gpu_mem), py_int(cpu_mem)};
}

DeepSpeedEstimate deepspeed_zero3_estimate(std::int64_t total_params, std::int64_t largest_layer_params,
                                           int num_nodes, int num_gpus_per_node, bool cpu_offload,
                                           bool cpu_offload_params, bool zero_init,
                                           double additional_buffer_factor) {
  ZP_ASSERT(total_params >= 0 && largest_layer_params >= 0 && num_nodes > 0 && num_gpus_per_node > 0,
            "zero3 estimate of an empty cluster");
  const double P = static_cast<double>(total_params);
  const double total_gpus = static_cast<double>(num_nodes) * num_gpus_per_node;
  const double gpus_factor = 1.0 / num_nodes;
  const double largest_layer_memory = 4.0 * static_cast<double>(largest_layer_params);  // fp16 params + grads
  const double n = num_gpus_per_node;
  const double B = additional_buffer_factor;
  double gpu_mem = 0;
  double cpu_mem = 0;
  if (cpu_offload) {
    if (cpu_offload_params) {
      gpu_mem = largest_layer_memory;
      cpu_mem = zero_init ? P * 18 * gpus_factor * B : P * std::max(4 * n, 18 * gpus_factor) * B;
    } else {
      gpu_mem = largest_layer_memory + static_cast<double>(py_int(2 * P / total_gpus));
      cpu_mem = zero_init ? P * 16 * gpus_factor * B : P * std::max(4 * n, 16 * gpus_factor) * B;
    }
  } else {
    gpu_mem = largest_layer_memory + static_cast<double>(py_int(18 * P / total_gpus));
    cpu_mem = zero_init ? static_cast<double>(largest_layer_params) * 4 * n * B : P * 4 * n * B;
  }
  return {py_int(gpu_mem), py_int(cpu_mem)};
}

}  // namespace zeroplan
