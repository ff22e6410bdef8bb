#pragma once
// CPU memory tracking: a c10::Allocator that wraps the CPU allocator LibTorch had when it was
// installed (c10::SetCPUAllocator), delegates every allocation to it and reports each block to the
// process's MemoryLedger under current_category() (memory_scope.h). Tensors allocated before the
// install keep their own deleters and are never seen.
//
// Sizes are the bytes LibTorch asked for (storage nbytes), not what malloc rounds them up to.
// Process-wide, installed once, never removed (tensors freed at exit still need it).
#include "profiler/memory_ledger.h"

namespace zeroplan::profiler {

// The ledger the tracking allocator feeds (exists whether or not tracking is installed).
MemoryLedger& cpu_memory_ledger();

// Installs the wrapping allocator; idempotent and thread-safe.
void install_cpu_memory_tracking();
bool cpu_memory_tracking_installed();

}  // namespace zeroplan::profiler
