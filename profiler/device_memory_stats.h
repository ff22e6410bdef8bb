#pragma once
// GPU memory from LibTorch's CUDACachingAllocator device stats (aggregate pool). The CUDA variant
// (device_memory_stats_cuda.cc) is compiled when LibTorch is a CUDA build; otherwise
// device_memory_stats_none.cc reports "not available". At run time both say "not available"
// when there is no GPU.
#include <cstdint>
#include <optional>

namespace zeroplan::profiler {

struct DeviceMemoryStats {
  std::uint64_t allocated_current_bytes = 0;
  std::uint64_t allocated_peak_bytes = 0;
  std::uint64_t reserved_current_bytes = 0;
  std::uint64_t reserved_peak_bytes = 0;
  std::uint64_t active_current_bytes = 0;
  std::uint64_t active_peak_bytes = 0;
};

// True when this build can read CUDA allocator stats and a GPU is visible.
bool cuda_memory_stats_available();
// nullopt when not available.
std::optional<DeviceMemoryStats> read_cuda_memory_stats(int device_index);
// Peaks restart from the current values (per phase). No-op when not available.
void reset_cuda_peak_memory_stats(int device_index);

// GPU tensor memory by category: attaches a trace tracker to the CUDACachingAllocator that reports
// each block (ALLOC, FREE_COMPLETED; sizes as the allocator rounds them, like allocated_bytes) to
// cuda_memory_ledger() under current_category(). Returns false (and does nothing) without a GPU or
// a CUDA build. Process-wide, idempotent. Caveat: CUDA autograd runs backward on a device thread,
// which has no scope of its own and so uses the most recently opened one (memory_scope.h).
bool install_cuda_memory_tracking();
class MemoryLedger;
MemoryLedger& cuda_memory_ledger();

}  // namespace zeroplan::profiler
