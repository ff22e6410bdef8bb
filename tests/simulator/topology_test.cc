// Graph construction of each preset (vertex and edge counts, routes, bottleneck bandwidths) and the
// topology's input errors.
#include <gtest/gtest.h>

#include "planner/error.h"
#include "simulator/link_load.h"
#include "simulator/topology.h"
#include "simulator/topology_presets.h"

namespace zeroplan::sim {
namespace {

Topology make(const std::string& preset, int nodes) {
  ClusterSpec c = preset_cluster(preset, nodes);
  return Topology(c, layout_for(c));
}

std::vector<LinkKind> kinds(const Topology& t, const std::vector<int>& path) {
  std::vector<LinkKind> out;
  for (int e : path) out.push_back(t.link(e).kind);
  return out;
}

// Seconds per byte of a ring over all ranks with one flow per rank, expressed as GB/s.
double ring_bottleneck_GBps(const Topology& t) {
  std::vector<Flow> flows;
  for (int r = 0; r < t.num_ranks(); ++r) flows.push_back({r, (r + 1) % t.num_ranks(), 1.0});
  return 1.0 / analyze_pattern(t, flows, LinkEfficiency{}).seconds_per_byte / 1e9;
}

TEST(Topology, HgxH100OneNode) {
  Topology t = make("hgx-h100", 1);
  // 8 GPUs, 1 logical NVSwitch, 4 PCIe switches, 2 sockets + their 2 host memories; no NICs on one node.
  EXPECT_EQ(t.count_vertices(VertexKind::kGpu), 8);
  EXPECT_EQ(t.count_vertices(VertexKind::kNvSwitch), 1);
  EXPECT_EQ(t.count_vertices(VertexKind::kPcieSwitch), 4);
  EXPECT_EQ(t.count_vertices(VertexKind::kCpuSocket), 2);
  EXPECT_EQ(t.count_vertices(VertexKind::kHostMemory), 2);
  EXPECT_EQ(t.count_vertices(VertexKind::kNic), 0);
  EXPECT_EQ(t.num_vertices(), 17);
  // Links: 8 GPU-NVSwitch + 8 GPU-PCIe + 4 PCIe-socket + 2 socket-memory + 1 UPI = 23, two directions each.
  EXPECT_EQ(t.num_edges(), 46);
  // GPU to GPU goes over NVLink through the switch, not over the PCIe switch GPUs 0 and 1 share.
  EXPECT_EQ(kinds(t, t.route(0, 1)), (std::vector<LinkKind>{LinkKind::kNvLink, LinkKind::kNvLink}));
  // Ring bottleneck: one NVLink direction, 450 GB/s x 0.82 achievable.
  EXPECT_NEAR(ring_bottleneck_GBps(t), 450 * 0.82, 1e-6);
  // Offload path: GPU -> PCIe switch -> socket -> memory.
  EXPECT_EQ(kinds(t, t.route_to_host(3)),
            (std::vector<LinkKind>{LinkKind::kPcie, LinkKind::kPcie, LinkKind::kHostMemory}));
}

TEST(Topology, HgxH100TwoNodesRailOptimisedFatTree) {
  Topology t = make("hgx-h100", 2);
  EXPECT_EQ(t.count_vertices(VertexKind::kGpu), 16);
  EXPECT_EQ(t.count_vertices(VertexKind::kNic), 16);
  // One leaf per rail (8) plus the spine.
  EXPECT_EQ(t.count_vertices(VertexKind::kNetworkSwitch), 9);
  EXPECT_EQ(t.num_vertices(), 59);
  // Per node 23 + 8 NIC-PCIe links; network 16 NIC-leaf + 8 leaf-spine.
  EXPECT_EQ(t.num_edges(), 2 * (2 * 31 + 16 + 8));
  // Same rail: GPU -> PCIe switch -> NIC -> leaf -> NIC -> PCIe switch -> GPU (no spine).
  EXPECT_EQ(kinds(t, t.route(0, 8)),
            (std::vector<LinkKind>{LinkKind::kPcie, LinkKind::kPcie, LinkKind::kNetwork, LinkKind::kNetwork,
                                   LinkKind::kPcie, LinkKind::kPcie}));
  // Different rails cross the spine: two more network hops.
  EXPECT_EQ(t.route(0, 9).size(), 8u);
  // A ring over 16 ranks with one channel leaves each node through a single NIC: 50 GB/s x 0.94.
  EXPECT_NEAR(ring_bottleneck_GBps(t), 50 * 0.94, 1e-6);
}

TEST(Topology, DgxA100) {
  Topology t = make("dgx-a100", 1);
  EXPECT_EQ(t.num_vertices(), 17);
  EXPECT_EQ(t.num_edges(), 46);
  EXPECT_NEAR(ring_bottleneck_GBps(t), 300 * 0.82, 1e-6);
  EXPECT_FALSE(t.layout().nvswitch_reduction);
}

TEST(Topology, Rtx4090NoPeerToPeerRelaysThroughHostMemory) {
  Topology t = make("rtx4090-pcie", 1);
  // 4 GPUs, 1 socket, its memory; no switches.
  EXPECT_EQ(t.num_vertices(), 6);
  EXPECT_EQ(t.count_vertices(VertexKind::kPcieSwitch), 0);
  EXPECT_EQ(t.count_vertices(VertexKind::kNvSwitch), 0);
  EXPECT_EQ(t.num_edges(), 2 * (4 + 1));
  EXPECT_EQ(kinds(t, t.route(0, 1)), (std::vector<LinkKind>{LinkKind::kPcie, LinkKind::kHostMemory,
                                                           LinkKind::kHostMemory, LinkKind::kPcie}));
  // A 4-GPU ring writes 4 chunks into host memory per step: 100 GB/s / 2 per direction / 4 = 12.5 GB/s,
  // below one PCIe 4.0 link (25 GB/s): host memory is the bottleneck, as NCCL #1639 describes for PCIe boxes.
  EXPECT_NEAR(ring_bottleneck_GBps(t), 12.5, 1e-9);
}

TEST(Topology, CpuRanks) {
  Topology t = make("cpu", 1);
  EXPECT_EQ(t.num_vertices(), 6);
  EXPECT_EQ(kinds(t, t.route(0, 2)), (std::vector<LinkKind>{LinkKind::kHostMemory, LinkKind::kHostMemory}));
  EXPECT_NEAR(ring_bottleneck_GBps(t), 10, 1e-9);
}

TEST(Topology, LargeFatTreeHasLeavesAndOneSpine) {
  Topology t = make("hgx-h100", 64);
  // 64 nodes / 32 ports = 2 blocks, x 8 rails = 16 leaves, + spine.
  EXPECT_EQ(t.count_vertices(VertexKind::kNetworkSwitch), 17);
  EXPECT_EQ(t.count_vertices(VertexKind::kGpu), 512);
  EXPECT_EQ(t.count_vertices(VertexKind::kNic), 512);
}

TEST(Topology, GenericNvlinkMeshSplitsBandwidthOverPeers) {
  ClusterSpec c = preset_cluster("dgx-a100", 1);
  c.topology = "nvlink";
  c.gpus_per_node = 4;
  Topology t(c, layout_for(c));
  ASSERT_EQ(t.route(0, 1).size(), 1u);
  EXPECT_NEAR(t.link(t.route(0, 1)[0]).bandwidth_GBps, 100.0, 1e-9);  // 300 / 3 peers
}

// "pcie" (e.g. L40S / A10 servers): GPUs on PCIe with peer-to-peer, so GPU-to-GPU traffic crosses the
// root complex but never host memory; "pcie-no-p2p" relays it through host memory.
TEST(Topology, PcieWithPeerToPeerSkipsHostMemory) {
  ClusterSpec c = preset_cluster("rtx4090-pcie", 1);
  auto crosses_host_memory = [](const Topology& t, int a, int b) {
    for (int e : t.route(a, b)) {
      if (t.link(e).kind == LinkKind::kHostMemory) return true;
    }
    return false;
  };
  Topology relay(c, layout_for(c));
  EXPECT_TRUE(crosses_host_memory(relay, 0, 1));
  c.topology = "pcie";
  Topology p2p(c, layout_for(c));
  ASSERT_EQ(p2p.route(0, 1).size(), 2u);  // GPU -> socket (root complex) -> GPU
  EXPECT_FALSE(crosses_host_memory(p2p, 0, 1));
  for (int e : p2p.route(0, 1)) EXPECT_EQ(p2p.link(e).kind, LinkKind::kPcie);
}

TEST(TopologyErrors, ZeroBandwidthIsAnInputError) {
  ClusterSpec c = preset_cluster("hgx-h100", 1);
  c.gpu.pcie_bandwidth_GBps = 0;
  EXPECT_THROW(Topology(c, layout_for(c)), InputError);
  c = preset_cluster("hgx-h100", 1);
  c.gpu.intra_node_bandwidth_GBps = 0;
  try {
    Topology t(c, layout_for(c));
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("intra_node_bandwidth_GBps"), std::string::npos) << e.what();
  }
  c = preset_cluster("hgx-h100", 2);
  c.inter_node_bandwidth_GBps = 0;
  EXPECT_THROW(Topology(c, layout_for(c)), InputError);
  c = preset_cluster("hgx-h100", 1);
  TopologyLayout L = layout_for(c);
  L.host_memory_GBps = 0;
  EXPECT_THROW(Topology(c, L), InputError);
}

TEST(TopologyErrors, DisconnectedTopologyIsAnInputError) {
  ClusterSpec c = preset_cluster("hgx-h100", 2);
  TopologyLayout L = layout_for(c);
  L.nics_per_node = 0;  // two nodes and nothing between them
  try {
    Topology t(c, L);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("disconnected"), std::string::npos) << e.what();
  }
}

TEST(TopologyErrors, UnknownTopologyAndBadCounts) {
  ClusterSpec c = preset_cluster("hgx-h100", 1);
  c.topology = "torus";
  EXPECT_THROW(Topology(c, layout_for(preset_cluster("hgx-h100", 1))), InputError);
  c = preset_cluster("hgx-h100", 1);
  c.gpus_per_node = 0;
  EXPECT_THROW(Topology(c, layout_for(preset_cluster("hgx-h100", 1))), InputError);
  c = preset_cluster("hgx-h100", 1);
  TopologyLayout L = layout_for(c);
  L.cpu_sockets_per_node = 0;
  EXPECT_THROW(Topology(c, L), InputError);
  EXPECT_THROW(preset_layout("dgx-z9000"), InputError);
  EXPECT_THROW(preset_cluster("dgx-z9000", 1), InputError);
}

}  // namespace
}  // namespace zeroplan::sim
