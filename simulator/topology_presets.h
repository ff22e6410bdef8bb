#pragma once
// Layouts of real boxes (how many NVSwitches, PCIe switches, sockets and NICs a node has) and, for
// tests and benchmarks that must not depend on configs/, complete ClusterSpecs of those boxes.
// Every figure carries its source in topology_presets.cc.
#include <string>
#include <vector>

#include "planner/hardware_spec.h"
#include "simulator/topology.h"

namespace zeroplan::sim {

// The layout for a cluster: picked from the GPU preset name and the topology string
//   nvswitch + h100/h200 -> HGX H100/H200 8-GPU;  nvswitch + a100 -> DGX A100;
//   pcie-no-p2p -> a workstation with the GPUs on one CPU's root complex;  cpu -> one socket;
//   anything else -> a generic node (one NIC per GPU for NVLink boxes, one NIC otherwise).
TopologyLayout layout_for(const ClusterSpec& cluster);

// Named presets: "hgx-h100", "hgx-h200", "dgx-a100", "rtx4090-pcie", "cpu".
TopologyLayout preset_layout(const std::string& name);
std::vector<std::string> preset_names();

// A complete cluster of `nodes` preset boxes (GPU figures included), e.g. preset_cluster("hgx-h100", 64).
ClusterSpec preset_cluster(const std::string& name, int nodes);

}  // namespace zeroplan::sim
