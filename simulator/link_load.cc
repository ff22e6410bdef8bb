#include "simulator/link_load.h"

#include <algorithm>

#include "planner/error.h"

namespace zeroplan::sim {

double LinkEfficiency::of(LinkKind kind) const {
  switch (kind) {
    case LinkKind::kNvLink: return nvlink;
    case LinkKind::kPcie: return pcie;
    case LinkKind::kHostMemory: return host_memory;
    case LinkKind::kNetwork: return network;
  }
  return 1.0;
}

LinkLoads::LinkLoads(const Topology& topology) : topology_(&topology), load_(topology.num_edges(), 0.0) {
  path_.reserve(16);
}

void LinkLoads::add(const Flow& f) {
  if (f.from == f.to) return;
  path_.clear();
  const bool ok = f.to < 0     ? topology_->append_route_to_host(f.from, path_)
                  : f.from < 0 ? topology_->append_route_from_host(f.to, path_)
                               : topology_->append_route(f.from, f.to, path_);
  ZP_ASSERT(ok, "flow between ranks without a route (Topology::validate should have caught it)");
  double latency_us = 0;
  bool crosses_network = false;
  for (int e : path_) {
    load_[e] += f.share;
    const LinkInfo& link = topology_->link(e);
    latency_us += link.latency_us;
    crosses_network |= link.kind == LinkKind::kNetwork;
  }
  double& slot = crosses_network ? inter_latency_us_ : intra_latency_us_;
  slot = std::max(slot, latency_us);
}

void LinkLoads::merge(const LinkLoads& other) {
  for (size_t e = 0; e < load_.size(); ++e) load_[e] += other.load_[e];
  intra_latency_us_ = std::max(intra_latency_us_, other.intra_latency_us_);
  inter_latency_us_ = std::max(inter_latency_us_, other.inter_latency_us_);
}

PatternCost LinkLoads::cost(const LinkEfficiency& eff) const {
  PatternCost cost;
  cost.intra_latency_us = intra_latency_us_;
  cost.inter_latency_us = inter_latency_us_;
  for (size_t e = 0; e < load_.size(); ++e) {
    if (load_[e] == 0) continue;
    const LinkInfo& link = topology_->link(static_cast<int>(e));
    const double bytes_per_s = link.bandwidth_GBps * 1e9 * eff.of(link.kind);
    const double s_per_byte = load_[e] / bytes_per_s;
    if (s_per_byte > cost.seconds_per_byte) {
      cost.seconds_per_byte = s_per_byte;
      cost.bottleneck_link = static_cast<int>(e);
      cost.bottleneck_load = load_[e];
    }
  }
  return cost;
}

PatternCost analyze_pattern(const Topology& topology, const std::vector<Flow>& flows, const LinkEfficiency& eff) {
  LinkLoads loads(topology);
  for (const Flow& f : flows) loads.add(f);
  return loads.cost(eff);
}

}  // namespace zeroplan::sim
