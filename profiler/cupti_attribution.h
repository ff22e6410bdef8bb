#pragma once
// Turns CUPTI records into what the profiler reports: GPU time per collective (NCCL kernels matched
// to the collective that launched them through external correlation ids), compute vs
// communication kernel time, memcpy volume by direction, and the device memory high-water mark
// replayed from MEMORY2 allocation/release records.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "profiler/cupti_records.h"

namespace zeroplan::profiler {

// One collective the profiler tagged with an external id (CollectiveScope).
struct CollectiveLaunch {
  std::uint64_t external_id = 0;
  std::string op;  // "all_reduce", "all_gather", "reduce_scatter", ...
  std::uint64_t bytes = 0;
};

struct AttributedCollective {
  std::uint64_t external_id = 0;
  std::string op;
  std::uint64_t bytes = 0;
  int kernels = 0;
  double kernel_s = 0;            // sum of its kernels' durations
  std::uint64_t first_start_ns = 0;
  std::uint64_t last_end_ns = 0;
};

struct MemcpyTotals {
  std::uint64_t bytes = 0;
  double time_s = 0;
  int count = 0;
};

struct CuptiSummary {
  std::vector<AttributedCollective> collectives;  // in launch order; kernels == 0 when none matched
  double kernel_s = 0;         // all kernels
  double nccl_kernel_s = 0;    // kernels whose name marks them as NCCL
  int unattributed_nccl_kernels = 0;  // NCCL kernels with no tagged collective
  std::map<std::string, double> unattributed_nccl_s_by_op;  // op guessed from the kernel name
  std::map<std::string, MemcpyTotals> memcpy_by_kind;
  std::map<std::uint32_t, std::uint64_t> device_peak_bytes;  // MEMORY2 replay, per device id
  std::uint64_t unmatched_releases = 0;  // releases of addresses never seen allocated
  std::uint64_t dropped = 0;
};

// "ncclDevKernel_AllGather_RING_LL", "ncclKernel_AllReduce_...": NCCL names its kernels nccl*.
bool is_nccl_kernel(std::string_view kernel_name);
// The collective a NCCL kernel name suggests ("all_gather", "reduce_scatter", "all_reduce",
// "broadcast", "reduce", "send_recv"), or "unknown". Only a hint: one kernel can run several ops.
std::string nccl_op_from_kernel_name(std::string_view kernel_name);

CuptiSummary attribute_cupti_records(const CuptiRecords& records,
                                     const std::vector<CollectiveLaunch>& launches);

}  // namespace zeroplan::profiler
