#pragma once
// The machine as a graph (Boost.Graph): vertices for GPUs (one per rank), NVSwitches, PCIe switches,
// CPU sockets, NICs and network switches; one directed edge per link direction, each with its own
// bandwidth and latency. Built from a ClusterSpec (its `topology` string) plus a TopologyLayout that
// says how many switches, sockets and NICs a node has (topology_presets.h fills it per real box).
//
// Routing is the graph's: inside a node a breadth-first search over the node's own vertices (GPUs are
// never transit vertices); between nodes GPU -> its NIC (graph path inside the node) -> up the fat tree
// to the first common switch -> down -> NIC -> GPU.
#include <boost/graph/adjacency_list.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "planner/hardware_spec.h"

namespace zeroplan::sim {

// kHostMemory is a socket's DRAM: offload traffic and no-P2P relays end there.
enum class VertexKind { kGpu, kNvSwitch, kPcieSwitch, kCpuSocket, kHostMemory, kNic, kNetworkSwitch };
// What a link is made of; decides the achievable fraction of its bandwidth and the protocol latency class.
enum class LinkKind { kNvLink, kPcie, kHostMemory, kNetwork };

const char* vertex_kind_name(VertexKind k);
const char* link_kind_name(LinkKind k);

struct VertexInfo {
  VertexKind kind = VertexKind::kGpu;
  int node = -1;   // -1 for network switches
  int rank = -1;   // GPUs only: global rank = node * gpus_per_node + local index
  int level = 0;   // network switches: 1 = leaf, 2 = spine
  std::string name;  // "n0.gpu3", "n1.nic0", "leaf2", "spine"
};

struct LinkInfo {
  LinkKind kind = LinkKind::kNvLink;
  double bandwidth_GBps = 0;  // nominal, this direction
  double latency_us = 0;      // this hop
  int id = -1;                // dense edge index 0..num_edges-1
};

using TopologyGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, VertexInfo, LinkInfo>;
using Vertex = TopologyGraph::vertex_descriptor;

// How a node is wired, beyond what ClusterSpec says. Figures and their sources: topology_presets.cc.
struct TopologyLayout {
  std::string description;          // "HGX H100 8-GPU: NVSwitch gen3, 8 x 400 Gb/s NDR IB rails"
  int nvswitches_per_node = 0;      // drawn as one logical non-blocking crossbar when > 0
  int pcie_switches_per_node = 0;   // GPUs and NICs spread evenly over them; 0 = GPUs hang off the CPU
  int cpu_sockets_per_node = 1;
  int nics_per_node = 1;            // nodes > 1 only
  double pcie_switch_uplink_GBps = 0;  // PCIe switch <-> CPU socket, per direction (0 = gpu.pcie_bandwidth)
  double socket_interconnect_GBps = 0; // UPI/xGMI between sockets, per direction
  double host_memory_GBps = 0;         // what one socket's DRAM sustains for copies (no-P2P relay, offload)
  int leaf_switch_down_ports = 32;     // NICs per leaf switch (a 64-port switch, half down, half up)
  double oversubscription = 1.0;       // leaf down / up bandwidth (1 = non-blocking fat tree)
  double switch_hop_latency_us = 0.13; // one network switch traversal
  bool nvswitch_reduction = false;     // NVLink SHARP (NVLS): the switch reduces all-reduce data itself
};

class Topology {
 public:
  // Throws InputError on zero or negative bandwidths, an unknown topology string, or a graph where
  // some GPU cannot reach another.
  Topology(const ClusterSpec& cluster, const TopologyLayout& layout);

  const TopologyGraph& graph() const { return graph_; }
  const ClusterSpec& cluster() const { return cluster_; }
  const TopologyLayout& layout() const { return layout_; }
  int num_ranks() const { return static_cast<int>(gpu_vertex_.size()); }
  int num_vertices() const { return static_cast<int>(boost::num_vertices(graph_)); }
  int num_edges() const { return static_cast<int>(edges_.size()); }
  int count_vertices(VertexKind kind) const;
  Vertex gpu(int rank) const { return gpu_vertex_.at(rank); }
  const LinkInfo& link(int edge_id) const { return graph_[edges_[edge_id]]; }
  Vertex link_source(int edge_id) const { return boost::source(edges_[edge_id], graph_); }
  Vertex link_target(int edge_id) const { return boost::target(edges_[edge_id], graph_); }

  // Edge ids of the route from rank `from` to rank `to` (empty when from == to; {-1} when none).
  std::vector<int> route(int from, int to) const;
  // Edge ids from a GPU to its socket's host memory (offload traffic), and back.
  std::vector<int> route_to_host(int rank) const;
  std::vector<int> route_from_host(int rank) const;
  // The same, appending to `out` without allocating (false when there is no route).
  bool append_route(int from, int to, std::vector<int>& out) const;
  bool append_route_to_host(int rank, std::vector<int>& out) const;
  bool append_route_from_host(int rank, std::vector<int>& out) const;

  // Checks every rank reaches every other rank (and its host) along the routes above, and that a
  // graph built by hand (add_link) is connected. InputError naming the first unreachable pair.
  void validate() const;

 private:
  Vertex add_vertex(VertexKind kind, int node, std::string name, int level = 0);
  void add_link(Vertex a, Vertex b, LinkKind kind, double bandwidth_GBps, double latency_us);
  void add_directed(Vertex from, Vertex to, LinkKind kind, double bandwidth_GBps, double latency_us);
  void build_node(int node);
  void build_network();
  void build_node_routes();
  // Fastest path (least seconds per byte) between two vertices of one node, never through another GPU.
  bool append_route_in_node(Vertex from, Vertex to, std::vector<int>& out) const;
  bool append_route_in_network(Vertex nic_from, Vertex nic_to, std::vector<int>& out) const;

  ClusterSpec cluster_;
  TopologyLayout layout_;
  TopologyGraph graph_;
  std::vector<TopologyGraph::edge_descriptor> edges_;
  std::vector<Vertex> gpu_vertex_;          // by rank
  std::vector<Vertex> gpu_nic_;             // by rank: the NIC this GPU sends through
  std::vector<Vertex> gpu_host_;            // by rank: the host memory (socket DRAM) it offloads to
  std::vector<std::vector<Vertex>> node_vertices_;  // by node
  std::vector<Vertex> nic_leaf_;            // by vertex index (only NICs set): the leaf it hangs off
  std::vector<Vertex> leaf_spine_;          // by vertex index (only leaves set): spine, or -1
  std::vector<int> nic_up_edge_, nic_down_edge_;    // by vertex index: NIC -> leaf, leaf -> NIC
  std::vector<int> leaf_up_edge_, leaf_down_edge_;  // by vertex index: leaf -> spine, spine -> leaf
  int vertices_per_node_ = 0;
  int edges_per_node_ = 0;
  std::vector<std::vector<int>> node_routes_;  // node 0, by local (from, to)
  double intra_latency_us_ = 0;
  double inter_latency_us_ = 0;
};

}  // namespace zeroplan::sim
