#include "tests/fidelity/alloc_log.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

#include <atomic>
#include <mutex>
#include <unordered_map>

#include "planner/error.h"

#include "profiler/tracking_allocator.h"

namespace zeroplan::fidelity {
namespace {

std::mutex g_mutex;
std::vector<std::int64_t> g_log;
std::atomic<bool> g_on{false};
c10::Allocator* g_base = nullptr;

void record(std::int64_t v) {
  if (!g_on.load()) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  g_log.push_back(v);
}

// The raw path (data == context, as the tracking allocator below it): some ATen code asserts it.
std::mutex g_sizes_mutex;
std::unordered_map<void*, std::int64_t> g_sizes;
c10::DeleterFnPtr g_base_deleter = nullptr;

void delete_logged(void* ptr) {
  std::int64_t bytes = 0;
  {
    std::lock_guard<std::mutex> lock(g_sizes_mutex);
    auto it = g_sizes.find(ptr);
    if (it != g_sizes.end()) {
      bytes = it->second;
      g_sizes.erase(it);
    }
  }
  if (bytes > 0) record(-bytes);
  g_base_deleter(ptr);
}

class LoggingAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t bytes) override {
    void* ptr = g_base->raw_allocate(bytes);
    if (ptr != nullptr && bytes > 0) {
      {
        std::lock_guard<std::mutex> lock(g_sizes_mutex);
        g_sizes[ptr] = static_cast<std::int64_t>(bytes);
      }
      record(static_cast<std::int64_t>(bytes));
    }
    return {ptr, ptr, &delete_logged, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &delete_logged; }
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }
};

}  // namespace

void install_alloc_log() {
  static std::once_flag once;
  std::call_once(once, [] {
    profiler::install_cpu_memory_tracking();
    g_base = c10::GetCPUAllocator();
    g_base_deleter = g_base->raw_deleter();
    ZP_ASSERT(g_base_deleter != nullptr, "the tracking allocator has no raw deleter");
    static auto* logger = new LoggingAllocator();
    c10::SetCPUAllocator(logger, 101);
  });
}

void alloc_log_start() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_log.clear();
  g_on.store(true);
}

std::vector<std::int64_t> alloc_log_stop() {
  g_on.store(false);
  std::lock_guard<std::mutex> lock(g_mutex);
  return std::move(g_log);
}

}  // namespace zeroplan::fidelity
