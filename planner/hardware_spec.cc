#include "planner/hardware_spec.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <vector>

#include "planner/error.h"
#include "planner/json_fields.h"
#include "planner/units.h"

namespace zeroplan {
namespace {

namespace fs = std::filesystem;

// Every figure a GPU preset states must say where it comes from: "sources" is an object with one
// non-empty string per figure below (and no other keys).
const std::vector<std::string>& sourced_figures() {
  static const std::vector<std::string> figures = {
      "memory", "peak_bf16_tflops", "peak_fp16_tflops", "peak_fp32_tflops", "hbm_bandwidth_GBps",
      "intra_node_bandwidth_GBps", "pcie_bandwidth_GBps", "overhead", "node"};
  return figures;
}

std::string list_presets(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".json") names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  return list;
}

bool looks_like_path(const std::string& s) {
  return s.find('/') != std::string::npos || fs::path(s).extension() == ".json";
}

// MemTotal from /proc/meminfo, for the "cpu" device kind whose memory is the host's.
std::uint64_t host_memory_bytes(const std::string& source, const std::string& field) {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::uint64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit) {
    if (key == "MemTotal:") return kib * kKiB;
  }
  throw InputError(fmt::format("{}: field \"{}\" is \"host\" but /proc/meminfo has no MemTotal", source, field));
}

double positive_number(JsonFields& f, const std::string& key) {
  double v = f.number(key);
  if (v <= 0) f.fail(key, fmt::format("must be positive (got {})", v));
  return v;
}

double non_negative_number(JsonFields& f, const std::string& key) {
  double v = f.number(key);
  if (v < 0) f.fail(key, fmt::format("must not be negative (got {})", v));
  return v;
}

// "memory": "host" (CPU devices only): the memory of the machine zeroplan runs on.
bool is_host_memory(JsonFields& f, const std::string& key) {
  return f.has(key) && f.raw(key).is_string() && f.raw(key).get<std::string>() == "host";
}

NodeDefaults parse_node(JsonFields n, DeviceKind kind) {
  NodeDefaults d;
  if (kind == DeviceKind::kCpu && is_host_memory(n, "cpu_memory")) {
    d.cpu_memory_bytes = host_memory_bytes(n.source(), "node.cpu_memory");
  } else {
    d.cpu_memory_bytes = n.bytes("cpu_memory");
  }
  if (d.cpu_memory_bytes == 0) n.fail("cpu_memory", "must be positive");
  d.inter_node_bandwidth_GBps = positive_number(n, "inter_node_bandwidth_GBps");
  d.inter_node_latency_us = non_negative_number(n, "inter_node_latency_us");
  d.intra_node_latency_us = non_negative_number(n, "intra_node_latency_us");
  d.topology = n.string("topology");
  static const std::vector<std::string> topologies = {"nvswitch", "nvlink", "pcie", "pcie-no-p2p", "cpu"};
  if (std::find(topologies.begin(), topologies.end(), d.topology) == topologies.end()) {
    n.fail("topology", fmt::format("'{}' is not one of nvswitch, nvlink, pcie, pcie-no-p2p, cpu", d.topology));
  }
  d.max_gpus_per_node = static_cast<int>(n.positive_integer("max_gpus_per_node"));
  n.reject_unknown();
  return d;
}

GpuSpec parse_gpu_json(const nlohmann::json& j, const std::string& source) {
  JsonFields f(j, source);
  GpuSpec g;
  g.name = f.string("name");
  g.display_name = f.string("display_name");
  const std::string kind = f.string("kind");
  if (kind == "gpu") {
    g.kind = DeviceKind::kGpu;
  } else if (kind == "cpu") {
    g.kind = DeviceKind::kCpu;
  } else {
    f.fail("kind", fmt::format("'{}' is not gpu or cpu", kind));
  }
  if (g.kind == DeviceKind::kCpu && is_host_memory(f, "memory")) {
    // The whole host; a cluster splits it over the node's ranks (split_host_memory).
    g.memory_bytes = host_memory_bytes(source, "memory");
  } else {
    g.memory_bytes = f.bytes("memory");
  }
  if (g.memory_bytes == 0) f.fail("memory", "must be positive");
  // V100 has no bf16: 0 is allowed there (and the planner must not pick bf16 for it).
  g.peak_bf16_tflops = non_negative_number(f, "peak_bf16_tflops");
  g.peak_fp16_tflops = positive_number(f, "peak_fp16_tflops");
  g.peak_fp32_tflops = positive_number(f, "peak_fp32_tflops");
  g.hbm_bandwidth_GBps = positive_number(f, "hbm_bandwidth_GBps");
  g.intra_node_bandwidth_GBps = positive_number(f, "intra_node_bandwidth_GBps");
  g.intra_node_nvlink = f.boolean("intra_node_nvlink");
  g.pcie_bandwidth_GBps = positive_number(f, "pcie_bandwidth_GBps");
  {
    JsonFields o = f.object("overhead");
    g.cuda_context_bytes = o.bytes("cuda_context");
    g.nccl_buffer_bytes = o.bytes("nccl_buffers");
    g.allocator_fragmentation = o.number("allocator_fragmentation");
    if (g.allocator_fragmentation < 0 || g.allocator_fragmentation >= 1) {
      o.fail("allocator_fragmentation", "must be a fraction in [0, 1)");
    }
    o.reject_unknown();
  }
  g.node = parse_node(f.object("node"), g.kind);
  {
    JsonFields s = f.object("sources");
    for (const auto& figure : sourced_figures()) {
      std::string text = s.string(figure);
      if (text.empty()) s.fail(figure, "must name where the figure comes from");
      g.sources[figure] = text;
    }
    s.reject_unknown();
  }
  f.ignore("comment");
  f.reject_unknown();
  return g;
}

// "NODESxGPUS-GPU", e.g. "2x8-h100-80gb" -> (2, 8, "h100-80gb").
bool split_cluster_name(const std::string& name, int* nodes, int* gpus, std::string* gpu) {
  static const std::regex re(R"(^([0-9]+)x([0-9]+)-(.+)$)");
  std::smatch m;
  if (!std::regex_match(name, m, re)) return false;
  try {
    *nodes = std::stoi(m[1].str());
    *gpus = std::stoi(m[2].str());
  } catch (const std::exception&) {
    throw InputError(fmt::format("--cluster: '{}' has a node or GPU count that is too large", name));
  }
  *gpu = m[3].str();
  return true;
}

ClusterSpec cluster_from_gpu(const std::string& name, int nodes, int gpus_per_node, const GpuSpec& gpu,
                             const std::string& what) {
  if (nodes <= 0) throw InputError(fmt::format("{}: the number of nodes must be positive (got {})", what, nodes));
  if (gpus_per_node <= 0) {
    throw InputError(fmt::format("{}: the number of GPUs per node must be positive (got {})", what, gpus_per_node));
  }
  if (gpus_per_node > gpu.node.max_gpus_per_node) {
    throw InputError(fmt::format("{}: {} GPUs per node, but a {} node holds at most {}", what, gpus_per_node,
                                 gpu.name, gpu.node.max_gpus_per_node));
  }
  ClusterSpec c;
  c.name = name;
  c.nodes = nodes;
  c.gpus_per_node = gpus_per_node;
  c.gpu = gpu;
  c.cpu_memory_bytes_per_node = gpu.node.cpu_memory_bytes;
  c.inter_node_bandwidth_GBps = gpu.node.inter_node_bandwidth_GBps;
  c.inter_node_latency_us = gpu.node.inter_node_latency_us;
  c.intra_node_latency_us = gpu.node.intra_node_latency_us;
  c.topology = gpu.node.topology;
  split_host_memory(c);
  return c;
}

// A cluster file: {"name", "nodes", "gpus_per_node", "gpu": PRESET-or-path, optional overrides of the
// GPU preset's node defaults: "cpu_memory", "inter_node_bandwidth_GBps", "inter_node_latency_us",
// "intra_node_latency_us", "topology"; "comment"}.
ClusterSpec parse_cluster_file(const std::string& path, const std::string& configs_dir) {
  auto j = read_json_file(path);
  JsonFields f(j, path);
  const std::string name = f.optional_string("name", fs::path(path).stem().string());
  const auto nodes = f.positive_integer("nodes");
  const auto gpus = f.positive_integer("gpus_per_node");
  std::string gpu_ref = f.string("gpu");
  // A relative GPU path is relative to the cluster file.
  if (looks_like_path(gpu_ref) && fs::path(gpu_ref).is_relative()) {
    gpu_ref = (fs::path(path).parent_path() / gpu_ref).string();
  }
  GpuSpec gpu;
  try {
    gpu = load_gpu_spec(gpu_ref, configs_dir);
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}: field \"gpu\": {}", path, e.what()));
  }
  if (nodes > 1000000 || gpus > 1000000) f.fail("nodes", "is too large");
  ClusterSpec c = cluster_from_gpu(name, static_cast<int>(nodes), static_cast<int>(gpus), gpu, path);
  if (c.gpu.kind == DeviceKind::kCpu && is_host_memory(f, "cpu_memory")) {
    c.cpu_memory_bytes_per_node = host_memory_bytes(path, "cpu_memory");
  } else if (f.has("cpu_memory")) {
    c.cpu_memory_bytes_per_node = f.bytes("cpu_memory");
  }
  if (f.has("inter_node_bandwidth_GBps")) c.inter_node_bandwidth_GBps = positive_number(f, "inter_node_bandwidth_GBps");
  if (f.has("inter_node_latency_us")) c.inter_node_latency_us = non_negative_number(f, "inter_node_latency_us");
  if (f.has("intra_node_latency_us")) c.intra_node_latency_us = non_negative_number(f, "intra_node_latency_us");
  if (f.has("topology")) c.topology = f.string("topology");
  f.ignore("comment");
  f.reject_unknown();
  split_host_memory(c);
  return c;
}

}  // namespace

const char* device_kind_name(DeviceKind k) { return k == DeviceKind::kGpu ? "gpu" : "cpu"; }

// A CPU rank's "device memory" is its share of the host: host / ranks per node. Offloaded states
// (the CPU side of the plan) live in the same host memory; the fit check adds both up once
// (node_host_bytes in memory_model.h), so neither is counted twice nor allowed past the host.
void split_host_memory(ClusterSpec& cluster) {
  if (cluster.gpu.kind != DeviceKind::kCpu) return;
  ZP_ASSERT(cluster.gpus_per_node > 0, "split_host_memory needs ranks per node");
  cluster.gpu.memory_bytes = cluster.cpu_memory_bytes_per_node / static_cast<std::uint64_t>(cluster.gpus_per_node);
}

GpuSpec load_gpu_spec(const std::string& name_or_path, const std::string& configs_dir) {
  std::error_code ec;
  if (fs::is_regular_file(name_or_path, ec) || looks_like_path(name_or_path)) {
    return parse_gpu_json(read_json_file(name_or_path), name_or_path);
  }
  const fs::path dir = fs::path(configs_dir) / "gpus";
  const fs::path preset = dir / (name_or_path + ".json");
  if (!fs::exists(preset, ec)) {
    throw InputError(fmt::format("GPU '{}' is not a preset ({})", name_or_path, list_presets(dir)));
  }
  GpuSpec g = parse_gpu_json(read_json_file(preset.string()), preset.string());
  if (g.name != name_or_path) {
    throw InputError(fmt::format("{}: field \"name\" is '{}' but the file is named '{}'", preset.string(), g.name,
                                 name_or_path));
  }
  return g;
}

ClusterSpec load_cluster_spec(const std::string& name_or_path, const std::string& configs_dir) {
  std::error_code ec;
  if (fs::is_regular_file(name_or_path, ec) || looks_like_path(name_or_path)) {
    return parse_cluster_file(name_or_path, configs_dir);
  }
  const fs::path preset = fs::path(configs_dir) / "clusters" / (name_or_path + ".json");
  if (fs::exists(preset, ec)) return parse_cluster_file(preset.string(), configs_dir);
  int nodes = 0;
  int gpus = 0;
  std::string gpu_name;
  if (!split_cluster_name(name_or_path, &nodes, &gpus, &gpu_name)) {
    throw InputError(fmt::format(
        "--cluster: '{}' is not NODESxGPUS-GPU (like 1x8-h100-80gb), a preset in {} or a JSON file", name_or_path,
        (fs::path(configs_dir) / "clusters").string()));
  }
  GpuSpec gpu;
  try {
    gpu = load_gpu_spec(gpu_name, configs_dir);
  } catch (const InputError& e) {
    throw InputError(fmt::format("--cluster {}: {}", name_or_path, e.what()));
  }
  return cluster_from_gpu(name_or_path, nodes, gpus, gpu, fmt::format("--cluster {}", name_or_path));
}

}  // namespace zeroplan
