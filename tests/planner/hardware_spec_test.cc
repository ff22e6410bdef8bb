#include "planner/hardware_spec.h"

#include <gtest/gtest.h>

#include <string>

#include "planner/error.h"
#include "planner/units.h"

namespace zeroplan {
namespace {

const std::string kConfigs = std::string(ZEROPLAN_SOURCE_DIR) + "/configs";
const std::string kFixtures = std::string(ZEROPLAN_SOURCE_DIR) + "/tests/planner/fixtures";

TEST(GpuPresets, AllLoadWithSources) {
  for (const char* name : {"a100-40gb", "a100-80gb", "h100-80gb", "h200-141gb", "l40s-48gb", "rtx3090-24gb",
                           "rtx4090-24gb", "a10-24gb", "v100-32gb"}) {
    SCOPED_TRACE(name);
    GpuSpec g = load_gpu_spec(name, kConfigs);
    EXPECT_EQ(g.name, name);
    EXPECT_EQ(g.kind, DeviceKind::kGpu);
    EXPECT_GT(g.memory_bytes, 20 * kGiB);
    EXPECT_GT(g.peak_fp16_tflops, 0);
    EXPECT_GT(g.hbm_bandwidth_GBps, 0);
    EXPECT_GT(g.cuda_context_bytes, 0u);
    EXPECT_GT(g.nccl_buffer_bytes, 0u);
    EXPECT_GT(g.allocator_fragmentation, 0);
    EXPECT_GT(g.node.cpu_memory_bytes, 0u);
    EXPECT_EQ(g.sources.size(), 9u);
    for (const auto& [figure, text] : g.sources) EXPECT_FALSE(text.empty()) << figure;
  }
}

TEST(GpuPresets, H100Figures) {
  GpuSpec g = load_gpu_spec("h100-80gb", kConfigs);
  EXPECT_EQ(g.memory_bytes, 81559ull * kMiB);
  EXPECT_DOUBLE_EQ(g.peak_bf16_tflops, 989);
  EXPECT_DOUBLE_EQ(g.intra_node_bandwidth_GBps, 450);
  EXPECT_TRUE(g.intra_node_nvlink);
  EXPECT_EQ(g.cuda_context_bytes, 400 * kMiB);
  EXPECT_EQ(g.nccl_buffer_bytes, kGiB);
  EXPECT_EQ(g.node.topology, "nvswitch");
  GpuSpec v100 = load_gpu_spec("v100-32gb", kConfigs);
  EXPECT_EQ(v100.peak_bf16_tflops, 0);  // no bf16 on Volta
}

TEST(Clusters, GenericNames) {
  ClusterSpec c = load_cluster_spec("1x4-rtx4090-24gb", kConfigs);
  EXPECT_EQ(c.nodes, 1);
  EXPECT_EQ(c.gpus_per_node, 4);
  EXPECT_EQ(c.world_size(), 4);
  EXPECT_EQ(c.gpu.name, "rtx4090-24gb");
  EXPECT_EQ(c.topology, "pcie-no-p2p");
  EXPECT_EQ(c.cpu_memory_bytes_per_node, 128 * kGiB);
  ClusterSpec big = load_cluster_spec("64x8-h100-80gb", kConfigs);
  EXPECT_EQ(big.world_size(), 512);
  EXPECT_DOUBLE_EQ(big.inter_node_bandwidth_GBps, 400);
  EXPECT_EQ(big.cpu_memory_bytes_per_node, 2'000'000'000'000ull);
  EXPECT_EQ(load_cluster_spec("1x8-h200-141gb", kConfigs).gpu.memory_bytes, 143771ull * kMiB);
}

TEST(Clusters, FileWithOverrides) {
  ClusterSpec c = load_cluster_spec(kFixtures + "/cluster_lab.json", kConfigs);
  EXPECT_EQ(c.name, "lab-2x4-a10");
  EXPECT_EQ(c.world_size(), 8);
  EXPECT_EQ(c.cpu_memory_bytes_per_node, 256 * kGiB);
  EXPECT_DOUBLE_EQ(c.inter_node_bandwidth_GBps, 3.125);
  EXPECT_DOUBLE_EQ(c.intra_node_latency_us, c.gpu.node.intra_node_latency_us);  // not overridden
}

TEST(Clusters, PresetFileInConfigs) {
  ClusterSpec c = load_cluster_spec("example-lab", kConfigs);
  EXPECT_EQ(c.name, "example-lab");
  EXPECT_EQ(c.world_size(), 8);
  EXPECT_EQ(c.gpu.name, "a10-24gb");
}

TEST(Devices, CpuKindReadsHostMemory) {
  GpuSpec g = load_gpu_spec(kFixtures + "/device_cpu_host.json", kConfigs);
  EXPECT_EQ(g.kind, DeviceKind::kCpu);
  EXPECT_GT(g.memory_bytes, 256 * kMiB);  // MemTotal of this machine
  EXPECT_STREQ(device_kind_name(g.kind), "cpu");
}

void expect_error(void (*load)(const std::string&), const std::string& arg, const std::string& part1,
                  const std::string& part2) {
  try {
    load(arg);
    FAIL() << "no InputError for " << arg;
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(part1), std::string::npos) << msg;
    EXPECT_NE(msg.find(part2), std::string::npos) << msg;
  }
}

void gpu(const std::string& a) { load_gpu_spec(a, kConfigs); }
void cluster(const std::string& a) { load_cluster_spec(a, kConfigs); }

TEST(HardwareErrors, EachNamesFileAndField) {
  expect_error(gpu, kFixtures + "/gpu_unknown_key.json", "gpu_unknown_key.json", "\"memroy_typo\"");
  expect_error(gpu, kFixtures + "/gpu_memory_no_unit.json", "gpu_memory_no_unit.json", "\"memory\"");
  expect_error(gpu, kFixtures + "/gpu_memory_no_unit.json", "gpu_memory_no_unit.json", "no unit");
  expect_error(gpu, kFixtures + "/gpu_nccl_bare_number.json", "gpu_nccl_bare_number.json",
               "\"overhead.nccl_buffers\"");
  expect_error(gpu, kFixtures + "/gpu_missing_source.json", "gpu_missing_source.json", "\"sources.memory\"");
  expect_error(gpu, "b200-192gb", "b200-192gb", "h100-80gb");  // not a preset; lists the presets
  expect_error(cluster, kFixtures + "/cluster_bad_key.json", "cluster_bad_key.json", "\"cpu_memroy\"");
  expect_error(cluster, "1x16-h100-80gb", "1x16-h100-80gb", "at most 8");
  expect_error(cluster, "0x8-h100-80gb", "0x8-h100-80gb", "nodes must be positive");
  expect_error(cluster, "1x8-h100", "h100", "not a preset");
  expect_error(cluster, "eight-h100s", "eight-h100s", "NODESxGPUS-GPU");
  expect_error(cluster, "99999999999x8-h100-80gb", "99999999999x8", "too large");
}

}  // namespace
}  // namespace zeroplan
