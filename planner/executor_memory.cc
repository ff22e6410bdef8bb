#include "planner/executor_memory.h"

#include <algorithm>
#include <string>

#include "planner/error.h"

namespace zeroplan {
namespace {

using u64 = std::uint64_t;

u64 u(std::int64_t v) { return static_cast<u64>(v); }

// The unit (stage 3 gathering group) of a parameter, as executor/zero/make_engine.cc llama_units:
// embed_tokens 0, model.layers.i -> 1 + i, the rest (final norm, lm_head) the head unit L + 1.
int unit_of(const std::string& name, std::int64_t layers) {
  static const std::string kEmbed = "model.embed_tokens.", kLayers = "model.layers.";
  if (name.rfind(kEmbed, 0) == 0) return 0;
  if (name.rfind(kLayers, 0) == 0) return 1 + std::stoi(name.substr(kLayers.size()));
  return static_cast<int>(layers) + 1;
}

}  // namespace

// executor/zero/bucket_layout.cc, arithmetic only: parameters in model order (stage 3: the
// non-persistent ones grouped by unit first, then the persistent ones, numel <
// param_persistence_threshold, in one group), cut walking BACKWARDS into buckets of at most
// reduce_bucket_size elements (a larger parameter alone) that never span two groups; each bucket
// padded to round_up(numel, shards x alignment), at least one such unit. shards = 1 at stage 0,
// dp otherwise; rank r owns slice r of every bucket.
ExecutorLayout executor_layout(const ModelSpec& model, const Candidate& c) {
  const int stage = c.zero_stage;
  const auto tensors = model_tensors(model);
  const int persistent_group = static_cast<int>(model.num_hidden_layers) + 2;
  struct Spec {
    std::int64_t numel;
    int group;
    bool persistent;
  };
  std::vector<Spec> specs;
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& t : tensors) {
      const bool persistent = stage == 3 && u(t.numel()) < c.param_persistence_threshold;
      if (persistent != (pass == 1)) continue;
      const int group = stage != 3 ? 0 : persistent ? persistent_group : unit_of(t.name, model.num_hidden_layers);
      specs.push_back({t.numel(), group, persistent});
    }
  }
  const u64 shards = stage == 0 ? 1 : u(c.dp);
  const u64 unit = shards * u(kExecutorAlignment);
  const u64 bucket_elems = std::max<u64>(c.reduce_bucket_size, 1);
  ExecutorLayout out;
  std::vector<u64> unit_elems(static_cast<std::size_t>(persistent_group) + 1, 0);
  auto close = [&](u64 numel, int group, bool persistent) {
    const u64 padded = std::max(unit, (numel + unit - 1) / unit * unit);
    ++out.buckets;
    out.last_shard = padded / shards;  // the walk ends with the embedding's bucket
    out.total += padded;
    out.max_bucket = std::max(out.max_bucket, padded);
    if (persistent) out.persistent += padded;
    unit_elems[static_cast<std::size_t>(group)] += padded;
  };
  u64 contents = 0;
  int group = -1;
  bool persistent = false;
  for (std::size_t k = specs.size(); k-- > 0;) {
    const Spec& s = specs[k];
    if (group == s.group && contents + u(s.numel) <= bucket_elems) {
      contents += u(s.numel);
      continue;
    }
    if (group >= 0) close(contents, group, persistent);
    contents = u(s.numel);
    group = s.group;
    persistent = s.persistent;
  }
  if (group >= 0) close(contents, group, persistent);
  out.partition = out.total / shards;
  out.max_shard = out.max_bucket / shards;
  for (int g = 0; g < persistent_group; ++g) out.largest_unit = std::max(out.largest_unit, unit_elems[g]);
  // The head unit reads lm_head, or the embedding when tied (make_engine.cc llama_units).
  out.head_unit = unit_elems[static_cast<std::size_t>(persistent_group - 1)] +
                  (model.tie_word_embeddings && stage == 3 ? unit_elems[0] : 0);
  return out;
}

// Ψ = parameters, c = model dtype bytes (2 for bf16/fp16, 4 for fp32), lowp = 16-bit training.
//
// Stage 0 on one rank: SingleProcessEngine (executor/train/single_process_engine.cc). One flat
// buffer per state, no padding:
//   params            fp32 master 4Ψ (the fp32 parameters are views of it)
//                     + lowp: the model-dtype parameters cΨ (views of one flat buffer)
//   gradients         fp32 4Ψ (fp32: autograd accumulates into it; lowp: the micro-steps are summed
//                     into it) + lowp: the model-dtype buffer autograd writes, cΨ
//   optimizer_states  exp_avg 4Ψ + exp_avg_sq 4Ψ
// fp32: 4 / 4 / 8 = 16 B/param; bf16: 6 / 6 / 8 = 20 B/param (DeepSpeed's 2 / 2 / 12 = 16 has no
// fp32 gradient buffer and charges the master to the optimizer).
//
// More ranks, or stages 1-3: ShardedEngine, the table of executor/zero/README.md with N, P
// (executor_layout): elements, bytes = elements x dtype:
//   stage  params             gradients                    optimizer_states
//   0      cN                 4N (fp32 accumulator)        (lowp: 4N master) + 8N
//   1      cN                 4N + (lowp: cN) + 4P         12P (master, exp_avg, exp_avg_sq)
//   2      cN                 4P                           12P
//   3      cP + c Pst         4P                           12P
// Offloaded states (optimizer: the 12P and the 4P gradient partition; param: the cP partition) are
// charged to their own categories by the executor; on CPU ranks they are the same host memory, so
// they stay in the rank's figures; on GPUs they move to the node's CPU side.
ModelStates executor_model_states(const ModelSpec& model, const Candidate& c, Precision precision, bool cpu_ranks) {
  const u64 cb = u(compute_dtype_bytes(precision));
  const bool lowp = precision != Precision::kFp32;
  ModelStates m;
  if (c.zero_stage == 0 && c.dp == 1) {
    const u64 psi = u(count_params(model).total);
    m.gpu_params = 4 * psi + (lowp ? cb * psi : 0);
    m.gpu_gradients = 4 * psi + (lowp ? cb * psi : 0);
    m.gpu_optimizer_states = 8 * psi;
    return m;
  }
  check_offload_combination(c.zero_stage, c.offload_optimizer, c.offload_param, "candidate");
  const ExecutorLayout l = executor_layout(model, c);
  const u64 N = l.total, P = l.partition;
  u64 offloaded_params = 0, offloaded_grads = 0, offloaded_opt = 0;
  switch (c.zero_stage) {
    case 0:
      m.gpu_params = cb * N;
      m.gpu_gradients = 4 * N;
      m.gpu_optimizer_states = (lowp ? 4 * N : 0) + 8 * N;
      break;
    case 1:
      m.gpu_params = cb * N;
      m.gpu_gradients = 4 * N + (lowp ? cb * N : 0) + 4 * P;
      m.gpu_optimizer_states = 12 * P;
      offloaded_grads = 4 * P;
      break;
    case 2:
      m.gpu_params = cb * N;
      m.gpu_gradients = 4 * P;
      m.gpu_optimizer_states = 12 * P;
      offloaded_grads = 4 * P;
      break;
    default:
      m.gpu_params = cb * P + cb * l.persistent;
      m.gpu_gradients = 4 * P;
      m.gpu_optimizer_states = 12 * P;
      offloaded_grads = 4 * P;
      offloaded_params = cb * P;
      break;
  }
  if (cpu_ranks) return m;  // offloaded or not, it is this rank's host memory
  if (c.offload_optimizer == OffloadDevice::kCpu) {
    m.gpu_gradients -= offloaded_grads;
    m.cpu_gradients = offloaded_grads;
    m.cpu_optimizer_states = m.gpu_optimizer_states;
    m.gpu_optimizer_states = 0;
    offloaded_opt = m.cpu_optimizer_states;
  }
  if (c.offload_param == OffloadDevice::kCpu) {
    m.gpu_params -= offloaded_params;
    m.cpu_params = offloaded_params;
  }
  (void)offloaded_opt;
  return m;
}

// Stage 0 on one rank: no communication, so no buckets. ShardedEngine (README table), K = 1 +
// overlap_comm bucket buffers:
//   stage 0: K B c (all-reduce in place)        stages 2/3: K (B + S) c (+ the reduce_scatter outputs)
//   stage 1: none persistent (one reduce_scatter per bucket at the boundary)
// Step-time transients (measured on 2 CPU ranks, bf16: stage 1 buffers peak 4 S, stage 2 + S c)
// count at the rank's peak only where they exceed the backward's activations (at_peak below).
// plus, stage 3, the gathered units while forward/backward run: at least the largest unit; with
// prefetch the next units up to stage3_prefetch_bucket_size elements, bounded by
// stage3_max_live_parameters (executor/zero/unit_gatherer.h), never more than the non-persistent
// parameters: min(N - Pst, max(largest unit, min(max_live, largest unit + prefetch))); when the
// activations peak in the loss, only the head unit is gathered then.
std::uint64_t executor_buffer_bytes(const ModelSpec& model, const Candidate& c, Precision precision,
                                    std::uint64_t activations, bool loss_peak) {
  // Every engine: the model's RoPE inverse frequencies, fp32, arange(0, head_dim, 2): ceil(d / 2)
  // of them, made at setup under `buffers`, and the step's 0-d fp32 global norm (4 bytes).
  const u64 always = 4 * u((model.head_dim + 1) / 2) + 4;
  if (c.zero_stage == 0 && c.dp == 1) return always;
  const u64 cb = u(compute_dtype_bytes(precision));
  const bool lowp = precision != Precision::kFp32;
  const ExecutorLayout l = executor_layout(model, c);
  const u64 K = c.overlap_comm ? 2 : 1;
  u64 persistent = always;
  u64 step = 0;  // live only in the optimizer step, when the activations are freed
  // Stages 2/3 at dp > 1, the end of backward: the embedding's gradient arrives last (V h c, still held
  // by autograd while its hook copies it into the bucket) and its bucket's reduce_scatter is launched
  // from that hook; Gloo's ring allocates its receive buffer, one shard (last_shard c), on the launching
  // thread (executor/dist/gloo_communicator.cc). With two bucket buffers (overlap_comm) and more than
  // one bucket, the previous bucket's reduce_scatter may still be in flight with its own shard-sized
  // buffer (an upper bound: it may have finished). By then the other activations are freed, so this
  // counts where it exceeds the backward's activation peak, like the step transient.
  u64 end_of_backward = 0;
  if (c.dp > 1 && (c.zero_stage == 2 || c.zero_stage == 3)) {
    const u64 embedding_grad = u(model.vocab_size) * u(model.hidden_size) * cb;
    const u64 previous_in_flight = (K > 1 && l.buckets > 1) ? l.max_shard * cb : 0;
    end_of_backward = embedding_grad + l.last_shard * cb + previous_in_flight;
  }
  switch (c.zero_stage) {
    case 0:
      persistent += K * l.max_bucket * cb;
      break;
    case 1:
      // the boundary reduce_scatter of the fp32 gradient: Gloo's ring needs one fp32 shard (S)
      // temporary (executor/dist); the 16-bit copy of the updated shard comes after it (S c <= 4 S)
      step = 4 * l.max_shard;
      break;
    case 2:
      persistent += K * (l.max_bucket + l.max_shard) * cb;
      step = lowp ? l.max_shard * cb : 0;  // the updated fp32 shard converted for its all_gather
      break;
    default: {
      const u64 partitioned = l.total - l.persistent;
      const u64 wanted =
          std::max(l.largest_unit, std::min(c.max_live_parameters, l.largest_unit + c.prefetch_bucket_size));
      // At the loss (where the executor's activations usually peak) the layers are released and only
      // the head unit is gathered (measured: 2 ranks, bf16, tiny-llama-25m); elsewhere the prefetched
      // units (the buffers' own peak, in the layers' forward).
      const u64 gathered = loss_peak ? l.head_unit : std::min(partitioned, wanted);
      persistent += K * (l.max_bucket + l.max_shard) * cb + gathered * cb;
      break;
    }
  }
  // After backward (GradReducer::finish_micro_step), 16-bit runs at dp > 1, stages 0/2/3: each reduced
  // bucket (stage 0) or shard (2/3) is added to the fp32 accumulator in chunks, through an fp32
  // temporary of at most kExecutorAccumulateChunk elements (ATen converts the 16-bit source first).
  u64 accumulate = 0;
  if (lowp && c.dp > 1 && c.zero_stage != 1) {
    accumulate = 4 * std::min(c.zero_stage == 0 ? l.max_bucket : l.max_shard, kExecutorAccumulateChunk);
  }
  // At the rank's peak (BufferMemory::at_peak): the step's and the end of backward's transients count
  // only where they exceed the activations the backward had live.
  return persistent + std::max({activations, step, end_of_backward, accumulate}) - activations;
}

}  // namespace zeroplan
