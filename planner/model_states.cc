#include "planner/model_states.h"

#include <fmt/format.h>

#include "planner/error.h"

namespace zeroplan {

StateBytesPerParam state_bytes_per_param(Precision p) {
  if (p == Precision::kFp32) return {4, 4, 8};  // fp32 params, fp32 grads, Adam m + v
  return {2, 2, 12};                            // 16-bit params, 16-bit grads, fp32 master + m + v (K = 12)
}

std::int64_t partition_elements(std::int64_t params, std::int64_t dp) {
  ZP_ASSERT(params >= 0 && dp > 0, "partition of a negative model or over no ranks");
  return (params + dp - 1) / dp;
}

void check_offload_combination(int zero_stage, OffloadDevice offload_optimizer, OffloadDevice offload_param,
                               const char* what) {
  if (zero_stage < 0 || zero_stage > 3) {
    throw InputError(fmt::format("{}: zero_stage {} is not 0, 1, 2 or 3", what, zero_stage));
  }
  if (offload_optimizer == OffloadDevice::kCpu && zero_stage < 1) {
    throw InputError(fmt::format("{}: offload_optimizer needs ZeRO stage 1, 2 or 3 (got stage 0)", what));
  }
  if (offload_param == OffloadDevice::kCpu && zero_stage != 3) {
    throw InputError(fmt::format("{}: offload_param needs ZeRO stage 3 (got stage {})", what, zero_stage));
  }
}

// Per rank, with Ψ = params, N = dp, Ψ/N = one rank's partition (rounded up), c/g/k = the bytes per
// param of params/grads/optimizer (2/2/12 mixed precision, 4/4/8 fp32):
//
//   stage 0  (plain DP)   params cΨ     grads gΨ     optimizer kΨ      mixed: 16Ψ          (paper: baseline)
//   stage 1  (P_os)       params cΨ     grads gΨ     optimizer kΨ/N    mixed: 4Ψ + 12Ψ/N   (paper)
//   stage 2  (P_os+g)     params cΨ     grads gΨ/N   optimizer kΨ/N    mixed: 2Ψ + 14Ψ/N   (paper)
//   stage 3  (P_os+g+p)   params cΨ/N   grads gΨ/N   optimizer kΨ/N    mixed: 16Ψ/N        (paper)
//
// offload_optimizer = cpu (ZeRO-Offload; stages 1-3): the optimizer states of the partition live in
// CPU memory, and so does the fp32 gradient partition the CPU Adam reads (4Ψ/N; DeepSpeed copies each
// reduced gradient slice into a pinned fp32 CPU buffer). On the GPU:
//   stage 1: the full 16-bit grads stay in p.grad until the accumulation boundary (gΨ on the GPU);
//   stage 2: reduced slices go straight to the CPU buffer; no GPU gradient partition (0);
//   stage 3: the gradient partition buffer is on the CPU (0 on the GPU).
// With fp32 training the CPU optimizer also keeps the fp32 parameter partition it updates, so the CPU
// optimizer states are 12Ψ/N in both precisions (mixed: master 4 + m 4 + v 4; fp32: params 4 + m 4 + v 4).
// offload_param = cpu (stage 3 only): the 16-bit parameter partition lives in CPU memory (cΨ/N).
// Together: CPU 16Ψ/N (optimizer offload) or 18Ψ/N (both), DeepSpeed's own "16" and "18" CPU terms.
ModelStates zero_model_states(std::int64_t params, std::int64_t dp, int zero_stage, Precision precision,
                              OffloadDevice offload_optimizer, OffloadDevice offload_param) {
  check_offload_combination(zero_stage, offload_optimizer, offload_param, "candidate");
  const StateBytesPerParam b = state_bytes_per_param(precision);
  const auto full = static_cast<std::uint64_t>(params);                         // Ψ
  const auto part = static_cast<std::uint64_t>(partition_elements(params, dp));  // Ψ/N
  const bool opt_cpu = offload_optimizer == OffloadDevice::kCpu;
  const bool param_cpu = offload_param == OffloadDevice::kCpu;

  ModelStates m;
  m.gpu_params = b.params * (zero_stage >= 3 ? part : full);  // (·) 16-bit (or fp32) compute copy
  m.gpu_gradients = b.gradients * (zero_stage >= 2 ? part : full);
  m.gpu_optimizer_states = b.optimizer * (zero_stage >= 1 ? part : full);
  if (opt_cpu) {
    m.gpu_optimizer_states = 0;
    m.cpu_optimizer_states = 12 * part;  // fp32 master (or fp32 params) + momentum + variance
    m.cpu_gradients = 4 * part;          // fp32 gradient partition read by the CPU Adam
    if (zero_stage >= 2) m.gpu_gradients = 0;
  }
  if (param_cpu) {
    m.gpu_params = 0;
    m.cpu_params = b.params * part;  // the rank's 16-bit parameter partition
  }
  return m;
}

}  // namespace zeroplan
