#include "planner/roofline_step_time.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "planner/error.h"

namespace zeroplan {
namespace {

std::uint64_t mix(std::uint64_t h, std::int64_t v) {  // FNV-1a over the 8 bytes of v
  for (int i = 0; i < 8; ++i) {
    h ^= static_cast<std::uint64_t>(v >> (8 * i)) & 0xffu;
    h *= 1099511628211ull;
  }
  return h;
}

std::uint64_t model_key(const PlanContext& c) {
  const ModelSpec& m = c.model;
  std::uint64_t h = 1469598103934665603ull;
  for (std::int64_t v : {m.hidden_size, m.intermediate_size, m.num_hidden_layers, m.num_attention_heads,
                         m.num_key_value_heads, m.head_dim, m.vocab_size,
                         static_cast<std::int64_t>(m.tie_word_embeddings), static_cast<std::int64_t>(m.qkv_bias),
                         static_cast<std::int64_t>(m.o_bias), static_cast<std::int64_t>(m.mlp_bias),
                         static_cast<std::int64_t>(m.architecture), c.training.seq_len}) {
    h = mix(h, v);
  }
  return h;
}

// Latency of one collective over dp ranks: a ring inside a node ((gpn-1) hops), a tree across
// nodes (2·log2(nodes) inter-node hops), as NCCL picks for large jobs (estimators.md 4.2).
double collective_latency_s(const ClusterSpec& cluster, std::int64_t dp) {
  if (dp <= 1) return 0;
  const double intra_s = cluster.intra_node_latency_us * 1e-6;
  if (cluster.nodes <= 1) return intra_s * static_cast<double>(dp - 1);
  const double inter_s = cluster.inter_node_latency_us * 1e-6;
  return intra_s * (cluster.gpus_per_node - 1) + inter_s * 2.0 * std::log2(static_cast<double>(cluster.nodes));
}

double ceil_div(double a, double b) { return std::ceil(a / std::max(b, 1.0)); }

}  // namespace

double peak_flops_per_s(const PlanContext& context) {
  const GpuSpec& gpu = context.cluster.gpu;
  double tflops = 0;
  const char* field = "";
  switch (context.training.precision) {
    case Precision::kBf16: tflops = gpu.peak_bf16_tflops; field = "peak_bf16_tflops"; break;
    case Precision::kFp16: tflops = gpu.peak_fp16_tflops; field = "peak_fp16_tflops"; break;
    case Precision::kFp32: tflops = gpu.peak_fp32_tflops; field = "peak_fp32_tflops"; break;
  }
  if (!(tflops > 0)) {
    throw InputError(fmt::format("{}: field \"{}\" is 0: this GPU has no {} peak (choose another --precision)",
                                 gpu.name, field, precision_name(context.training.precision)));
  }
  return tflops * 1e12;
}

double collective_bandwidth_Bps(const ClusterSpec& cluster) {
  double GBps = cluster.gpu.intra_node_bandwidth_GBps;
  if (cluster.nodes > 1) {
    const double nic_share_GBps = cluster.inter_node_bandwidth_GBps / std::max(cluster.gpus_per_node, 1);
    GBps = cluster.gpus_per_node > 1 ? std::min(GBps, nic_share_GBps) : nic_share_GBps;
  }
  if (!(GBps > 0)) {
    throw InputError(fmt::format("{}: field \"{}\" is 0, so collectives cannot be timed", cluster.name,
                                 cluster.nodes > 1 ? "inter_node_bandwidth_GBps" : "intra_node_bandwidth_GBps"));
  }
  return GBps * 1e9;
}

const RooflineModelTerms& RooflineStepTimeModel::terms(const PlanContext& context) const {
  const std::uint64_t key = model_key(context);
  if (key == cached_key_ && cached_.num_params > 0) return cached_;
  const ModelSpec& m = context.model;
  RooflineModelTerms t;
  t.num_params = static_cast<double>(count_params(m).total);
  t.num_layers = m.num_hidden_layers;
  const double head_dim = m.head_dim > 0 ? static_cast<double>(m.head_dim)
                                         : static_cast<double>(m.hidden_size) / std::max<std::int64_t>(m.num_attention_heads, 1);
  const double d_attn = static_cast<double>(m.num_attention_heads) * head_dim;
  const double s = static_cast<double>(context.training.seq_len);
  // Per layer forward: Q·Kᵀ (2·s²·d_attn FLOPs) + scores·V (2·s²·d_attn) = 4·s²·d_attn; backward
  // doubles it: 12·s²·d_attn per layer per sequence (Korthikanti et al. 2022 count, no causal halving).
  t.attention_flops_per_sequence = 12.0 * static_cast<double>(m.num_hidden_layers) * s * s * d_attn;
  cached_ = t;
  cached_key_ = key;
  return cached_;
}

StepTimeEstimate RooflineStepTimeModel::estimate(const PlanContext& context, const Candidate& c) const {
  const RooflineModelTerms& t = terms(context);
  const TrainingSpec& training = context.training;
  const ClusterSpec& cluster = context.cluster;
  const double P = t.num_params;
  const double N = static_cast<double>(std::max<std::int64_t>(c.dp, 1));
  const double gas = static_cast<double>(c.grad_accum);
  const double sequences = static_cast<double>(c.micro_batch * c.grad_accum) * N;  // = global batch
  const double tokens = sequences * static_cast<double>(training.seq_len);
  const double g = compute_dtype_bytes(training.precision);  // bytes per communicated element

  StepTimeEstimate e;
  // Compute. Training FLOPs = forward (2·P per token) + backward (4·P per token) = 6·P·tokens,
  // plus attention scores. Checkpointing re-runs the forward: x (6+2)/6 = 4/3.
  double flops = 6.0 * P * tokens + t.attention_flops_per_sequence * sequences;
  if (c.activation_checkpointing) flops *= 4.0 / 3.0;
  e.compute_s = flops / N / (kRooflineMfu * peak_flops_per_s(context));

  // Communication per rank, in bytes; f = (N-1)/N is the ring factor (ZeRO paper volumes:
  // reduce-scatter and all-gather move f·P elements each, all-reduce 2·f·P).
  const double f = (N - 1.0) / N;
  double hidden_bytes = 0;    // collectives that can overlap compute (overlap_comm / prefetch)
  double exposed_bytes = 0;   // collectives on the critical path
  double collectives = 0;     // count, for latency
  double window_s = 0;        // compute time the hidden collectives can hide behind
  const double grad_buckets = ceil_div(P, static_cast<double>(c.reduce_bucket_size));
  switch (c.zero_stage) {
    case 0:  // engine all-reduce of all gradients after the last backward
      exposed_bytes = 2.0 * f * P * g;
      collectives = grad_buckets;
      break;
    case 1:  // reduce gradients once per step (last micro-step), all-gather updated params
    case 2: {  // stage 2 reduce-scatters every micro-step (gradients are partitioned)
      const double reductions = c.zero_stage == 2 ? gas : 1.0;
      (c.overlap_comm ? hidden_bytes : exposed_bytes) += reductions * f * P * g;
      exposed_bytes += f * P * g;  // all_gather_into_tensor of the updated partitions
      collectives = reductions * grad_buckets + 1.0;
      window_s = e.compute_s * kBackwardComputeFraction * (reductions / gas);
      break;
    }
    case 3: {  // per micro-step: gather params for forward, backward (and recompute), reduce-scatter grads
      const double gathers = 2.0 + (c.activation_checkpointing ? 1.0 : 0.0);
      hidden_bytes += gas * gathers * f * P * g;  // prefetched ahead of use
      (c.overlap_comm ? hidden_bytes : exposed_bytes) += gas * f * P * g;
      const double gather_calls =
          std::max(static_cast<double>(t.num_layers), ceil_div(P, static_cast<double>(c.prefetch_bucket_size)));
      collectives = gas * (gathers * gather_calls + grad_buckets);
      window_s = e.compute_s;
      break;
    }
    default: ZP_ASSERT(false, "zero_stage must be 0..3");
  }
  if (c.dp > 1) {
    const double bw = collective_bandwidth_Bps(cluster);
    const double hidden_s = hidden_bytes / bw;
    e.comm_exposed_s = exposed_bytes / bw + std::max(0.0, hidden_s - window_s) +
                       collectives * collective_latency_s(cluster, c.dp);
  }

  // Offload traffic over PCIe, per rank (own partition P/N), not overlapped.
  const double partition = c.zero_stage >= 1 ? P / N : P;
  double pcie_bytes = 0;
  if (c.offload_optimizer == OffloadDevice::kCpu) {
    const double grad_copies = c.zero_stage >= 2 ? gas : 1.0;  // stage 2/3 move each micro-step's grads
    pcie_bytes += grad_copies * partition * g + partition * g;  // grads down, updated params up
  }
  if (c.offload_param == OffloadDevice::kCpu) {
    const double fetches = 2.0 + (c.activation_checkpointing ? 1.0 : 0.0);
    pcie_bytes += gas * fetches * partition * g;  // the partition goes up before each all-gather
  }
  if (pcie_bytes > 0) {
    ZP_ASSERT(cluster.gpu.pcie_bandwidth_GBps > 0, "pcie_bandwidth_GBps must be positive");
    e.offload_s = pcie_bytes / (cluster.gpu.pcie_bandwidth_GBps * 1e9);
  }

  // Optimizer: Adam streams kAdamBytesPerParam per parameter of the partition it updates.
  if (c.offload_optimizer == OffloadDevice::kCpu) {
    const double node_params = partition * cluster.gpus_per_node;  // all ranks of a node share its DRAM
    e.optimizer_s = node_params * kAdamBytesPerParam / (kCpuMemoryBandwidth_GBps * 1e9);
  } else {
    ZP_ASSERT(cluster.gpu.hbm_bandwidth_GBps > 0, "hbm_bandwidth_GBps must be positive");
    e.optimizer_s = partition * kAdamBytesPerParam / (cluster.gpu.hbm_bandwidth_GBps * 1e9);
  }

  e.total_s = e.compute_s + e.comm_exposed_s + e.offload_s + e.optimizer_s;
  e.tokens_per_s = e.total_s > 0 ? tokens / e.total_s : 0;
  return e;
}

}  // namespace zeroplan
