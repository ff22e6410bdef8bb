#include "planner/memory_model.h"

#include <cmath>

#include "planner/activation_memory.h"
#include "planner/buffer_memory.h"
#include "planner/deepspeed_estimate.h"
#include "planner/executor_memory.h"
#include "planner/model_states.h"

namespace zeroplan {

// Overhead per rank, from the GPU preset's named constants (configs/gpus/*.json "overhead"):
//   cuda_context                                   (CUDA context + kernels loaded lazily)
// + nccl_buffers                 when dp > 1       (communicator buffers; none for a single rank)
// + allocator_fragmentation * (activations + buffers)   (caching-allocator blocks that cannot be reused;
//                                                   the dynamic, many-sized allocations fragment, the
//                                                   model states are few large flat buffers and do not)
std::uint64_t overhead_bytes(const GpuSpec& gpu, std::int64_t dp, std::uint64_t activations,
                             std::uint64_t buffers) {
  const double fragmentation = gpu.allocator_fragmentation * static_cast<double>(activations + buffers);
  return gpu.cuda_context_bytes + (dp > 1 ? gpu.nccl_buffer_bytes : 0) +
         static_cast<std::uint64_t>(std::llround(fragmentation));
}

MemoryBreakdown estimate_memory(const PlanContext& context, const Candidate& candidate) {
  const ModelSpec& model = context.model;
  const Precision precision = context.training.precision;
  const std::int64_t params = count_params(model).total;

  const Runtime runtime = effective_runtime(context);
  const bool executor = runtime == Runtime::kZeroplan;
  const ModelStates states =
      executor ? executor_model_states(model, candidate, precision, context.cluster.gpu.kind == DeviceKind::kCpu)
               : zero_model_states(params, candidate.dp, candidate.zero_stage, precision, candidate.offload_optimizer,
                                   candidate.offload_param);
  ActivationInput act_in;
  act_in.micro_batch = candidate.micro_batch;
  act_in.seq_len = context.training.seq_len;
  act_in.precision = precision;
  act_in.attention = context.training.attention;
  act_in.checkpointing = candidate.activation_checkpointing;
  act_in.cpu_kernels = context.cluster.gpu.kind == DeviceKind::kCpu;
  act_in.runtime = runtime;
  const ActivationTimeline timeline = activation_timeline(model, act_in);
  const std::uint64_t activations = timeline.peak();
  const bool loss_peak = timeline.peak() == timeline.loss_forward_peak || timeline.peak() == timeline.loss_backward_peak;

  MemoryBreakdown m;
  m.gpu.params = states.gpu_params;
  m.gpu.gradients = states.gpu_gradients;
  m.gpu.optimizer_states = states.gpu_optimizer_states;
  m.gpu.activations = activations;
  m.gpu.buffers = executor ? executor_buffer_bytes(model, candidate, precision, activations, loss_peak)
                           : buffer_memory(model, precision, candidate).at_peak(activations);
  m.gpu.overhead = overhead_bytes(context.cluster.gpu, candidate.dp, m.gpu.activations, m.gpu.buffers);

  // CPU per node: every rank of the node holds its own partition of the offloaded states.
  const auto ranks_per_node = static_cast<std::uint64_t>(context.cluster.gpus_per_node);
  m.cpu.params = states.cpu_params * ranks_per_node;
  m.cpu.gradients = states.cpu_gradients * ranks_per_node;
  m.cpu.optimizer_states = states.cpu_optimizer_states * ranks_per_node;
  m.cpu.buffers = 0;  // no CPU-side staging buffers are modelled for CPU offload (states are pinned in place)
  return m;
}

Runtime effective_runtime(const PlanContext& context) {
  if (context.training.runtime != Runtime::kAuto) return context.training.runtime;
  return context.cluster.gpu.kind == DeviceKind::kCpu ? Runtime::kZeroplan : Runtime::kDeepSpeed;
}

DeepSpeedEstimate deepspeed_estimate(const PlanContext& context, const Candidate& candidate) {
  const ParamCounts counts = count_params(context.model);
  const bool cpu_offload = candidate.offload_optimizer == OffloadDevice::kCpu;
  if (candidate.zero_stage == 3) {
    return deepspeed_zero3_estimate(counts.total, counts.largest_layer_params, context.cluster.nodes,
                                    context.cluster.gpus_per_node, cpu_offload,
                                    candidate.offload_param == OffloadDevice::kCpu, /*zero_init=*/true);
  }
  return deepspeed_zero2_estimate(counts.total, context.cluster.nodes, context.cluster.gpus_per_node, cpu_offload);
}

std::uint64_t node_host_bytes(const PlanContext& context, const MemoryBreakdown& memory) {
  if (context.cluster.gpu.kind != DeviceKind::kCpu) return memory.cpu.total();
  return memory.cpu.total() + static_cast<std::uint64_t>(context.cluster.gpus_per_node) * memory.gpu.total();
}

std::uint64_t usable_gpu_bytes(const PlanContext& context) {
  return static_cast<std::uint64_t>(context.training.headroom_fraction *
                                    static_cast<double>(context.cluster.gpu.memory_bytes));
}

}  // namespace zeroplan
