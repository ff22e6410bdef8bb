#include "simulator/collective_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "planner/error.h"

namespace zeroplan::sim {

namespace {

constexpr int kLL = static_cast<int>(Protocol::kLL);
constexpr int kSimple = static_cast<int>(Protocol::kSimple);

// NCCL's tuning constants (NVIDIA/nccl src/graph/tuning.cc, 2.8-2.12 era; estimators.md 4.2).
// Base latency per operation, microseconds, by protocol {LL, LL128, Simple}.
constexpr double kBaseLatencyRingUs[kNumProtocols] = {3.6, 10.0, 8.4};
constexpr double kBaseLatencyTreeUs[kNumProtocols] = {4.4, 4.4, 0.0};
// Per-step hardware latency, microseconds, by link class and protocol. Our graph's path latency (from the
// cluster spec) stands in for the Ring/Simple entry of its class; the other entries keep NCCL's ratios.
enum LatencyClass { kNvLinkClass, kPciClass, kNetClass };
constexpr double kHwLatRingUs[3][kNumProtocols] = {{0.47, 1.9, 3.4}, {1.0, 2.5, 5.7}, {2.7, 4.0, 9.6}};
constexpr double kHwLatTreeUs[3][kNumProtocols] = {{0.52, 1.25, 28}, {1.0, 1.9, 28}, {5.0, 8.5, 50}};
// Fraction of the Simple protocol's bandwidth the others reach: LL moves 8-byte stores with a 4-byte
// flag (1/4 of bus bandwidth across nodes or for reductions, 1/3 otherwise); LL128 120 of 128 bytes.
double protocol_bandwidth_fraction(int proto, CollectiveOp op, int nodes) {
  if (proto == kLL) {
    return (nodes > 1 || op == CollectiveOp::kAllReduce || op == CollectiveOp::kReduce) ? 0.25 : 1.0 / 3.0;
  }
  if (proto == static_cast<int>(Protocol::kLL128)) return 0.92;
  return 1.0;
}
// NVLink SHARP (NVLS) all-reduce: every GPU writes its buffer to the switch once and reads the reduced
// result once, so each NVLink direction carries S (not 2(n-1)/n S). Measured 8 x H100: algbw ~275 GB/s
// of 450 GB/s per direction = 0.61 (sjeaugey, nccl-tests #212: busbw ~480 with NVLS).
constexpr double kNvlsLinkFraction = 0.61;
// NVLS per-operation latency: FITTED (not from a source) so that, as NCCL does on 8 x H200, Ring/LL wins
// at 1 MiB and NVLS from 2 MiB, and 8 MiB lands near the measured 155 GB/s busbw (estimators.md 4.2).
constexpr double kNvlsLatencyUs = 60;

}  // namespace

CollectiveModel::CollectiveModel(const Topology& topology, int ranks, const LinkEfficiency& efficiency,
                                 std::vector<CollectiveMeasurement> measurements,
                                 std::vector<GlooCollectiveFit> gloo_fits, int cpu_cores)
    : ranks_(ranks), measurements_(std::move(measurements)), cpu_cores_(cpu_cores) {
  const ClusterSpec& c = topology.cluster();
  if (c.topology == "cpu") gloo_fits_ = std::move(gloo_fits);  // Gloo fits describe CPU ranks only
  gpus_per_node_ = c.gpus_per_node;
  if (ranks < 1 || ranks > c.world_size()) {
    throw InputError(fmt::format("cluster {}: a group of {} ranks does not fit its {} ranks", c.name, ranks,
                                 c.world_size()));
  }
  if (ranks > c.gpus_per_node && ranks % c.gpus_per_node != 0) {
    throw InputError(fmt::format("cluster {}: a group of {} ranks is not a whole number of {}-GPU nodes", c.name,
                                 ranks, c.gpus_per_node));
  }
  ranks_per_node_ = std::min(ranks, c.gpus_per_node);
  nodes_ = ranks / ranks_per_node_;
  build(topology, efficiency);
}

void CollectiveModel::build(const Topology& topology, const LinkEfficiency& eff) {
  const ClusterSpec& cluster = topology.cluster();
  const TopologyLayout& layout = topology.layout();
  const int N = nodes_;
  const int g = ranks_per_node_;
  const int n = ranks_;
  if (n == 1) return;  // nothing to communicate; estimate() answers 0

  // --- Ring channels. Across nodes NCCL runs one ring per NIC (rail), each entering node k at local GPU c
  // and leaving through the NIC of local GPU c-1, so all NICs carry traffic. On a full NVLink mesh, rings
  // with different strides use different links. Elsewhere one ring sees the same bottleneck as many.
  struct Channel {
    int start;
    int stride;
  };
  std::vector<Channel> channels;
  if (N > 1) {
    const int nics = std::max(1, std::min(layout.nics_per_node, g));
    for (int ch = 0; ch < nics; ++ch) channels.push_back({ch, 1});
  } else if (cluster.topology == "nvlink" && g > 2) {
    for (int s = 1; s < g; ++s) {
      if (std::gcd(s, g) == 1) channels.push_back({0, s});
    }
  } else {
    channels.push_back({0, 1});
  }
  patterns_.ring_channels = static_cast<int>(channels.size());

  std::vector<Flow> flows;
  {
    LinkLoads ring(topology);
    const double ring_share = 1.0 / channels.size();
    std::vector<int> order;
    order.reserve(n);
    for (const Channel& ch : channels) {
      order.clear();
      for (int k = 0; k < N; ++k) {
        for (int j = 0; j < g; ++j) order.push_back(rank_of(k, (ch.start + j * ch.stride) % g));
      }
      for (int i = 0; i < n; ++i) ring.add({order[i], order[(i + 1) % n], ring_share});
    }
    patterns_.ring = ring.cost(eff);
  }

  // --- Trees: NCCL's double binary tree across nodes (tree 2 mirrors tree 1, so most ranks that are
  // leaves in one are interior in the other) with a chain inside each node; one pair of trees per channel.
  // Each tree carries half the data; reduce flows go child -> parent, broadcast flows parent -> child.
  LinkLoads up(topology), down(topology);
  const int tree_channels = N > 1 ? patterns_.ring_channels : 1;
  const double tree_share = 1.0 / (2.0 * tree_channels);
  for (int ch = 0; ch < tree_channels; ++ch) {
    for (int t = 0; t < 2; ++t) {
      auto node_at = [&](int heap_index) { return t == 0 ? heap_index : N - 1 - heap_index; };
      // The chain inside a node: leader = local ch (tree 1) going up the local indices, tree 2 going down.
      auto local_at = [&](int j) { return t == 0 ? (ch + j) % g : ((ch - j) % g + g) % g; };
      for (int k = 0; k < N; ++k) {
        for (int j = 1; j < g; ++j) {
          const int child = rank_of(k, local_at(j));
          const int parent = rank_of(k, local_at(j - 1));
          up.add({child, parent, tree_share});
          down.add({parent, child, tree_share});
        }
      }
      for (int h = 1; h < N; ++h) {
        const int child = rank_of(node_at(h), local_at(0));
        const int parent = rank_of(node_at((h - 1) / 2), local_at(0));
        up.add({child, parent, tree_share});
        down.add({parent, child, tree_share});
      }
    }
  }
  patterns_.tree_up = up.cost(eff);
  patterns_.tree_down = down.cost(eff);
  up.merge(down);
  patterns_.tree_both = up.cost(eff);

  // --- Hierarchical: a ring inside every node (all nodes at once), then one ring per local rank across
  // nodes (rail-aligned: local GPU i of every node talks through NIC i).
  flows.clear();
  for (int k = 0; k < N; ++k) {
    for (int j = 0; j < g; ++j) flows.push_back({rank_of(k, j), rank_of(k, (j + 1) % g), 1.0});
  }
  patterns_.intra_ring = analyze_pattern(topology, flows, eff);
  flows.clear();
  for (int j = 0; j < g && N > 1; ++j) {
    for (int k = 0; k < N; ++k) flows.push_back({rank_of(k, j), rank_of((k + 1) % N, j), 1.0});
  }
  patterns_.inter_ring = analyze_pattern(topology, flows, eff);

  // --- NVLS: every GPU to the switch and back once.
  flows.clear();
  for (int j = 0; j < g; ++j) flows.push_back({rank_of(0, j), rank_of(0, (j + 1) % g), 1.0});
  patterns_.nvls = analyze_pattern(topology, flows, eff);

  // NCCL's LL protocols do not exist for CPU ranks (Gloo): Simple only there.
  const bool nccl = cluster.topology != "cpu";

  // Step latency by class and protocol, scaled from the graph's path latency.
  const LatencyClass intra_class =
      cluster.topology == "nvswitch" || cluster.topology == "nvlink" ? kNvLinkClass : kPciClass;
  // Each algorithm's steps take the slowest path latency of its own flows (the flat ring's network hop
  // crosses rails through the spine; the hierarchical rail rings stay inside one leaf).
  auto step_us = [&](const PatternCost& pattern, bool inter, bool tree, int proto) {
    const LatencyClass k = inter ? kNetClass : intra_class;
    const double path = inter ? pattern.inter_latency_us : pattern.intra_latency_us;
    const double(&table)[3][kNumProtocols] = tree ? kHwLatTreeUs : kHwLatRingUs;
    return path * table[k][proto] / kHwLatRingUs[k][kSimple];
  };

  for (int o = 0; o < kNumCollectiveOps; ++o) {
    const auto op = static_cast<CollectiveOp>(o);
    const bool all_reduce = op == CollectiveOp::kAllReduce;
    const bool gather_like = op == CollectiveOp::kAllGather || op == CollectiveOp::kReduceScatter;

    // Ring. Steps: all_reduce 2(n-1) (reduce-scatter then all-gather), gather-like n-1, rooted: a pipelined
    // chain of n-1 hops. Of those, NCCL charges network latency to the steps that cross nodes.
    {
      LinearCost& lc = costs_[o][static_cast<int>(Algorithm::kRing)];
      lc.available = true;
      const int steps = all_reduce ? 2 * (n - 1) : n - 1;
      const int inter_steps = N > 1 ? (all_reduce ? 2 * (N - 1) : N - 1) : 0;
      // Bytes each flow moves, as a multiple of S: 2(n-1)/n, (n-1)/n, or all of S through the chain.
      const double volume = all_reduce ? 2.0 * (n - 1) / n : gather_like ? (n - 1.0) / n : 1.0;
      for (int p = 0; p < kNumProtocols; ++p) {
        lc.protocol_ok[p] = nccl || p == kSimple;
        lc.alpha_s[p] = 1e-6 * (kBaseLatencyRingUs[p] + (steps - inter_steps) * step_us(patterns_.ring, false, false, p) +
                                inter_steps * step_us(patterns_.ring, true, false, p));
        lc.beta_s_per_byte[p] = volume * patterns_.ring.seconds_per_byte / protocol_bandwidth_fraction(p, op, N);
      }
    }
    // Tree (all_reduce, broadcast, reduce): pipelined through depth = chain (g-1) + ceil(log2 N) levels;
    // all_reduce goes up and down (2 * depth steps), and every link carries its share of S in each direction.
    {
      LinearCost& lc = costs_[o][static_cast<int>(Algorithm::kTree)];
      if (gather_like) {
        lc.unavailable_reason = fmt::format("tree does not implement {} (NCCL runs it as a ring)", op_name(op));
      } else if (N == 1) {
        // NCCL does not pick its tree inside one node (on 8 x H200 it runs Ring/LL, then NVLS; estimators.md 4.2).
        lc.unavailable_reason = "tree needs more than one node (inside a node NCCL's tree is a chain it does not pick)";
      } else {
        lc.available = true;
        const int inter_depth = N > 1 ? static_cast<int>(std::ceil(std::log2(N))) : 0;
        const int passes = all_reduce ? 2 : 1;
        const PatternCost& pattern = all_reduce                     ? patterns_.tree_both
                                     : op == CollectiveOp::kReduce ? patterns_.tree_up
                                                                   : patterns_.tree_down;
        for (int p = 0; p < kNumProtocols; ++p) {
          lc.protocol_ok[p] = nccl || p == kSimple;
          lc.alpha_s[p] = 1e-6 * (kBaseLatencyTreeUs[p] + passes * ((g - 1) * step_us(patterns_.tree_both, false, true, p) +
                                                   inter_depth * step_us(patterns_.tree_both, true, true, p)));
          lc.beta_s_per_byte[p] = pattern.seconds_per_byte / protocol_bandwidth_fraction(p, op, N);
        }
      }
    }
    // Hierarchical (several nodes): intra-node ring phase(s) around an inter-node phase on S/g per rail.
    //   all_reduce     = reduce_scatter_intra(S) + all_reduce_inter(S/g) + all_gather_intra(S)
    //   reduce_scatter = reduce_scatter_intra(S) + reduce_scatter_inter(S/g)
    //   all_gather     = all_gather_inter(S/g)   + all_gather_intra(S)
    //   broadcast      = chain over nodes of S/g per rail + all_gather_intra(S); reduce mirrors it.
    {
      LinearCost& lc = costs_[o][static_cast<int>(Algorithm::kHierarchical)];
      if (N == 1) {
        lc.unavailable_reason = "hierarchical needs more than one node (on one node it is the ring)";
      } else {
        lc.available = true;
        const int intra_phases = all_reduce ? 2 : 1;
        const int phases = intra_phases + 1;
        const int inter_steps = all_reduce ? 2 * (N - 1) : N - 1;
        const double intra_volume = intra_phases * (g - 1.0) / g;  // of S
        const double inter_volume =
            (all_reduce ? 2.0 * (N - 1) / N : gather_like ? (N - 1.0) / N : 1.0) / g;  // of S
        for (int p = 0; p < kNumProtocols; ++p) {
          lc.protocol_ok[p] = nccl || p == kSimple;
          lc.alpha_s[p] = 1e-6 * (phases * kBaseLatencyRingUs[p] + intra_phases * (g - 1) * step_us(patterns_.intra_ring, false, false, p) +
                                  inter_steps * step_us(patterns_.inter_ring, true, false, p));
          lc.beta_s_per_byte[p] = (intra_volume * patterns_.intra_ring.seconds_per_byte +
                                   inter_volume * patterns_.inter_ring.seconds_per_byte) /
                                  protocol_bandwidth_fraction(p, op, N);
        }
      }
    }
    // NVLS: all_reduce on one node whose NVSwitch reduces in the switch; Simple protocol only.
    {
      LinearCost& lc = costs_[o][static_cast<int>(Algorithm::kNvls)];
      if (!all_reduce) {
        lc.unavailable_reason = fmt::format("nvls is modelled for all_reduce only, not {}", op_name(op));
      } else if (!layout.nvswitch_reduction) {
        lc.unavailable_reason = "nvls needs NVSwitches that reduce in the switch (Hopper NVSwitch gen3)";
      } else if (N > 1) {
        lc.unavailable_reason = "nvls across nodes (NVLS-tree) is not modelled";
      } else {
        lc.available = true;
        lc.protocol_ok[kSimple] = true;
        lc.alpha_s[kSimple] = 1e-6 * kNvlsLatencyUs;
        lc.beta_s_per_byte[kSimple] = patterns_.nvls.seconds_per_byte * eff.nvlink / kNvlsLinkFraction;
      }
    }
  }
}

const LinearCost& CollectiveModel::linear_cost(CollectiveOp op, Algorithm algorithm) const {
  ZP_ASSERT(algorithm != Algorithm::kAuto, "linear_cost needs a concrete algorithm");
  return costs_[static_cast<int>(op)][static_cast<int>(algorithm)];
}

CollectiveEstimate CollectiveModel::estimate(CollectiveOp op, double bytes, Algorithm algorithm) const {
  CollectiveEstimate best;
  if (ranks_ == 1 || bytes <= 0) {
    best.algorithm = algorithm == Algorithm::kAuto ? Algorithm::kRing : algorithm;
    return best;
  }
  if (algorithm == Algorithm::kAuto || algorithm == Algorithm::kRing) {
    if (const GlooCollectiveFit* fit = find_gloo_fit(gloo_fits_, op, ranks_)) {
      best.time_s = gloo_time_s(*fit, bytes, ranks_, cpu_cores_);
      best.algorithm = Algorithm::kRing;
      best.calibrated = true;
      best.algbw_GBps = bytes / best.time_s / 1e9;
      best.busbw_GBps = best.algbw_GBps * busbw_factor(op, ranks_);
      return best;
    }
  }
  if (algorithm == Algorithm::kAuto) {
    for (const CollectiveMeasurement& m : measurements_) {
      if (m.op == op && m.ranks == ranks_) {
        best.time_s = m.interpolate(bytes);
        best.measured = true;
        best.algbw_GBps = bytes / best.time_s / 1e9;
        best.busbw_GBps = best.algbw_GBps * busbw_factor(op, ranks_);
        return best;
      }
    }
  }
  best.time_s = std::numeric_limits<double>::infinity();
  const int o = static_cast<int>(op);
  for (int a = 0; a < kNumAlgorithms; ++a) {
    if (algorithm != Algorithm::kAuto && a != static_cast<int>(algorithm)) continue;
    const LinearCost& lc = costs_[o][a];
    if (!lc.available) {
      if (algorithm != Algorithm::kAuto) throw InputError(lc.unavailable_reason);
      continue;
    }
    for (int p = 0; p < kNumProtocols; ++p) {
      if (!lc.protocol_ok[p]) continue;
      const double t = lc.alpha_s[p] + bytes * lc.beta_s_per_byte[p];
      if (t < best.time_s) {
        best.time_s = t;
        best.algorithm = static_cast<Algorithm>(a);
        best.protocol = static_cast<Protocol>(p);
      }
    }
  }
  ZP_ASSERT(std::isfinite(best.time_s), "no algorithm available (ring always is)");
  best.algbw_GBps = bytes / best.time_s / 1e9;
  best.busbw_GBps = best.algbw_GBps * busbw_factor(op, ranks_);
  return best;
}

}  // namespace zeroplan::sim
