#include "profiler/cupti_attribution.h"

#include <algorithm>
#include <unordered_map>

namespace zeroplan::profiler {

void CuptiRecords::append(CuptiRecords&& other) {
  kernels.insert(kernels.end(), other.kernels.begin(), other.kernels.end());
  memcpys.insert(memcpys.end(), other.memcpys.begin(), other.memcpys.end());
  memory.insert(memory.end(), other.memory.begin(), other.memory.end());
  correlations.insert(correlations.end(), other.correlations.begin(), other.correlations.end());
  dropped += other.dropped;
}

bool is_nccl_kernel(std::string_view kernel_name) { return kernel_name.starts_with("nccl"); }

std::string nccl_op_from_kernel_name(std::string_view name) {
  // NCCL >= 2.19: ncclDevKernel_<Coll>_<Algo>_<Proto>; older: ncclKernel_<Coll>_...
  struct Pattern {
    std::string_view token;
    const char* op;
  };
  static constexpr Pattern kPatterns[] = {
      {"AllGather", "all_gather"}, {"ReduceScatter", "reduce_scatter"},
      {"AllReduce", "all_reduce"}, {"Broadcast", "broadcast"},
      {"SendRecv", "send_recv"},   {"Reduce", "reduce"},  // after AllReduce/ReduceScatter
  };
  for (const auto& p : kPatterns) {
    if (name.find(p.token) != std::string_view::npos) return p.op;
  }
  return "unknown";
}

namespace {
double ns_to_s(std::uint64_t start_ns, std::uint64_t end_ns) {
  return end_ns > start_ns ? static_cast<double>(end_ns - start_ns) * 1e-9 : 0.0;
}
}  // namespace

CuptiSummary attribute_cupti_records(const CuptiRecords& records,
                                     const std::vector<CollectiveLaunch>& launches) {
  CuptiSummary summary;
  summary.dropped = records.dropped;

  std::unordered_map<std::uint64_t, std::size_t> collective_of_external;  // external id -> index
  for (const auto& launch : launches) {
    collective_of_external[launch.external_id] = summary.collectives.size();
    summary.collectives.push_back(AttributedCollective{launch.external_id, launch.op, launch.bytes});
  }
  std::unordered_map<std::uint32_t, std::uint64_t> external_of_correlation;
  for (const auto& c : records.correlations) external_of_correlation[c.correlation_id] = c.external_id;

  for (const auto& kernel : records.kernels) {
    double seconds = ns_to_s(kernel.start_ns, kernel.end_ns);
    summary.kernel_s += seconds;
    bool nccl = is_nccl_kernel(kernel.name);
    if (nccl) summary.nccl_kernel_s += seconds;

    auto ext = external_of_correlation.find(kernel.correlation_id);
    auto coll = ext == external_of_correlation.end() ? collective_of_external.end()
                                                     : collective_of_external.find(ext->second);
    if (coll != collective_of_external.end()) {
      auto& c = summary.collectives[coll->second];
      c.first_start_ns = c.kernels == 0 ? kernel.start_ns : std::min(c.first_start_ns, kernel.start_ns);
      c.last_end_ns = std::max(c.last_end_ns, kernel.end_ns);
      c.kernels += 1;
      c.kernel_s += seconds;
    } else if (nccl) {
      summary.unattributed_nccl_kernels += 1;
      summary.unattributed_nccl_s_by_op[nccl_op_from_kernel_name(kernel.name)] += seconds;
    }
  }

  for (const auto& copy : records.memcpys) {
    auto& totals = summary.memcpy_by_kind[copy.copy_kind];
    totals.bytes += copy.bytes;
    totals.time_s += ns_to_s(copy.start_ns, copy.end_ns);
    totals.count += 1;
  }

  // MEMORY2 replay in time order: live bytes per device, its maximum is the device high-water mark
  // of memory obtained from the driver (segments, NCCL buffers, cuBLAS workspaces alike).
  std::vector<const CuptiMemory*> events;
  for (const auto& m : records.memory) events.push_back(&m);
  std::stable_sort(events.begin(), events.end(), [](const CuptiMemory* a, const CuptiMemory* b) {
    return a->timestamp_ns < b->timestamp_ns;
  });
  std::map<std::uint32_t, std::uint64_t> live;
  std::map<std::pair<std::uint32_t, std::uint64_t>, std::uint64_t> live_blocks;  // (device, address)
  for (const CuptiMemory* m : events) {
    auto key = std::make_pair(m->device_id, m->address);
    if (m->allocation) {
      live_blocks[key] = m->bytes;
      live[m->device_id] += m->bytes;
      summary.device_peak_bytes[m->device_id] =
          std::max(summary.device_peak_bytes[m->device_id], live[m->device_id]);
    } else {
      auto it = live_blocks.find(key);
      if (it == live_blocks.end()) {
        summary.unmatched_releases += 1;
        continue;
      }
      live[m->device_id] -= it->second;
      live_blocks.erase(it);
    }
  }
  return summary;
}

}  // namespace zeroplan::profiler
