#include "simulator/topology.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <utility>

#include "planner/error.h"

namespace zeroplan::sim {

namespace {

const Vertex kNoVertex = TopologyGraph::null_vertex();

// NCCL's per-step hardware latency for the Simple protocol (NVIDIA/nccl src/graph/tuning.cc, 2.8 era,
// hwLat table; shared/reference/estimators.md section 4.2), used when the cluster spec gives none.
constexpr double kDefaultNvLinkStepLatencyUs = 3.4;
constexpr double kDefaultPcieStepLatencyUs = 5.7;
constexpr double kDefaultNetStepLatencyUs = 9.6;

void require_positive(const ClusterSpec& c, const char* field, double value) {
  if (!(value > 0) || !std::isfinite(value)) {
    throw InputError(fmt::format("cluster {}: field \"{}\" must be > 0 (got {})", c.name, field, value));
  }
}

}  // namespace

const char* vertex_kind_name(VertexKind k) {
  switch (k) {
    case VertexKind::kGpu: return "gpu";
    case VertexKind::kNvSwitch: return "nvswitch";
    case VertexKind::kPcieSwitch: return "pcie_switch";
    case VertexKind::kCpuSocket: return "cpu_socket";
    case VertexKind::kHostMemory: return "host_memory";
    case VertexKind::kNic: return "nic";
    case VertexKind::kNetworkSwitch: return "network_switch";
  }
  return "?";
}

const char* link_kind_name(LinkKind k) {
  switch (k) {
    case LinkKind::kNvLink: return "nvlink";
    case LinkKind::kPcie: return "pcie";
    case LinkKind::kHostMemory: return "host_memory";
    case LinkKind::kNetwork: return "network";
  }
  return "?";
}

Topology::Topology(const ClusterSpec& cluster, const TopologyLayout& layout)
    : cluster_(cluster), layout_(layout) {
  const ClusterSpec& c = cluster_;
  if (c.nodes < 1) throw InputError(fmt::format("cluster {}: field \"nodes\" must be >= 1", c.name));
  if (c.gpus_per_node < 1) {
    throw InputError(fmt::format("cluster {}: field \"gpus_per_node\" must be >= 1", c.name));
  }
  const std::string& t = c.topology;
  if (t != "nvswitch" && t != "nvlink" && t != "pcie" && t != "pcie-no-p2p" && t != "cpu") {
    throw InputError(fmt::format(
        "cluster {}: field \"topology\" is \"{}\"; expected nvswitch, nvlink, pcie, pcie-no-p2p or cpu", c.name, t));
  }
  if (t == "cpu") {
    require_positive(c, "gpu.intra_node_bandwidth_GBps", c.gpu.intra_node_bandwidth_GBps);
  } else {
    require_positive(c, "gpu.pcie_bandwidth_GBps", c.gpu.pcie_bandwidth_GBps);
    if (c.gpus_per_node > 1 && (t == "nvswitch" || t == "nvlink")) {
      require_positive(c, "gpu.intra_node_bandwidth_GBps", c.gpu.intra_node_bandwidth_GBps);
    }
  }
  if (c.nodes > 1) require_positive(c, "inter_node_bandwidth_GBps", c.inter_node_bandwidth_GBps);
  if (c.intra_node_latency_us < 0 || c.inter_node_latency_us < 0) {
    throw InputError(fmt::format("cluster {}: latencies must be >= 0", c.name));
  }
  if (layout_.cpu_sockets_per_node < 1) {
    throw InputError(fmt::format("cluster {}: topology layout needs at least one CPU socket per node", c.name));
  }
  if (layout_.cpu_sockets_per_node > 1) {
    require_positive(c, "layout.socket_interconnect_GBps", layout_.socket_interconnect_GBps);
  }
  if (layout_.pcie_switches_per_node < 0 || layout_.nics_per_node < 0 || layout_.leaf_switch_down_ports < 1 ||
      !(layout_.oversubscription > 0)) {
    throw InputError(fmt::format("cluster {}: topology layout has a negative count or a zero port count", c.name));
  }
  // Offload traffic and no-P2P relays go through host memory: its bandwidth always matters.
  require_positive(c, "layout.host_memory_GBps", layout_.host_memory_GBps);

  intra_latency_us_ = c.intra_node_latency_us > 0
                          ? c.intra_node_latency_us
                          : (t == "nvswitch" || t == "nvlink" ? kDefaultNvLinkStepLatencyUs : kDefaultPcieStepLatencyUs);
  inter_latency_us_ = c.inter_node_latency_us > 0 ? c.inter_node_latency_us : kDefaultNetStepLatencyUs;

  const int ranks = c.nodes * c.gpus_per_node;
  gpu_vertex_.assign(ranks, kNoVertex);
  gpu_nic_.assign(ranks, kNoVertex);
  gpu_host_.assign(ranks, kNoVertex);
  node_vertices_.resize(c.nodes);
  for (int node = 0; node < c.nodes; ++node) {
    build_node(node);
    if (node == 0) {
      vertices_per_node_ = static_cast<int>(boost::num_vertices(graph_));
      edges_per_node_ = static_cast<int>(edges_.size());
    }
    ZP_ASSERT(static_cast<int>(boost::num_vertices(graph_)) == (node + 1) * vertices_per_node_ &&
                  static_cast<int>(edges_.size()) == (node + 1) * edges_per_node_,
              "every node must be built identically (routing relies on it)");
  }
  build_node_routes();
  if (c.nodes > 1) build_network();
  validate();
}

Vertex Topology::add_vertex(VertexKind kind, int node, std::string name, int level) {
  Vertex v = boost::add_vertex(graph_);
  graph_[v].kind = kind;
  graph_[v].node = node;
  graph_[v].level = level;
  graph_[v].name = std::move(name);
  if (node >= 0) node_vertices_[node].push_back(v);
  return v;
}

void Topology::add_directed(Vertex from, Vertex to, LinkKind kind, double bandwidth_GBps, double latency_us) {
  if (!(bandwidth_GBps > 0) || !std::isfinite(bandwidth_GBps)) {
    throw InputError(fmt::format("cluster {}: link {} -> {} has bandwidth {} GB/s; it must be > 0", cluster_.name,
                                 graph_[from].name, graph_[to].name, bandwidth_GBps));
  }
  LinkInfo info;
  info.kind = kind;
  info.bandwidth_GBps = bandwidth_GBps;
  info.latency_us = latency_us;
  info.id = static_cast<int>(edges_.size());
  auto [e, ok] = boost::add_edge(from, to, info, graph_);
  ZP_ASSERT(ok, "duplicate edge");
  edges_.push_back(e);
}

void Topology::add_link(Vertex a, Vertex b, LinkKind kind, double bandwidth_GBps, double latency_us) {
  add_directed(a, b, kind, bandwidth_GBps, latency_us);
  add_directed(b, a, kind, bandwidth_GBps, latency_us);
}

// One node. Per GPU, per direction figures come from the GpuSpec; the layout adds the switches.
//   nvswitch:    GPU <-NVLink-> NVSwitch (one logical crossbar), GPU/NIC <-PCIe-> PCIe switch <-> socket
//   nvlink:      GPU <-NVLink-> every other GPU (each pair gets 1/(g-1) of the GPU's NVLink bandwidth)
//   pcie:        GPU <-PCIe-> (switch) <-> socket; GPU-to-GPU traffic is peer-to-peer through the switch or
//                root complex (not through host memory), e.g. L40S / A10 servers without NVLink
//   pcie-no-p2p: GPU <-PCIe-> (switch) <-> socket; GPU-to-GPU traffic relays through host memory
//   cpu:         rank <-memory copy-> socket (ranks are processes; Gloo over shared memory/loopback)
void Topology::build_node(int node) {
  const ClusterSpec& c = cluster_;
  const TopologyLayout& L = layout_;
  const std::string& t = c.topology;
  const int g = c.gpus_per_node;
  const std::string prefix = fmt::format("n{}.", node);
  const bool device_is_cpu = t == "cpu";
  // Latencies: the Simple-protocol step latency of an intra-node GPU->GPU path is split over its hops.
  const double pcie_hop_latency_us =
      (t == "pcie" || t == "pcie-no-p2p" || device_is_cpu) ? intra_latency_us_ / 2 : 0.0;

  std::vector<Vertex> sockets;
  std::vector<Vertex> memories;
  for (int s = 0; s < L.cpu_sockets_per_node; ++s) {
    sockets.push_back(add_vertex(VertexKind::kCpuSocket, node, fmt::format("{}cpu{}", prefix, s)));
    // The socket's DRAM. Reads and writes share the memory bus, so each direction gets half of what
    // the socket sustains (host_memory_GBps is the combined copy bandwidth).
    memories.push_back(add_vertex(VertexKind::kHostMemory, node, fmt::format("{}mem{}", prefix, s)));
    add_link(sockets.back(), memories.back(), LinkKind::kHostMemory, L.host_memory_GBps / 2, 0.0);
  }
  for (int s = 1; s < L.cpu_sockets_per_node; ++s) {
    add_link(sockets[s - 1], sockets[s], LinkKind::kPcie, L.socket_interconnect_GBps, pcie_hop_latency_us);
  }
  std::vector<Vertex> pcie_switches;
  const int n_switches = device_is_cpu ? 0 : L.pcie_switches_per_node;
  for (int p = 0; p < n_switches; ++p) {
    Vertex sw = add_vertex(VertexKind::kPcieSwitch, node, fmt::format("{}pcie{}", prefix, p));
    pcie_switches.push_back(sw);
    Vertex socket = sockets[static_cast<size_t>(p) * sockets.size() / n_switches];
    const double uplink = L.pcie_switch_uplink_GBps > 0 ? L.pcie_switch_uplink_GBps : c.gpu.pcie_bandwidth_GBps;
    add_link(sw, socket, LinkKind::kPcie, uplink, 0.0);
  }
  // The vertex a device (GPU or NIC number i of `count`) hangs off on the PCIe side.
  auto pcie_parent = [&](int i, int count) -> Vertex {
    if (!pcie_switches.empty()) return pcie_switches[static_cast<size_t>(i) * pcie_switches.size() / count];
    return sockets[static_cast<size_t>(i) * sockets.size() / count];
  };

  std::vector<Vertex> gpus;
  for (int i = 0; i < g; ++i) {
    const int rank = node * g + i;
    Vertex v = add_vertex(VertexKind::kGpu, node, fmt::format("{}{}{}", prefix, device_is_cpu ? "rank" : "gpu", i));
    graph_[v].rank = rank;
    gpu_vertex_[rank] = v;
    gpus.push_back(v);
    if (device_is_cpu) {
      Vertex socket = sockets[static_cast<size_t>(i) * sockets.size() / g];
      add_link(v, socket, LinkKind::kHostMemory, c.gpu.intra_node_bandwidth_GBps, intra_latency_us_ / 2);
      gpu_host_[rank] = memories[static_cast<size_t>(i) * sockets.size() / g];
    } else {
      Vertex parent = pcie_parent(i, g);
      add_link(v, parent, LinkKind::kPcie, c.gpu.pcie_bandwidth_GBps, pcie_hop_latency_us);
      // The socket above this GPU (directly, or above its PCIe switch) and that socket's memory.
      const size_t socket_index = pcie_switches.empty()
                                      ? static_cast<size_t>(i) * sockets.size() / g
                                      : static_cast<size_t>(i) * pcie_switches.size() / g * sockets.size() /
                                            pcie_switches.size();
      gpu_host_[rank] = memories[socket_index];
    }
  }

  if (g > 1 && t == "nvswitch") {
    Vertex sw = add_vertex(VertexKind::kNvSwitch, node, prefix + "nvswitch");
    for (Vertex v : gpus) add_link(v, sw, LinkKind::kNvLink, c.gpu.intra_node_bandwidth_GBps, intra_latency_us_ / 2);
  } else if (g > 1 && t == "nvlink") {
    const double per_pair = c.gpu.intra_node_bandwidth_GBps / (g - 1);
    for (int i = 0; i < g; ++i) {
      for (int j = i + 1; j < g; ++j) add_link(gpus[i], gpus[j], LinkKind::kNvLink, per_pair, intra_latency_us_);
    }
  }

  if (c.nodes > 1) {
    const int nics = L.nics_per_node;
    for (int k = 0; k < nics; ++k) {
      Vertex nic = add_vertex(VertexKind::kNic, node, fmt::format("{}nic{}", prefix, k));
      Vertex parent = device_is_cpu ? sockets[static_cast<size_t>(k) * sockets.size() / nics] : pcie_parent(k, nics);
      const double nic_GBps = c.inter_node_bandwidth_GBps / nics;
      // The NIC's PCIe side is at least as fast as its wire (Gen5 x16 for NDR); the wire is the limit.
      add_link(nic, parent, device_is_cpu ? LinkKind::kHostMemory : LinkKind::kPcie,
               std::max(nic_GBps, device_is_cpu ? c.gpu.intra_node_bandwidth_GBps : c.gpu.pcie_bandwidth_GBps), 0.0);
    }
    // Each GPU sends through the NIC nearest to it: NIC i*nics/g (rail i on HGX: one NIC per GPU).
    for (int i = 0; i < g && nics > 0; ++i) {
      const int nic_index = static_cast<int>(static_cast<long>(i) * nics / g);
      int seen = 0;
      for (Vertex v : node_vertices_[node]) {
        if (graph_[v].kind == VertexKind::kNic && seen++ == nic_index) gpu_nic_[node * g + i] = v;
      }
    }
  }
}

// Two-level fat tree. Rail-optimised when nodes have several NICs: NIC k of every node in a block of
// `leaf_switch_down_ports` nodes hangs off the same leaf (the DGX SuperPOD wiring), so same-rail traffic
// between nearby nodes stays inside one leaf. Leaves connect to one logical spine (the spine layer drawn
// as a single non-blocking vertex) with up bandwidth = down bandwidth / oversubscription.
void Topology::build_network() {
  const ClusterSpec& c = cluster_;
  const TopologyLayout& L = layout_;
  const int nics = L.nics_per_node;
  if (nics == 0) return;  // validate() reports the disconnected nodes
  const double nic_GBps = c.inter_node_bandwidth_GBps / nics;
  const double nic_leaf_latency_us = inter_latency_us_ / 2;
  const int ports = L.leaf_switch_down_ports;
  const int node_blocks = nics > 1 ? (c.nodes + ports - 1) / ports : 1;
  // Leaf index for NIC k of node n.
  auto leaf_of = [&](int n, int k) {
    if (nics > 1) return (n / ports) * nics + k;
    return n / ports;
  };
  const int n_leaves = nics > 1 ? node_blocks * nics : (c.nodes + ports - 1) / ports;
  std::vector<Vertex> leaves;
  std::vector<int> leaf_nic_count(n_leaves, 0);
  for (int l = 0; l < n_leaves; ++l) {
    leaves.push_back(add_vertex(VertexKind::kNetworkSwitch, -1, fmt::format("leaf{}", l), 1));
  }
  nic_leaf_.assign(boost::num_vertices(graph_) + 1, kNoVertex);
  nic_up_edge_.assign(boost::num_vertices(graph_) + 1, -1);
  nic_down_edge_.assign(boost::num_vertices(graph_) + 1, -1);
  for (int n = 0; n < c.nodes; ++n) {
    int k = 0;
    for (Vertex v : node_vertices_[n]) {
      if (graph_[v].kind != VertexKind::kNic) continue;
      const int l = leaf_of(n, k++);
      add_link(v, leaves[l], LinkKind::kNetwork, nic_GBps, nic_leaf_latency_us);
      nic_leaf_[v] = leaves[l];
      nic_up_edge_[v] = static_cast<int>(edges_.size()) - 2;
      nic_down_edge_[v] = static_cast<int>(edges_.size()) - 1;
      ++leaf_nic_count[l];
    }
  }
  leaf_spine_.assign(boost::num_vertices(graph_) + 1, kNoVertex);
  leaf_up_edge_.assign(boost::num_vertices(graph_) + 1, -1);
  leaf_down_edge_.assign(boost::num_vertices(graph_) + 1, -1);
  if (n_leaves > 1) {
    Vertex spine = add_vertex(VertexKind::kNetworkSwitch, -1, "spine", 2);
    for (int l = 0; l < n_leaves; ++l) {
      if (leaf_nic_count[l] == 0) continue;
      add_link(leaves[l], spine, LinkKind::kNetwork, leaf_nic_count[l] * nic_GBps / L.oversubscription,
               L.switch_hop_latency_us);
      leaf_spine_[leaves[l]] = spine;
      leaf_up_edge_[leaves[l]] = static_cast<int>(edges_.size()) - 2;
      leaf_down_edge_[leaves[l]] = static_cast<int>(edges_.size()) - 1;
    }
  }
}

int Topology::count_vertices(VertexKind kind) const {
  int n = 0;
  for (auto v : boost::make_iterator_range(boost::vertices(graph_))) n += graph_[v].kind == kind;
  return n;
}

// Node-local routes come from a table computed once on node 0 (every node is built identically, so
// node k's vertices and edges are node 0's shifted by k times the per-node counts).
bool Topology::append_route_in_node(Vertex from, Vertex to, std::vector<int>& out) const {
  if (from == to) return true;
  const int node = graph_[from].node;
  const int per_node = vertices_per_node_;
  const int lf = static_cast<int>(from) - node * per_node;
  const int lt = static_cast<int>(to) - node * per_node;
  ZP_ASSERT(graph_[to].node == node && lf >= 0 && lt >= 0 && lf < per_node && lt < per_node,
            "route_in_node: vertices of different nodes");
  const std::vector<int>& local = node_routes_[static_cast<size_t>(lf) * per_node + lt];
  if (!local.empty() && local.front() == -1) return false;
  const int shift = node * edges_per_node_;
  for (int e : local) out.push_back(e + shift);
  return true;
}

// Dijkstra over node 0's vertices with cost = seconds per byte (sum of 1/bandwidth) plus a tiny
// per-hop term, so GPU pairs use NVLink rather than the PCIe switch they may also share. GPUs and NICs
// are never transit vertices. At most a few dozen vertices: O(V^2) per source is fine.
void Topology::build_node_routes() {
  const int per_node = vertices_per_node_;
  node_routes_.assign(static_cast<size_t>(per_node) * per_node, std::vector<int>{-1});
  constexpr double kInf = 1e300;
  for (int src = 0; src < per_node; ++src) {
    std::vector<double> cost(per_node, kInf);
    std::vector<int> via_edge(per_node, -1);
    std::vector<char> done(per_node, 0);
    cost[src] = 0;
    for (int iter = 0; iter < per_node; ++iter) {
      int u = -1;
      for (int v = 0; v < per_node; ++v) {
        if (!done[v] && cost[v] < kInf && (u < 0 || cost[v] < cost[u])) u = v;
      }
      if (u < 0) break;
      done[u] = 1;
      const VertexKind kind = graph_[u].kind;
      if (u != src && (kind == VertexKind::kGpu || kind == VertexKind::kNic)) continue;
      for (auto e : boost::make_iterator_range(boost::out_edges(u, graph_))) {
        const int v = static_cast<int>(boost::target(e, graph_));
        if (v >= per_node) continue;  // network side
        const double c = cost[u] + 1.0 / graph_[e].bandwidth_GBps + 1e-9;
        if (c < cost[v]) {
          cost[v] = c;
          via_edge[v] = graph_[e].id;
        }
      }
    }
    for (int dst = 0; dst < per_node; ++dst) {
      if (dst == src) {
        node_routes_[static_cast<size_t>(src) * per_node + dst].clear();
        continue;
      }
      if (cost[dst] >= kInf) continue;
      std::vector<int> path;
      for (int v = dst; v != src; v = static_cast<int>(link_source(path.back()))) path.push_back(via_edge[v]);
      std::reverse(path.begin(), path.end());
      node_routes_[static_cast<size_t>(src) * per_node + dst] = std::move(path);
    }
  }
}

bool Topology::append_route_in_network(Vertex nic_from, Vertex nic_to, std::vector<int>& out) const {
  Vertex leaf_a = nic_leaf_[nic_from];
  Vertex leaf_b = nic_leaf_[nic_to];
  if (leaf_a == kNoVertex || leaf_b == kNoVertex) return false;
  out.push_back(nic_up_edge_[nic_from]);
  if (leaf_a != leaf_b) {
    Vertex spine = leaf_spine_[leaf_a];
    if (spine == kNoVertex || leaf_spine_[leaf_b] != spine) return false;
    out.push_back(leaf_up_edge_[leaf_a]);
    out.push_back(leaf_down_edge_[leaf_b]);
  }
  out.push_back(nic_down_edge_[nic_to]);
  return true;
}

bool Topology::append_route(int from, int to, std::vector<int>& out) const {
  if (from == to) return true;
  Vertex a = gpu_vertex_.at(from);
  Vertex b = gpu_vertex_.at(to);
  const bool relay_through_host = cluster_.topology == "pcie-no-p2p";
  if (graph_[a].node == graph_[b].node) {
    if (!relay_through_host) return append_route_in_node(a, b, out);
    // No peer-to-peer: the sender writes to host memory, the receiver reads it (NCCL's SHM transport).
    // Across sockets the receiver reads the sender's memory over the socket interconnect.
    return append_route_in_node(a, gpu_host_[from], out) && append_route_in_node(gpu_host_[from], b, out);
  }
  Vertex nic_a = gpu_nic_[from];
  Vertex nic_b = gpu_nic_[to];
  if (nic_a == kNoVertex || nic_b == kNoVertex) return false;
  return append_route_in_node(a, nic_a, out) && append_route_in_network(nic_a, nic_b, out) &&
         append_route_in_node(nic_b, b, out);
}

bool Topology::append_route_to_host(int rank, std::vector<int>& out) const {
  return append_route_in_node(gpu_vertex_.at(rank), gpu_host_.at(rank), out);
}

bool Topology::append_route_from_host(int rank, std::vector<int>& out) const {
  return append_route_in_node(gpu_host_.at(rank), gpu_vertex_.at(rank), out);
}

std::vector<int> Topology::route(int from, int to) const {
  std::vector<int> out;
  if (!append_route(from, to, out)) return {-1};
  return out;
}

std::vector<int> Topology::route_to_host(int rank) const {
  std::vector<int> out;
  if (!append_route_to_host(rank, out)) return {-1};
  return out;
}

std::vector<int> Topology::route_from_host(int rank) const {
  std::vector<int> out;
  if (!append_route_from_host(rank, out)) return {-1};
  return out;
}

void Topology::validate() const {
  // Plain reachability over the whole graph first (catches hand-made layouts with no NICs, and
  // anything else left unconnected), then the routes the collectives use.
  const size_t n = boost::num_vertices(graph_);
  std::vector<char> seen(n, 0);
  std::deque<Vertex> queue{gpu_vertex_.at(0)};
  seen[gpu_vertex_[0]] = 1;
  while (!queue.empty()) {
    Vertex u = queue.front();
    queue.pop_front();
    for (auto e : boost::make_iterator_range(boost::out_edges(u, graph_))) {
      Vertex v = boost::target(e, graph_);
      if (!seen[v]) {
        seen[v] = 1;
        queue.push_back(v);
      }
    }
  }
  for (auto v : boost::make_iterator_range(boost::vertices(graph_))) {
    if (!seen[v]) {
      throw InputError(fmt::format("cluster {}: topology is disconnected: {} cannot reach {} ({} NICs per node)",
                                   cluster_.name, graph_[v].name, graph_[gpu_vertex_[0]].name, layout_.nics_per_node));
    }
  }
  auto check = [&](const std::vector<int>& path, int a, int b) {
    if (!path.empty() && path.front() == -1) {
      throw InputError(fmt::format("cluster {}: topology has no route from {} to {}", cluster_.name,
                                   graph_[gpu_vertex_[a]].name, graph_[gpu_vertex_[b]].name));
    }
  };
  // Every node is built the same way: checking node 0 fully and one cross-node pair per node suffices.
  const int g = cluster_.gpus_per_node;
  for (int a = 0; a < g; ++a) {
    for (int b = 0; b < g; ++b) check(route(a, b), a, b);
    check(route_to_host(a), a, a);
  }
  for (int node = 1; node < cluster_.nodes; ++node) {
    for (int i = 0; i < g; ++i) check(route(i, node * g + i), i, node * g + i);
  }
}

}  // namespace zeroplan::sim
