#pragma once
// Memory by category, the same words everywhere (architecture.md): params, gradients,
// optimizer_states, activations, buffers, overhead, total. Integer bytes.
#include <cstdint>

namespace zeroplan {

struct GpuMemory {
  std::uint64_t params = 0;
  std::uint64_t gradients = 0;
  std::uint64_t optimizer_states = 0;
  std::uint64_t activations = 0;
  std::uint64_t buffers = 0;
  std::uint64_t overhead = 0;
  std::uint64_t total() const {
    return params + gradients + optimizer_states + activations + buffers + overhead;
  }
};

// Per node (all ranks of the node together).
struct CpuMemory {
  std::uint64_t params = 0;
  std::uint64_t gradients = 0;
  std::uint64_t optimizer_states = 0;
  std::uint64_t buffers = 0;
  std::uint64_t total() const { return params + gradients + optimizer_states + buffers; }
};

struct MemoryBreakdown {
  GpuMemory gpu;  // per rank, at its peak
  CpuMemory cpu;  // per node
};

// DeepSpeed 0.19's estimate_zero2/zero3_model_states_mem_needs for the same configuration.
struct DeepSpeedEstimate {
  std::uint64_t gpu = 0;  // per GPU
  std::uint64_t cpu = 0;  // per node
};

}  // namespace zeroplan
