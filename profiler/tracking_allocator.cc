#include "profiler/tracking_allocator.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

#include <atomic>
#include <mutex>

#include "planner/error.h"
#include "profiler/memory_scope.h"

namespace zeroplan::profiler {
namespace {

// Above the default CPU allocator's registration (priority 0).
constexpr std::uint8_t kTrackingAllocatorPriority = 100;

c10::Allocator* g_base = nullptr;                 // the allocator we delegate to
c10::DeleterFnPtr g_base_raw_deleter = nullptr;   // its raw deleter, when it has one
std::atomic<bool> g_installed{false};

// Raw path (the default CPU allocator): data == context, one plain deleter.
void delete_raw_tracked(void* ptr) {
  cpu_memory_ledger().on_free(ptr);
  g_base_raw_deleter(ptr);
}

// General path: the base's DataPtr rides along as our context.
struct WrappedContext {
  c10::DataPtr inner;
};
void delete_wrapped_tracked(void* context) {
  auto* wrapped = static_cast<WrappedContext*>(context);
  cpu_memory_ledger().on_free(wrapped->inner.get());
  delete wrapped;  // frees the block through the base's own deleter
}

class TrackingCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t bytes) override {
    Category category = current_category();
    if (g_base_raw_deleter != nullptr) {
      void* ptr = g_base->raw_allocate(bytes);
      cpu_memory_ledger().on_alloc(ptr, bytes, category);
      return {ptr, ptr, &delete_raw_tracked, c10::Device(c10::DeviceType::CPU)};
    }
    c10::DataPtr inner = g_base->allocate(bytes);
    void* data = inner.get();
    cpu_memory_ledger().on_alloc(data, bytes, category);
    auto* wrapped = new WrappedContext{std::move(inner)};
    return {data, wrapped, &delete_wrapped_tracked, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override {
    return g_base_raw_deleter != nullptr ? &delete_raw_tracked : nullptr;
  }

  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }
};

}  // namespace

MemoryLedger& cpu_memory_ledger() {
  // Leaked on purpose: tensors freed during static destruction still report here.
  static MemoryLedger* ledger = new MemoryLedger();
  return *ledger;
}

void install_cpu_memory_tracking() {
  static std::once_flag once;
  std::call_once(once, [] {
    cpu_memory_ledger();
    g_base = c10::GetCPUAllocator();
    ZP_ASSERT(g_base != nullptr, "LibTorch has no CPU allocator to wrap");
    g_base_raw_deleter = g_base->raw_deleter();
    static auto* tracking = new TrackingCpuAllocator();  // static lifetime, never freed
    c10::SetCPUAllocator(tracking, kTrackingAllocatorPriority);
    ZP_ASSERT(c10::GetCPUAllocator() == tracking,
              "c10::SetCPUAllocator kept another allocator (higher priority already set)");
    g_installed.store(true);
  });
}

bool cpu_memory_tracking_installed() { return g_installed.load(); }

}  // namespace zeroplan::profiler
