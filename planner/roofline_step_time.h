#pragma once
// The planner's own step-time model: a roofline used to rank candidates until (and wherever)
// simulator/'s topology-aware model is not injected. Every constant is named and derived in
// roofline_step_time.cc; the formulas are:
//
//   compute_s   = FLOPs / (kRooflineMfu * peak FLOP/s of the precision) / dp
//                 FLOPs = 6·P·tokens + 12·L·s²·d_attn·sequences   (+1/3 for checkpoint recompute)
//   comm_s      = per-rank collective bytes / bus bandwidth + per-collective latency
//                 (exposed part only: overlap_comm hides gradient reduction behind backward)
//   offload_s   = PCIe bytes per rank / pcie_bandwidth_GBps (not overlapped: conservative)
//   optimizer_s = Adam's memory traffic (28 B/param) over HBM, or over the node's CPU memory
//                 bandwidth when the optimizer is offloaded
//   total_s     = compute_s + comm_exposed_s + offload_s + optimizer_s
#include <cstdint>

#include "planner/step_time_model.h"

namespace zeroplan {

// Fraction of the GPU's dense peak that SFT matmuls achieve (model FLOPs utilisation).
// 0.40: ZeRO-Infinity reports 25 PFLOP/s on 512 V100 = "40% of peak"; ml-engineering's "maximum
// achievable FLOPS" puts tuned A100 LLM training at 150-180 of 312 TFLOP/s (0.48-0.58), and
// ZeRO's extra collectives and small SFT batches pull real runs below that. One constant for all GPUs.
inline constexpr double kRooflineMfu = 0.40;
// Adam's memory traffic per parameter: reads fp32 param, grad, momentum, variance (16 B) and writes
// param, momentum, variance (12 B) = 28 B; bound by memory bandwidth, not FLOPs.
inline constexpr double kAdamBytesPerParam = 28.0;
// CPU memory bandwidth available to DeepSpeedCPUAdam per node (a 2-socket server with 8-12 DDR4/5
// channels streams ~100-200 GB/s; we take the low end because the node also serves PCIe copies).
inline constexpr double kCpuMemoryBandwidth_GBps = 100.0;
// Fraction of compute during which exposed collectives can hide: backward is 2/3 of the FLOPs.
inline constexpr double kBackwardComputeFraction = 2.0 / 3.0;

// Per-step quantities the roofline derives from the model once (cached by the model).
struct RooflineModelTerms {
  double num_params = 0;         // P
  double attention_flops_per_sequence = 0;  // 12·L·s²·d_attn (forward + backward)
  std::int64_t num_layers = 0;
};

class RooflineStepTimeModel final : public StepTimeModel {
 public:
  StepTimeEstimate estimate(const PlanContext& context, const Candidate& candidate) const override;
  const char* name() const override { return "roofline"; }

 private:
  // Parameter counting walks every tensor; cache it per model shape (the search calls estimate()
  // with the same context ~1e3 times). Not thread-safe: one model per thread.
  const RooflineModelTerms& terms(const PlanContext& context) const;
  mutable RooflineModelTerms cached_;
  mutable std::uint64_t cached_key_ = 0;
};

// Peak dense FLOP/s of `context`'s GPU at its precision; InputError when the preset has none
// (e.g. bf16 on a V100).
double peak_flops_per_s(const PlanContext& context);
// Bus bandwidth per rank in bytes/s for collectives over all dp ranks: NVLink/PCIe within a node,
// min(intra, inter-node bandwidth / gpus_per_node) across nodes (each GPU's share of the NICs).
double collective_bandwidth_Bps(const ClusterSpec& cluster);

}  // namespace zeroplan
