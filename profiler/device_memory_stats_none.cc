// LibTorch without CUDA: no device memory stats.
#include "profiler/device_memory_stats.h"

#include "profiler/memory_ledger.h"

namespace zeroplan::profiler {

bool cuda_memory_stats_available() { return false; }
std::optional<DeviceMemoryStats> read_cuda_memory_stats(int) { return std::nullopt; }
void reset_cuda_peak_memory_stats(int) {}
bool install_cuda_memory_tracking() { return false; }
MemoryLedger& cuda_memory_ledger() {
  static MemoryLedger* ledger = new MemoryLedger();
  return *ledger;
}

}  // namespace zeroplan::profiler
