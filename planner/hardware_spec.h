#pragma once
// GPUs and clusters. Every figure in configs/gpus/*.json carries its source in a "sources" field.
#include <cstdint>
#include <map>
#include <string>

namespace zeroplan {

enum class DeviceKind { kGpu, kCpu };

// Per-GPU-kind defaults for the machines such GPUs usually sit in (the "node" object of a GPU preset);
// a cluster file may override each.
struct NodeDefaults {
  std::uint64_t cpu_memory_bytes = 0;       // host RAM per node
  double inter_node_bandwidth_GBps = 0;     // per node, per direction (all NICs together)
  double inter_node_latency_us = 0;
  double intra_node_latency_us = 0;
  std::string topology;                     // "nvswitch", "nvlink", "pcie", "pcie-no-p2p", "cpu"
  int max_gpus_per_node = 8;
};

struct GpuSpec {
  std::string name;                  // "h100-80gb"
  std::string display_name;          // "H100 SXM 80GB"
  DeviceKind kind = DeviceKind::kGpu;
  std::uint64_t memory_bytes = 0;
  double peak_bf16_tflops = 0;       // dense, no sparsity
  double peak_fp16_tflops = 0;
  double peak_fp32_tflops = 0;
  double hbm_bandwidth_GBps = 0;
  double intra_node_bandwidth_GBps = 0;  // per GPU, per direction (NVLink or PCIe peer path)
  bool intra_node_nvlink = false;
  double pcie_bandwidth_GBps = 0;        // host <-> device, per direction
  // Per-rank overheads, named constants (estimators.md section 6), not buried in code:
  std::uint64_t cuda_context_bytes = 0;
  std::uint64_t nccl_buffer_bytes = 0;
  double allocator_fragmentation = 0;    // fraction of (activations + buffers) lost to the caching allocator
  NodeDefaults node;
  std::map<std::string, std::string> sources;  // figure -> where it comes from
};

struct ClusterSpec {
  std::string name;                  // "1x8-h100-80gb"
  int nodes = 1;
  int gpus_per_node = 1;
  GpuSpec gpu;
  std::uint64_t cpu_memory_bytes_per_node = 0;
  double inter_node_bandwidth_GBps = 0;  // per node, per direction (all NICs)
  double inter_node_latency_us = 0;
  double intra_node_latency_us = 0;
  std::string topology;              // "nvswitch", "nvlink", "pcie-no-p2p", "cpu"
  int world_size() const { return nodes * gpus_per_node; }
};

// CPU devices (kind "cpu") share their node's host memory: each of the node's gpus_per_node ranks gets
// cpu_memory_bytes_per_node / gpus_per_node as its device memory (floor). Call again after changing
// gpus_per_node or cpu_memory_bytes_per_node; GPUs are left alone.
void split_host_memory(ClusterSpec& cluster);

GpuSpec load_gpu_spec(const std::string& name_or_path, const std::string& configs_dir);
// NAME is a preset in configs/clusters/ or "NODESxGPUS-GPU" (e.g. 2x8-h100-80gb) built from a GPU
// preset; a path to a JSON file is read as a cluster file.
ClusterSpec load_cluster_spec(const std::string& name_or_path, const std::string& configs_dir);

const char* device_kind_name(DeviceKind k);  // "gpu" | "cpu"

}  // namespace zeroplan
