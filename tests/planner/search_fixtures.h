#pragma once
// Hand-built contexts for the search-side tests (independent of configs/ presets).
#include "planner/step_time_model.h"
#include "planner/units.h"

namespace zeroplan::testing {

// Llama-2-7B's shape (6,738,415,616 parameters).
inline ModelSpec llama2_7b_shape() {
  ModelSpec m;
  m.name = "llama-2-7b-test";
  m.architecture = Architecture::kLlama;
  m.hidden_size = 4096;
  m.intermediate_size = 11008;
  m.num_hidden_layers = 32;
  m.num_attention_heads = 32;
  m.num_key_value_heads = 32;
  m.head_dim = 128;
  m.vocab_size = 32000;
  m.max_position_embeddings = 4096;
  m.rms_norm_eps = 1e-5;
  return m;
}

// A small Llama (hidden 256, 4 layers): fits anywhere; good for exact arithmetic.
inline ModelSpec tiny_llama_shape() {
  ModelSpec m = llama2_7b_shape();
  m.name = "tiny-test";
  m.hidden_size = 256;
  m.intermediate_size = 688;
  m.num_hidden_layers = 4;
  m.num_attention_heads = 8;
  m.num_key_value_heads = 4;
  m.head_dim = 32;
  m.vocab_size = 1000;
  m.max_position_embeddings = 512;
  return m;
}

inline GpuSpec gpu_24gb() {
  GpuSpec g;
  g.name = "rtx4090-24gb";
  g.display_name = "RTX 4090";
  g.memory_bytes = 24ull * kGiB;
  g.peak_bf16_tflops = 165;
  g.peak_fp16_tflops = 165;
  g.peak_fp32_tflops = 82.6;
  g.hbm_bandwidth_GBps = 1008;
  g.intra_node_bandwidth_GBps = 20;
  g.pcie_bandwidth_GBps = 25;
  g.cuda_context_bytes = 400ull * kMiB;
  g.nccl_buffer_bytes = 600ull * kMiB;
  g.allocator_fragmentation = 0.05;
  return g;
}

inline PlanContext context_on(const ModelSpec& model, int nodes, int gpus_per_node, std::int64_t global_batch) {
  PlanContext c;
  c.model = model;
  c.cluster.name = "test";
  c.cluster.nodes = nodes;
  c.cluster.gpus_per_node = gpus_per_node;
  c.cluster.gpu = gpu_24gb();
  c.cluster.cpu_memory_bytes_per_node = 256ull * kGiB;
  c.cluster.inter_node_bandwidth_GBps = 50;
  c.cluster.inter_node_latency_us = 10;
  c.cluster.intra_node_latency_us = 5;
  c.cluster.topology = "pcie-no-p2p";
  c.training.seq_len = 2048;
  c.training.global_batch = global_batch;
  c.training.precision = Precision::kBf16;
  c.training.activation_checkpointing = Toggle::kAuto;
  c.training.attention = AttentionImpl::kSdpa;
  c.training.headroom_fraction = 0.90;
  return c;
}

}  // namespace zeroplan::testing
