#pragma once
// The bandwidth term of one communication step on the graph: every flow of the step is routed, each
// link accumulates the share of the step's chunk that crosses it, and the step's transfer time is set by
// the most loaded link relative to its achievable bandwidth (links shared by k flows give each 1/k).
//   seconds_per_byte = max over links e of  sum_{flows f crossing e} share_f / achievable_bw(e)
// A step that moves a chunk of C bytes per flow (times its share) then takes C * seconds_per_byte.
#include <vector>

#include "simulator/topology.h"

namespace zeroplan::sim {

// One transfer of a step. Rank -1 as `to` (or `from`) means the host memory of the other end's GPU.
struct Flow {
  int from = 0;
  int to = 0;
  double share = 1.0;  // fraction of the step's chunk this flow carries (1/channels, 1/2 per tree, ...)
};

// Fraction of a link's nominal bandwidth that bulk transfers achieve (overridable by a hardware profile).
struct LinkEfficiency {
  // 8 x H200 NVSwitch, NVLS off: 367.6 GB/s busbw of 450 GB/s per direction = 0.82 (ml-engineering
  // all-reduce-8xH200.md; sjeaugey in nccl-tests #212: "~20% protocol overhead").
  double nvlink = 0.82;
  // PCIe figures in GPU specs and layouts are already what pinned DMA achieves (e.g. 25 GB/s on Gen4
  // x16, nvbandwidth #42; 50 GB/s on Gen5), so no further discount.
  double pcie = 1.0;
  // Host memory figures in the layouts are already sustained copy rates.
  double host_memory = 1.0;
  // ConnectX-7 NDR: 46-48 GB/s measured per 50 GB/s NIC (nccl-tests #290, #267) = 0.94.
  double network = 0.94;
  double of(LinkKind kind) const;
};

struct PatternCost {
  double seconds_per_byte = 0;   // per byte of the step's chunk (see above)
  double intra_latency_us = 0;   // slowest path latency among flows that stay inside a node
  double inter_latency_us = 0;   // slowest path latency among flows that cross the network
  int bottleneck_link = -1;      // edge id of the most loaded link
  double bottleneck_load = 0;    // sum of shares on it
};

// Accumulates flows on the links; several patterns can be merged (flows that run at the same time).
class LinkLoads {
 public:
  explicit LinkLoads(const Topology& topology);
  void add(const Flow& flow);
  void merge(const LinkLoads& other);
  PatternCost cost(const LinkEfficiency& efficiency) const;

 private:
  const Topology* topology_;
  std::vector<double> load_;
  std::vector<int> path_;  // scratch
  double intra_latency_us_ = 0;
  double inter_latency_us_ = 0;
};

PatternCost analyze_pattern(const Topology& topology, const std::vector<Flow>& flows, const LinkEfficiency& eff);

}  // namespace zeroplan::sim
