#pragma once
// The memory model: every byte per GPU rank and per node CPU for one candidate.
// One named function per component, each with its derivation beside it (memory_model.cc).
#include "planner/candidate.h"
#include "planner/memory_breakdown.h"
#include "planner/step_time_model.h"

namespace zeroplan {

// Runtimes. A plan sizes one runtime (TrainingSpec::runtime, plan.json "training.runtime"):
//   deepspeed  DeepSpeed 0.19 running the Hugging Face model: model_states.h, buffer_memory.h and the
//              Hugging Face activation list (activation_memory.h). What --ds-config hands over.
//   zeroplan   zeroplan's executor (`zeroplan run`): executor_memory.h (its flat buffers: e.g. bf16
//              keeps fp32 gradients, 20 B/param on one rank) and executor_activations.cc (fused
//              chunked loss, GQA inside SDPA, weight gradients in the activations' scope).
//   auto       (the flag's default) zeroplan on CPU ranks (--cluster local-cpu: what `zeroplan run`
//              trains on this host), deepspeed on GPUs. `--runtime zeroplan` sizes a GPU run of the
//              executor (tools/gpu_check.sh).
Runtime effective_runtime(const PlanContext& context);

// Per-rank GPU and per-node CPU memory of `candidate` at its peak.
MemoryBreakdown estimate_memory(const PlanContext& context, const Candidate& candidate);

// DeepSpeed 0.19's own estimator for the same configuration (GPU per rank, CPU per node):
// estimate_zero2_model_states_mem_needs for stages 0-2, estimate_zero3_model_states_mem_needs for 3,
// additional_buffer_factor 1.5, zero_init true. It counts model states only.
DeepSpeedEstimate deepspeed_estimate(const PlanContext& context, const Candidate& candidate);

// Overhead per rank: CUDA context + NCCL buffers (dp > 1) + allocator fragmentation x (activations +
// buffers), with the GPU preset's named constants.
std::uint64_t overhead_bytes(const GpuSpec& gpu, std::int64_t dp, std::uint64_t activations,
                             std::uint64_t buffers);

// What one node's host memory must hold for `memory`: the CPU side (offloaded states of the node's
// ranks). For CPU devices the ranks' own memory is host memory too, so it is added once per rank:
//   gpu:  memory.cpu.total()
//   cpu:  memory.cpu.total() + gpus_per_node * memory.gpu.total()
// Offloaded states are in memory.cpu only (the rank's side holds none of them), so nothing counts twice.
std::uint64_t node_host_bytes(const PlanContext& context, const MemoryBreakdown& memory);

// Usable GPU bytes for a candidate: headroom_fraction * memory_bytes.
std::uint64_t usable_gpu_bytes(const PlanContext& context);

}  // namespace zeroplan
