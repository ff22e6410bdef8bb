#pragma once
// Collective cost on a topology graph: alpha-beta per algorithm and protocol, as NCCL's tuner models it,
// with beta taken from the graph (the most loaded link on the algorithm's flows, link_load.h) instead of
// a per-machine constant.
//
//   time(op, S, algorithm, protocol) = alpha[op][alg][proto] + S * beta[op][alg][proto]
//
// alpha counts NCCL's per-operation base latency plus one step latency per algorithm step (steps grow
// with ranks: 2(n-1) for a ring all-reduce, 2*depth for a tree); beta is the seconds per byte of the
// whole buffer given the algorithm's traffic pattern. Both are computed once per (topology, group);
// a query is ~a dozen multiply-adds, so the planner's search can call it per candidate.
#include <array>
#include <string>
#include <vector>

#include "simulator/collective.h"
#include "simulator/gloo_cost.h"
#include "simulator/link_load.h"
#include "simulator/topology.h"

namespace zeroplan::sim {

struct CollectiveEstimate {
  double time_s = 0;
  Algorithm algorithm = Algorithm::kRing;
  Protocol protocol = Protocol::kSimple;
  bool measured = false;  // from a hardware profile's measurement, not the model
  bool calibrated = false;  // from a hardware profile's Gloo fit (gloo_cost.h), CPU ranks only
  double algbw_GBps = 0;  // bytes / time
  double busbw_GBps = 0;  // algbw * busbw_factor (nccl-tests)
};

struct LinearCost {
  bool available = false;
  std::string unavailable_reason;  // why this algorithm cannot run this op on this group
  std::array<double, kNumProtocols> alpha_s{};
  std::array<double, kNumProtocols> beta_s_per_byte{};
  std::array<bool, kNumProtocols> protocol_ok{};
};

class CollectiveModel {
 public:
  // A group of the first `ranks` ranks of the topology: whole nodes, or part of one node.
  // `measurements` (optional, from a hardware profile) replace the model for (op, ranks) they cover.
  // `gloo_fits` (from a hardware profile, CPU-rank clusters only) replace the graph model for the ops they
  // cover, with `cpu_cores` for the contention scaling of gloo_cost.h; they take precedence over
  // `measurements`.
  CollectiveModel(const Topology& topology, int ranks, const LinkEfficiency& efficiency = {},
                  std::vector<CollectiveMeasurement> measurements = {}, std::vector<GlooCollectiveFit> gloo_fits = {},
                  int cpu_cores = 0);

  // The fastest algorithm and protocol for this message size (or the fastest protocol of the forced
  // algorithm). InputError when a forced algorithm cannot run this op here.
  CollectiveEstimate estimate(CollectiveOp op, double bytes, Algorithm algorithm = Algorithm::kAuto) const;
  double time_s(CollectiveOp op, double bytes) const { return estimate(op, bytes).time_s; }

  const LinearCost& linear_cost(CollectiveOp op, Algorithm algorithm) const;
  int ranks() const { return ranks_; }
  int nodes() const { return nodes_; }
  int ranks_per_node() const { return ranks_per_node_; }
  // Seconds per byte of the traffic patterns (for tests and `simulate collective --debug`).
  struct Patterns {
    PatternCost ring, tree_up, tree_down, tree_both, intra_ring, inter_ring, nvls;
    int ring_channels = 1;
  };
  const Patterns& patterns() const { return patterns_; }

 private:
  void build(const Topology& topology, const LinkEfficiency& efficiency);
  int rank_of(int node, int local) const { return node * gpus_per_node_ + local; }

  int ranks_ = 1;
  int nodes_ = 1;
  int ranks_per_node_ = 1;
  int gpus_per_node_ = 1;
  Patterns patterns_;
  std::array<std::array<LinearCost, kNumAlgorithms>, kNumCollectiveOps> costs_{};
  std::vector<CollectiveMeasurement> measurements_;
  std::vector<GlooCollectiveFit> gloo_fits_;
  int cpu_cores_ = 0;
};

}  // namespace zeroplan::sim
