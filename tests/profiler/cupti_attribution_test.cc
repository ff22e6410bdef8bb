#include "profiler/cupti_attribution.h"

#include <gtest/gtest.h>

#include "profiler/fake_cupti_record_source.h"

namespace zeroplan::profiler {
namespace {

TEST(NcclKernelNames, RecognisedAndMappedToCollectives) {
  EXPECT_TRUE(is_nccl_kernel("ncclDevKernel_AllGather_RING_LL"));
  EXPECT_TRUE(is_nccl_kernel("ncclKernel_AllReduce_RING_LL_Sum_float"));
  EXPECT_FALSE(is_nccl_kernel("ampere_sgemm_128x64_nn"));
  EXPECT_EQ(nccl_op_from_kernel_name("ncclDevKernel_AllGather_RING_LL"), "all_gather");
  EXPECT_EQ(nccl_op_from_kernel_name("ncclDevKernel_ReduceScatter_Sum_f32_RING_LL"), "reduce_scatter");
  EXPECT_EQ(nccl_op_from_kernel_name("ncclKernel_AllReduce_RING_LL_Sum_float"), "all_reduce");
  EXPECT_EQ(nccl_op_from_kernel_name("ncclDevKernel_Reduce_Sum_f32_RING_LL"), "reduce");
  EXPECT_EQ(nccl_op_from_kernel_name("ncclDevKernel_Broadcast_RING_LL"), "broadcast");
  EXPECT_EQ(nccl_op_from_kernel_name("ncclDevKernel_Generic"), "unknown");
}

// The fake source correlates launches with the innermost pushed external id, as CUPTI does.
TEST(CuptiAttribution, NcclKernelsGoToTheirCollectiveThroughExternalIds) {
  FakeCuptiRecordSource source;
  ASSERT_EQ(source.start(), "");
  source.launch_kernel("ampere_sgemm_128x64_nn", 1000, 5000);  // compute, untagged
  source.push_external_id(1);
  source.launch_kernel("ncclDevKernel_ReduceScatter_Sum_f32_RING_LL", 6000, 9000, 20);
  source.pop_external_id();
  source.push_external_id(2);
  source.launch_kernel("ncclDevKernel_AllGather_RING_LL", 10000, 12000, 20);
  source.launch_kernel("ncclDevKernel_AllGather_RING_LL", 12500, 14500, 20);  // same collective, 2 kernels
  source.pop_external_id();
  source.launch_kernel("ncclDevKernel_AllReduce_Sum_f32_RING_LL", 20000, 21000, 20);  // untagged NCCL
  std::vector<CollectiveLaunch> launches = {{1, "reduce_scatter", 4096}, {2, "all_gather", 8192},
                                            {3, "broadcast", 16}};
  CuptiSummary s = attribute_cupti_records(source.flush(), launches);
  ASSERT_EQ(s.collectives.size(), 3u);
  EXPECT_EQ(s.collectives[0].kernels, 1);
  EXPECT_DOUBLE_EQ(s.collectives[0].kernel_s, 3000e-9);
  EXPECT_EQ(s.collectives[1].kernels, 2);
  EXPECT_DOUBLE_EQ(s.collectives[1].kernel_s, 4000e-9);
  EXPECT_EQ(s.collectives[1].first_start_ns, 10000u);
  EXPECT_EQ(s.collectives[1].last_end_ns, 14500u);
  EXPECT_EQ(s.collectives[2].kernels, 0);  // launched nothing on the GPU
  EXPECT_DOUBLE_EQ(s.kernel_s, (4000 + 3000 + 2000 + 2000 + 1000) * 1e-9);
  EXPECT_DOUBLE_EQ(s.nccl_kernel_s, (3000 + 2000 + 2000 + 1000) * 1e-9);
  EXPECT_EQ(s.unattributed_nccl_kernels, 1);
  EXPECT_DOUBLE_EQ(s.unattributed_nccl_s_by_op.at("all_reduce"), 1000e-9);
  // A flush hands records over once.
  EXPECT_TRUE(source.flush().kernels.empty());
}

TEST(CuptiAttribution, CorrelationRecordsFromOtherToolsAreIgnored) {
  CuptiRecords records;
  records.kernels.push_back({"ncclDevKernel_AllGather_RING_LL", 0, 100, 0, 1, 42});
  records.correlations.push_back({99, 42});  // an external id we never launched
  CuptiSummary s = attribute_cupti_records(records, {{1, "all_gather", 8}});
  EXPECT_EQ(s.collectives[0].kernels, 0);
  EXPECT_EQ(s.unattributed_nccl_kernels, 1);
}

TEST(CuptiAttribution, MemcpyTotalsAndDeviceHighWaterMarkFromMemory2) {
  CuptiRecords records;
  records.memcpys.push_back({"HtoD", 1 << 20, 0, 1000, 0, 7, 1});
  records.memcpys.push_back({"HtoD", 1 << 20, 2000, 2500, 0, 7, 2});
  records.memcpys.push_back({"DtoH", 4096, 3000, 3100, 0, 7, 3});
  // Out of time order on purpose: the replay sorts by timestamp.
  records.memory.push_back({false, 0xA000, 300, 40, 0, 0});  // release A at t=40
  records.memory.push_back({true, 0xA000, 300, 10, 0, 0});   // alloc A (300) at t=10
  records.memory.push_back({true, 0xB000, 500, 20, 0, 0});   // alloc B (500) at t=20 -> 800 live
  records.memory.push_back({true, 0xC000, 100, 50, 0, 0});   // alloc C at t=50 -> 600 live
  records.memory.push_back({true, 0xD000, 700, 30, 1, 0});   // device 1
  records.memory.push_back({false, 0xE000, 1, 60, 0, 0});    // never allocated
  CuptiSummary s = attribute_cupti_records(records, {});
  EXPECT_EQ(s.memcpy_by_kind.at("HtoD").bytes, 2u << 20);
  EXPECT_EQ(s.memcpy_by_kind.at("HtoD").count, 2);
  EXPECT_DOUBLE_EQ(s.memcpy_by_kind.at("HtoD").time_s, 1500e-9);
  EXPECT_EQ(s.memcpy_by_kind.at("DtoH").bytes, 4096u);
  EXPECT_EQ(s.device_peak_bytes.at(0), 800u);
  EXPECT_EQ(s.device_peak_bytes.at(1), 700u);
  EXPECT_EQ(s.unmatched_releases, 1u);
}

TEST(FakeCuptiRecordSource, CanRefuseToStartLikeABusyCupti) {
  FakeCuptiRecordSource source("CUPTI is already in use (another profiler is attached)");
  EXPECT_NE(source.start(), "");
  EXPECT_FALSE(source.started());
}

}  // namespace
}  // namespace zeroplan::profiler
