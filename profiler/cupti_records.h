#pragma once
// The CUPTI activity records the profiler uses, copied out of CUPTI's buffers into plain structs so
// that parsing (real source) and attribution (cupti_attribution.h) are separate and the latter is
// testable on a CPU with synthetic records. Times are CUPTI timestamps in nanoseconds.
#include <cstdint>
#include <string>
#include <vector>

namespace zeroplan::profiler {

// CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL (CUpti_ActivityKernel10).
struct CuptiKernel {
  std::string name;
  std::uint64_t start_ns = 0;
  std::uint64_t end_ns = 0;
  std::uint32_t device_id = 0;
  std::uint32_t stream_id = 0;
  std::uint32_t correlation_id = 0;
};

// CUPTI_ACTIVITY_KIND_MEMCPY (CUpti_ActivityMemcpy6).
struct CuptiMemcpy {
  std::string copy_kind;  // "HtoD", "DtoH", "DtoD", "HtoH", "PtoP", "other"
  std::uint64_t bytes = 0;
  std::uint64_t start_ns = 0;
  std::uint64_t end_ns = 0;
  std::uint32_t device_id = 0;
  std::uint32_t stream_id = 0;
  std::uint32_t correlation_id = 0;
};

// CUPTI_ACTIVITY_KIND_MEMORY2 (CUpti_ActivityMemory4): one record per device allocation and per
// release. With LibTorch's caching allocator these are segments (reserved memory), not tensors.
struct CuptiMemory {
  bool allocation = true;  // false: release
  std::uint64_t address = 0;
  std::uint64_t bytes = 0;
  std::uint64_t timestamp_ns = 0;
  std::uint32_t device_id = 0;
  std::uint32_t correlation_id = 0;
};

// CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION: the API call with `correlation_id` ran while
// `external_id` was pushed (cuptiActivityPushExternalCorrelationId).
struct CuptiExternalCorrelation {
  std::uint64_t external_id = 0;
  std::uint32_t correlation_id = 0;
};

struct CuptiRecords {
  std::vector<CuptiKernel> kernels;
  std::vector<CuptiMemcpy> memcpys;
  std::vector<CuptiMemory> memory;
  std::vector<CuptiExternalCorrelation> correlations;
  std::uint64_t dropped = 0;  // records CUPTI reported as dropped

  void append(CuptiRecords&& other);
};

}  // namespace zeroplan::profiler
