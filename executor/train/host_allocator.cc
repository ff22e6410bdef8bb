#include "executor/train/host_allocator.h"

#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace zeroplan::executor {

bool should_configure_host_allocator(const char* glibc_tunables) {
  if (glibc_tunables == nullptr) return true;
  return std::strstr(glibc_tunables, "glibc.malloc.mmap_threshold") == nullptr &&
         std::strstr(glibc_tunables, "glibc.malloc.trim_threshold") == nullptr;
}

bool configure_host_allocator() {
#if defined(__GLIBC__)
  if (!should_configure_host_allocator(std::getenv("GLIBC_TUNABLES"))) return false;
  // mallopt returns 1 on success; setting either threshold also turns off glibc's dynamic adjustment.
  return mallopt(M_MMAP_THRESHOLD, kHostMmapThresholdBytes) == 1 &&
         mallopt(M_TRIM_THRESHOLD, kHostTrimThresholdBytes) == 1;
#else
  return false;
#endif
}

}  // namespace zeroplan::executor
