#include "simulator/topology_presets.h"

#include <fmt/format.h>

#include "planner/error.h"
#include "planner/units.h"

namespace zeroplan::sim {

namespace {

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// HGX H100 / H200 8-GPU baseboard as in DGX H100 (NVIDIA DGX H100 User Guide, "Hardware Overview";
// HGX H100 datasheet):
//  - 4 third-generation NVSwitch chips; every GPU has 18 NVLink4 links spread over them (5/4/4/5), and
//    together they are a non-blocking crossbar: drawn as one logical switch vertex.
//  - 8 single-port ConnectX-7 400 Gb/s (NDR) compute NICs, one per GPU ("rails").
//  - GPUs and NICs sit in pairs behind 4 PCIe Gen5 switches (nvidia-smi topo -m on DGX H100: each GPU
//    shares a PCIe switch with one other GPU and two NICs).
//  - 2 Intel Xeon Platinum 8480C sockets; UPI 4 links x 16 GT/s ~ 4 x 32 GB/s per direction
//    (Intel Xeon Scalable 4th gen product brief; NOT VERIFIED by measurement).
//  - DDR5-4800, 8 channels per socket: 8 x 38.4 = 307 GB/s theoretical per socket.
//  - NVLink SHARP (NVLS): the gen3 NVSwitch reduces all-reduce data in the switch (NCCL >= 2.17).
TopologyLayout hgx_hopper(const char* gpu) {
  TopologyLayout L;
  L.description = fmt::format("HGX {} 8-GPU: NVSwitch gen3 (NVLS), 8 x 400 Gb/s NDR IB rails, 4 PCIe Gen5 switches, 2 sockets", gpu);
  L.nvswitches_per_node = 4;
  L.pcie_switches_per_node = 4;
  L.cpu_sockets_per_node = 2;
  L.nics_per_node = 8;
  L.pcie_switch_uplink_GBps = 50;  // PCIe Gen5 x16: 63 GB/s theoretical, ~50 GB/s achieved by DMA (estimators.md 4.4)
  L.socket_interconnect_GBps = 128;
  L.host_memory_GBps = 307;
  L.leaf_switch_down_ports = 32;   // Quantum-2 QM9700: 64 NDR ports, 32 down / 32 up in a non-blocking fat tree
  L.switch_hop_latency_us = 0.13;  // QM9700 port-to-port latency (NVIDIA Quantum-2 datasheet)
  L.nvswitch_reduction = true;
  return L;
}

// DGX A100 (NVIDIA DGX A100 User Guide; DGX A100 system architecture whitepaper):
//  - 6 second-generation NVSwitch chips; 12 NVLink3 links per GPU = 300 GB/s per direction.
//  - 8 single-port ConnectX-6 200 Gb/s HDR compute NICs; 4 PCIe Gen4 switches, each with 2 GPUs + 2 NICs.
//  - 2 AMD EPYC 7742 sockets; xGMI between them (~4 x 16 GT/s x16 links, NOT VERIFIED: 128 GB/s/dir).
//  - DDR4-3200, 8 channels per socket: 204.8 GB/s theoretical per socket.
//  - No NVLS (in-switch reduction arrived with Hopper's NVSwitch gen3).
TopologyLayout dgx_a100() {
  TopologyLayout L;
  L.description = "DGX A100: NVSwitch gen2, 8 x 200 Gb/s HDR IB rails, 4 PCIe Gen4 switches, 2 sockets";
  L.nvswitches_per_node = 6;
  L.pcie_switches_per_node = 4;
  L.cpu_sockets_per_node = 2;
  L.nics_per_node = 8;
  L.pcie_switch_uplink_GBps = 25;  // PCIe Gen4 x16: 31.5 theoretical, 25.13 GB/s measured (nvbandwidth #42)
  L.socket_interconnect_GBps = 128;
  L.host_memory_GBps = 204.8;
  L.leaf_switch_down_ports = 20;     // Quantum QM8700: 40 HDR ports, 20 down / 20 up
  L.switch_hop_latency_us = 0.13;
  return L;
}

// A workstation with consumer GPUs (e.g. 4 x RTX 4090): every GPU on its own PCIe 4.0 x16 slot of one
// CPU's root complex, no PCIe switch, and peer-to-peer disabled by the driver, so GPU-to-GPU traffic is
// written to and read back from host memory (NCCL's SHM transport; estimators.md 4.3, nccl-tests
// #269/#270). Host memory: 8-channel DDR4-3200 workstation platform (Threadripper PRO / EPYC class),
// 204.8 GB/s theoretical; we assume ~100 GB/s sustained for copies (NOT VERIFIED: `calibrate` measures it).
TopologyLayout pcie_workstation() {
  TopologyLayout L;
  L.description = "PCIe workstation: GPUs on one CPU root complex, no peer-to-peer (traffic relays through host memory)";
  L.pcie_switches_per_node = 0;
  L.cpu_sockets_per_node = 1;
  L.nics_per_node = 1;
  L.host_memory_GBps = 100;
  return L;
}

// CPU ranks (Gloo over shared memory / loopback on one machine): one socket; each rank's copy bandwidth is
// the GpuSpec's intra_node_bandwidth_GBps. 25 GB/s host copy bandwidth is a placeholder until `calibrate`
// measures the machine (NOT VERIFIED).
TopologyLayout cpu_host() {
  TopologyLayout L;
  L.description = "CPU ranks on one socket (Gloo over shared memory)";
  L.cpu_sockets_per_node = 1;
  L.nics_per_node = 1;
  L.host_memory_GBps = 25;
  return L;
}

// Anything else: NVLink boxes get one NIC per GPU (as on every DGX/HGX), PCIe boxes one NIC; two sockets
// for multi-GPU NVLink boxes. Host memory and UPI are assumptions (NOT VERIFIED), stated here.
TopologyLayout generic(const ClusterSpec& c) {
  TopologyLayout L;
  const bool nvlink = c.topology == "nvswitch" || c.topology == "nvlink";
  L.description = fmt::format("generic {} node ({} GPUs)", c.topology, c.gpus_per_node);
  L.nvswitches_per_node = c.topology == "nvswitch" ? 1 : 0;
  L.pcie_switches_per_node = 0;
  L.cpu_sockets_per_node = nvlink && c.gpus_per_node >= 4 ? 2 : 1;
  L.nics_per_node = nvlink ? c.gpus_per_node : 1;
  L.socket_interconnect_GBps = 64;
  L.host_memory_GBps = 150;
  return L;
}

}  // namespace

TopologyLayout preset_layout(const std::string& name) {
  if (name == "hgx-h100") return hgx_hopper("H100");
  if (name == "hgx-h200") return hgx_hopper("H200");
  if (name == "dgx-a100") return dgx_a100();
  if (name == "rtx4090-pcie") return pcie_workstation();
  if (name == "cpu") return cpu_host();
  throw InputError(fmt::format("unknown topology preset \"{}\"; known: hgx-h100, hgx-h200, dgx-a100, rtx4090-pcie, cpu", name));
}

std::vector<std::string> preset_names() { return {"hgx-h100", "hgx-h200", "dgx-a100", "rtx4090-pcie", "cpu"}; }

TopologyLayout layout_for(const ClusterSpec& c) {
  const std::string& gpu = c.gpu.name;
  if (c.topology == "cpu") return cpu_host();
  if (c.topology == "pcie-no-p2p") return pcie_workstation();
  if (c.topology == "nvswitch" && c.gpus_per_node == 8) {
    if (contains(gpu, "h100")) return hgx_hopper("H100");
    if (contains(gpu, "h200")) return hgx_hopper("H200");
    if (contains(gpu, "a100")) return dgx_a100();
  }
  return generic(c);
}

// GPU figures (estimators.md section 5 unless noted): dense bf16/fp16 TFLOPS from Megatron's
// gpu_peak_flops.py, memory bandwidth and NVLink per direction from ml-engineering's accelerator and
// network tables. Host link: PCIe pinned-memory figures of estimators.md 4.4. Step latencies: NCCL's
// Simple-protocol hwLat (NVLink 3.4 us, NET 9.6 us, PCI 5.7 us; tuning.cc, estimators.md 4.2).
ClusterSpec preset_cluster(const std::string& name, int nodes) {
  ClusterSpec c;
  c.nodes = nodes;
  GpuSpec& g = c.gpu;
  if (name == "hgx-h100" || name == "hgx-h200") {
    const bool h200 = name == "hgx-h200";
    g.name = h200 ? "h200-141gb" : "h100-80gb";
    g.display_name = h200 ? "H200 SXM 141GB" : "H100 SXM 80GB";
    g.memory_bytes = h200 ? 141000000000ull : 80ull * kGiB;
    g.peak_bf16_tflops = 989;
    g.peak_fp16_tflops = 989;
    g.peak_fp32_tflops = 67;  // non-tensor FP32 (H100 SXM datasheet)
    g.hbm_bandwidth_GBps = h200 ? 4800 : 3350;
    g.intra_node_bandwidth_GBps = 450;  // NVLink4, 18 x 25 GB/s per direction
    g.intra_node_nvlink = true;
    g.pcie_bandwidth_GBps = 50;         // Gen5 x16 pinned, 35-50 GB/s (nvbandwidth #24)
    c.gpus_per_node = 8;
    c.cpu_memory_bytes_per_node = 2048ull * kGiB;  // DGX H100: 2 TB
    c.inter_node_bandwidth_GBps = 400;  // 8 x 400 Gb/s = 8 x 50 GB/s
    c.intra_node_latency_us = 3.4;
    c.inter_node_latency_us = 9.6;
    c.topology = "nvswitch";
    c.name = fmt::format("{}x8-{}", nodes, g.name);
  } else if (name == "dgx-a100") {
    g.name = "a100-80gb";
    g.display_name = "A100 SXM 80GB";
    g.memory_bytes = 80ull * kGiB;
    g.peak_bf16_tflops = 312;
    g.peak_fp16_tflops = 312;
    g.peak_fp32_tflops = 19.5;
    g.hbm_bandwidth_GBps = 2039;
    g.intra_node_bandwidth_GBps = 300;  // NVLink3, 12 x 25 GB/s per direction
    g.intra_node_nvlink = true;
    g.pcie_bandwidth_GBps = 25;         // Gen4 x16 pinned, 25.13 GB/s measured (nvbandwidth #42)
    c.gpus_per_node = 8;
    c.cpu_memory_bytes_per_node = 1024ull * kGiB;  // DGX A100 640GB model: 1 TB (2 TB option)
    c.inter_node_bandwidth_GBps = 200;  // 8 x 200 Gb/s HDR = 8 x 25 GB/s
    c.intra_node_latency_us = 3.4;
    c.inter_node_latency_us = 9.6;
    c.topology = "nvswitch";
    c.name = fmt::format("{}x8-{}", nodes, g.name);
  } else if (name == "rtx4090-pcie") {
    g.name = "rtx4090-24gb";
    g.display_name = "RTX 4090 24GB";
    g.memory_bytes = 24ull * kGiB;
    g.peak_bf16_tflops = 165.2;  // with FP32 accumulate (estimators.md 5)
    g.peak_fp16_tflops = 165.2;
    g.peak_fp32_tflops = 82.6;
    g.hbm_bandwidth_GBps = 1008;
    g.intra_node_bandwidth_GBps = 0;  // no NVLink, P2P disabled
    g.pcie_bandwidth_GBps = 25;       // Gen4 x16 pinned (estimators.md 4.4)
    c.gpus_per_node = 4;
    c.cpu_memory_bytes_per_node = 256ull * kGiB;
    c.inter_node_bandwidth_GBps = 12.5;  // one 100 Gb/s NIC (assumption for multi-node workstations)
    c.intra_node_latency_us = 5.7;
    c.inter_node_latency_us = 9.6;
    c.topology = "pcie-no-p2p";
    c.name = fmt::format("{}x4-{}", nodes, g.name);
  } else if (name == "cpu") {
    g.name = "cpu";
    g.display_name = "CPU rank";
    g.kind = DeviceKind::kCpu;
    g.memory_bytes = 16ull * kGiB;
    g.peak_fp32_tflops = 0.5;  // placeholder: `calibrate` measures matmul throughput
    g.peak_bf16_tflops = 0.5;
    g.peak_fp16_tflops = 0.5;
    g.hbm_bandwidth_GBps = 25;
    g.intra_node_bandwidth_GBps = 10;  // per-rank shared-memory copy rate (placeholder, NOT VERIFIED)
    c.gpus_per_node = 4;
    c.cpu_memory_bytes_per_node = 64ull * kGiB;
    c.inter_node_bandwidth_GBps = 1.25;  // 10 GbE
    c.intra_node_latency_us = 20;        // Gloo shared-memory round (placeholder)
    c.inter_node_latency_us = 50;
    c.topology = "cpu";
    c.name = fmt::format("{}x4-cpu", nodes);
  } else {
    throw InputError(fmt::format("unknown cluster preset \"{}\"; known: hgx-h100, hgx-h200, dgx-a100, rtx4090-pcie, cpu", name));
  }
  return c;
}

}  // namespace zeroplan::sim
