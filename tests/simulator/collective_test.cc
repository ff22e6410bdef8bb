// Collective cost formulas against hand-computed values, algorithm choice, nccl-tests bandwidths and
// sanity against published measurements (estimators.md 4.2-4.3).
#include <gtest/gtest.h>

#include "planner/error.h"
#include "planner/units.h"
#include "simulator/collective_model.h"
#include "simulator/topology_presets.h"

namespace zeroplan::sim {
namespace {

constexpr int kLL = static_cast<int>(Protocol::kLL);
constexpr int kSimple = static_cast<int>(Protocol::kSimple);

struct Fixture {
  ClusterSpec cluster;
  Topology topology;
  CollectiveModel model;
  explicit Fixture(const std::string& preset, int nodes = 1)
      : cluster(preset_cluster(preset, nodes)),
        topology(cluster, layout_for(cluster)),
        model(topology, cluster.world_size()) {}
};

TEST(Collective, BusBandwidthFactorsAreNcclTests) {
  EXPECT_DOUBLE_EQ(busbw_factor(CollectiveOp::kAllReduce, 8), 2.0 * 7 / 8);
  EXPECT_DOUBLE_EQ(busbw_factor(CollectiveOp::kAllGather, 8), 7.0 / 8);
  EXPECT_DOUBLE_EQ(busbw_factor(CollectiveOp::kReduceScatter, 4), 3.0 / 4);
  EXPECT_DOUBLE_EQ(busbw_factor(CollectiveOp::kBroadcast, 8), 1.0);
  EXPECT_DOUBLE_EQ(busbw_factor(CollectiveOp::kReduce, 8), 1.0);
  EXPECT_DOUBLE_EQ(bytes_sent_per_rank(CollectiveOp::kAllReduce, 1000, 4), 1500);
  EXPECT_DOUBLE_EQ(bytes_sent_per_rank(CollectiveOp::kAllGather, 1000, 1), 0);
}

TEST(Collective, ParseRejectsUnknownNames) {
  EXPECT_EQ(parse_op("reduce_scatter", "--op"), CollectiveOp::kReduceScatter);
  EXPECT_EQ(parse_algorithm("hierarchical", "--algorithm"), Algorithm::kHierarchical);
  EXPECT_THROW(parse_op("all_to_all", "--op"), InputError);
  EXPECT_THROW(parse_algorithm("butterfly", "--algorithm"), InputError);
}

// 8 x H100, one node. Ring all-reduce, Simple protocol, by hand:
//   alpha = base 8.4 us + 2(n-1) = 14 steps x 3.4 us (NVLink Simple step)          = 56.0 us
//   beta  = 2(n-1)/n = 1.75 bytes per byte of buffer over one NVLink direction at 450 x 0.82 GB/s
TEST(Collective, RingAllReduceHandComputed) {
  Fixture f("hgx-h100");
  const LinearCost& lc = f.model.linear_cost(CollectiveOp::kAllReduce, Algorithm::kRing);
  ASSERT_TRUE(lc.available);
  EXPECT_NEAR(lc.alpha_s[kSimple], 56.0e-6, 1e-12);
  EXPECT_NEAR(lc.beta_s_per_byte[kSimple], 1.75 / (450 * 0.82 * 1e9), 1e-20);
  // LL: base 3.6 us + 14 x 0.47 us; a quarter of the bandwidth.
  EXPECT_NEAR(lc.alpha_s[kLL], (3.6 + 14 * 0.47) * 1e-6, 1e-12);
  EXPECT_NEAR(lc.beta_s_per_byte[kLL], 4 * 1.75 / (450 * 0.82 * 1e9), 1e-20);
  // Forcing the ring at 1 GiB picks Simple: 56 us + 1.75 GiB / 369 GB/s.
  CollectiveEstimate e = f.model.estimate(CollectiveOp::kAllReduce, 1.0 * kGiB, Algorithm::kRing);
  EXPECT_EQ(e.protocol, Protocol::kSimple);
  EXPECT_NEAR(e.time_s, 56.0e-6 + 1.75 * kGiB / 369e9, 1e-9);
  EXPECT_NEAR(e.algbw_GBps, kGiB / e.time_s / 1e9, 1e-9);
  EXPECT_NEAR(e.busbw_GBps, e.algbw_GBps * 1.75, 1e-9);
}

// Ring all-gather / reduce-scatter: n-1 = 7 steps, (n-1)/n of the buffer. Broadcast: the chain moves S.
TEST(Collective, RingGatherAndBroadcastHandComputed) {
  Fixture f("hgx-h100");
  for (CollectiveOp op : {CollectiveOp::kAllGather, CollectiveOp::kReduceScatter}) {
    const LinearCost& lc = f.model.linear_cost(op, Algorithm::kRing);
    EXPECT_NEAR(lc.alpha_s[kSimple], (8.4 + 7 * 3.4) * 1e-6, 1e-12);
    EXPECT_NEAR(lc.beta_s_per_byte[kSimple], 0.875 / 369e9, 1e-20);
  }
  const LinearCost& b = f.model.linear_cost(CollectiveOp::kBroadcast, Algorithm::kRing);
  EXPECT_NEAR(b.beta_s_per_byte[kSimple], 1.0 / 369e9, 1e-20);
}

// 2 x 8 H100, hierarchical all-reduce, Simple, by hand:
//   alpha = 3 NCCL calls x 8.4 + 2 intra phases x 7 steps x 3.4 + 2(N-1) = 2 inter steps x 9.6 us
//   beta  = 2 x 7/8 over NVLink (369 GB/s) + 2(N-1)/N / g = 1/8 over one NIC per rail (50 x 0.94 GB/s)
TEST(Collective, HierarchicalAllReduceHandComputed) {
  Fixture f("hgx-h100", 2);
  const LinearCost& lc = f.model.linear_cost(CollectiveOp::kAllReduce, Algorithm::kHierarchical);
  ASSERT_TRUE(lc.available);
  EXPECT_NEAR(lc.alpha_s[kSimple], (3 * 8.4 + 2 * 7 * 3.4 + 2 * 9.6) * 1e-6, 1e-12);
  EXPECT_NEAR(lc.beta_s_per_byte[kSimple], 1.75 / 369e9 + 0.125 / 47e9, 1e-20);
  // Reduce-scatter: one intra phase (7/8) and one inter reduce-scatter of S/8 ((N-1)/N / 8 = 1/16).
  const LinearCost& rs = f.model.linear_cost(CollectiveOp::kReduceScatter, Algorithm::kHierarchical);
  EXPECT_NEAR(rs.alpha_s[kSimple], (2 * 8.4 + 7 * 3.4 + 1 * 9.6) * 1e-6, 1e-12);
  EXPECT_NEAR(rs.beta_s_per_byte[kSimple], 0.875 / 369e9 + 0.0625 / 47e9, 1e-20);
}

// Multi-node ring: one ring per rail, 8 channels of 1/8 each. Every NIC sends 1/8 of a chunk per step
// (8 x 47 = 376 GB/s); every NVLink uplink carries 7/8 (7 of 8 channels leave the GPU over NVLink:
// 369 / (7/8) = 422 GB/s). The NICs are the bottleneck, as measured (~370-390 GB/s, estimators.md 4.3).
TEST(Collective, MultiNodeRingUsesEveryRail) {
  Fixture f("hgx-h100", 2);
  EXPECT_EQ(f.model.patterns().ring_channels, 8);
  EXPECT_NEAR(1.0 / f.model.patterns().ring.seconds_per_byte / 1e9, 376.0, 1e-6);
  EXPECT_EQ(f.topology.link(f.model.patterns().ring.bottleneck_link).kind, LinkKind::kNetwork);
  const LinearCost& lc = f.model.linear_cost(CollectiveOp::kAllReduce, Algorithm::kRing);
  // 2(n-1) = 30 steps, 2(N-1) = 2 of them cross the network; the ring's network hop changes rail, so it
  // crosses the spine: 9.6 us + 2 switch hops of 0.13 us.
  EXPECT_NEAR(lc.alpha_s[kSimple], (8.4 + 28 * 3.4 + 2 * (9.6 + 0.26)) * 1e-6, 1e-12);
}

TEST(Collective, AvailabilityAndForcedAlgorithmErrors) {
  Fixture one("hgx-h100");
  EXPECT_FALSE(one.model.linear_cost(CollectiveOp::kAllReduce, Algorithm::kTree).available);
  EXPECT_FALSE(one.model.linear_cost(CollectiveOp::kAllReduce, Algorithm::kHierarchical).available);
  EXPECT_TRUE(one.model.linear_cost(CollectiveOp::kAllReduce, Algorithm::kNvls).available);
  EXPECT_FALSE(one.model.linear_cost(CollectiveOp::kAllGather, Algorithm::kNvls).available);
  EXPECT_THROW(one.model.estimate(CollectiveOp::kAllReduce, 1e6, Algorithm::kTree), InputError);
  Fixture two("hgx-h100", 2);
  EXPECT_TRUE(two.model.linear_cost(CollectiveOp::kAllReduce, Algorithm::kTree).available);
  EXPECT_FALSE(two.model.linear_cost(CollectiveOp::kAllGather, Algorithm::kTree).available);
  EXPECT_THROW(two.model.estimate(CollectiveOp::kAllGather, 1e6, Algorithm::kTree), InputError);
  Fixture a100("dgx-a100");
  EXPECT_FALSE(a100.model.linear_cost(CollectiveOp::kAllReduce, Algorithm::kNvls).available);
}

TEST(Collective, AutoPicksTheFastest) {
  Fixture f("hgx-h100", 4);
  for (double bytes : {1e3, 1e6, 3e7, 1e9}) {
    for (CollectiveOp op : {CollectiveOp::kAllReduce, CollectiveOp::kAllGather, CollectiveOp::kBroadcast}) {
      const double best = f.model.estimate(op, bytes).time_s;
      for (Algorithm a : {Algorithm::kRing, Algorithm::kTree, Algorithm::kHierarchical}) {
        if (!f.model.linear_cost(op, a).available) continue;
        EXPECT_LE(best, f.model.estimate(op, bytes, a).time_s * (1 + 1e-12));
      }
    }
  }
}

// Published: 8 x H100 all-reduce busbw ~480 GB/s with NVLS (algbw ~275), 476 at another site;
// 8 x H200 402 GB/s at 128 MiB, 450 at 512 MiB, 482 at 16 GiB (estimators.md 4.2-4.3).
TEST(CollectiveSanity, EightH100AllReduceLargeMessages) {
  Fixture f("hgx-h100");
  for (double mib : {128.0, 512.0, 16384.0}) {
    CollectiveEstimate e = f.model.estimate(CollectiveOp::kAllReduce, mib * kMiB);
    EXPECT_GE(e.busbw_GBps, 360) << mib << " MiB";
    EXPECT_LE(e.busbw_GBps, 480.5) << mib << " MiB";
  }
}

// Published: 39.9 GB/s busbw at 1 MiB on 8 x H200 (Ring/LL), far below the 480 GB/s peak.
TEST(CollectiveSanity, SmallMessagesAreLatencyBound) {
  Fixture f("hgx-h200");
  CollectiveEstimate small = f.model.estimate(CollectiveOp::kAllReduce, 1.0 * kMiB);
  EXPECT_EQ(small.algorithm, Algorithm::kRing);
  EXPECT_EQ(small.protocol, Protocol::kLL);
  EXPECT_GT(small.busbw_GBps, 20);
  EXPECT_LT(small.busbw_GBps, 80);
  CollectiveEstimate tiny = f.model.estimate(CollectiveOp::kAllReduce, 8.0 * kKiB);
  EXPECT_LT(tiny.busbw_GBps, 5);
  // Busbw grows with size.
  double last = 0;
  for (double mib : {0.25, 1.0, 8.0, 32.0, 128.0, 512.0}) {
    const double bw = f.model.estimate(CollectiveOp::kAllReduce, mib * kMiB).busbw_GBps;
    EXPECT_GT(bw, last) << mib;
    last = bw;
  }
}

// Published: 8 x A100 ~235 GB/s busbw (NCCL caps its A100 model at 235); 8 NICs x NDR -> ~370-390 GB/s.
TEST(CollectiveSanity, A100AndMultiNode) {
  Fixture a100("dgx-a100");
  const double a100_bw = a100.model.estimate(CollectiveOp::kAllReduce, 1.0 * kGiB).busbw_GBps;
  EXPECT_GT(a100_bw, 200);
  EXPECT_LT(a100_bw, 260);
  Fixture two("hgx-h100", 4);
  const double multi = two.model.estimate(CollectiveOp::kAllGather, 4.0 * kGiB).busbw_GBps;
  EXPECT_GT(multi, 300);
  EXPECT_LT(multi, 400);
}

TEST(Collective, SingleRankAndSubGroups) {
  ClusterSpec c = preset_cluster("hgx-h100", 2);
  Topology t(c, layout_for(c));
  CollectiveModel one(t, 1);
  EXPECT_EQ(one.estimate(CollectiveOp::kAllReduce, 1e9).time_s, 0);
  CollectiveModel four(t, 4);  // part of one node
  EXPECT_EQ(four.nodes(), 1);
  EXPECT_EQ(four.ranks_per_node(), 4);
  EXPECT_THROW(CollectiveModel(t, 12), InputError);  // 1.5 nodes
  EXPECT_THROW(CollectiveModel(t, 32), InputError);  // more than the cluster
}

TEST(Collective, MeasurementsOverrideTheModel) {
  CollectiveMeasurement m;
  m.op = CollectiveOp::kAllReduce;
  m.ranks = 8;
  m.bytes = {1000, 2000};
  m.time_s = {1e-5, 2e-5};
  EXPECT_DOUBLE_EQ(m.interpolate(1500), 1.5e-5);
  EXPECT_DOUBLE_EQ(m.interpolate(10), 1e-5);
  EXPECT_DOUBLE_EQ(m.interpolate(3000), 3e-5);
  ClusterSpec c = preset_cluster("hgx-h100", 1);
  Topology t(c, layout_for(c));
  CollectiveModel model(t, 8, LinkEfficiency{}, {m});
  CollectiveEstimate e = model.estimate(CollectiveOp::kAllReduce, 1500);
  EXPECT_TRUE(e.measured);
  EXPECT_DOUBLE_EQ(e.time_s, 1.5e-5);
  EXPECT_FALSE(model.estimate(CollectiveOp::kAllGather, 1500).measured);
}

}  // namespace
}  // namespace zeroplan::sim
