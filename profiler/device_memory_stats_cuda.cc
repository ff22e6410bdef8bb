// LibTorch with CUDA: CUDACachingAllocator::getDeviceStats / resetPeakStats (libtorch.md 3.1).
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>

#include <mutex>

#include "profiler/device_memory_stats.h"
#include "profiler/memory_ledger.h"
#include "profiler/memory_scope.h"

namespace zeroplan::profiler {
namespace {
constexpr std::size_t kAggregate = 0;  // StatType::AGGREGATE (small + large pools)

bool valid_device(int device_index) {
  return device_index >= 0 && device_index < static_cast<int>(c10::cuda::device_count());
}
}  // namespace

bool cuda_memory_stats_available() { return c10::cuda::device_count() > 0; }

std::optional<DeviceMemoryStats> read_cuda_memory_stats(int device_index) {
  if (!valid_device(device_index)) return std::nullopt;
  auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device_index));
  DeviceMemoryStats out;
  out.allocated_current_bytes = static_cast<std::uint64_t>(stats.allocated_bytes[kAggregate].current);
  out.allocated_peak_bytes = static_cast<std::uint64_t>(stats.allocated_bytes[kAggregate].peak);
  out.reserved_current_bytes = static_cast<std::uint64_t>(stats.reserved_bytes[kAggregate].current);
  out.reserved_peak_bytes = static_cast<std::uint64_t>(stats.reserved_bytes[kAggregate].peak);
  out.active_current_bytes = static_cast<std::uint64_t>(stats.active_bytes[kAggregate].current);
  out.active_peak_bytes = static_cast<std::uint64_t>(stats.active_bytes[kAggregate].peak);
  return out;
}

void reset_cuda_peak_memory_stats(int device_index) {
  if (!valid_device(device_index)) return;
  c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(device_index));
}

MemoryLedger& cuda_memory_ledger() {
  // Leaked on purpose: blocks freed during static destruction still report here.
  static MemoryLedger* ledger = new MemoryLedger();
  return *ledger;
}

bool install_cuda_memory_tracking() {
  if (!cuda_memory_stats_available()) return false;
  static std::once_flag once;
  std::call_once(once, [] {
    using c10::CachingDeviceAllocator::TraceEntry;
    c10::cuda::CUDACachingAllocator::attachAllocatorTraceTracker([](const TraceEntry& e) {
      // Called under the allocator's lock: only the ledger's own mutex is taken here.
      const void* address = reinterpret_cast<const void*>(e.addr_);
      if (e.action_ == TraceEntry::ALLOC) {
        cuda_memory_ledger().on_alloc(address, e.size_, current_category());
      } else if (e.action_ == TraceEntry::FREE_COMPLETED) {
        cuda_memory_ledger().on_free(address);
      }
    });
  });
  return true;
}

}  // namespace zeroplan::profiler
