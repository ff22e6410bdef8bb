#include "simulator/step_simulator.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "planner/error.h"
#include "planner/roofline_step_time.h"  // peak_flops_per_s
#include "simulator/topology_presets.h"

namespace zeroplan::sim {

namespace {

// Achieved compute rate: a measured matmul rate for this precision, else peak x efficiency.
double compute_flops_per_s(const PlanContext& context, const SimulationOptions& options) {
  if (options.profile) {
    if (auto t = options.profile->matmul_tflops(context.training.precision)) return *t * 1e12;
    if (options.profile->matmul_efficiency) return peak_flops_per_s(context) * *options.profile->matmul_efficiency;
  }
  return peak_flops_per_s(context) * options.matmul_efficiency;
}

// The bucketed reduction's memory passes on the compute stream (executor/zero/grad_reducer.h), in seconds
// per gradient element: each gradient is copied into its bucket (on_grad), each reduced bucket is added
// into the fp32 accumulator (complete). The in-place accumulation a measured training step contains
// (autograd's .grad +=, which the reducer's path does not do) comes off the copy (at most all of it), so
// forward_s and backward_s stay the measured (or FLOP) compute and grad_buffer_s is the net difference.
// All zero where the executor does not reduce from gradient hooks.
struct GradBufferPasses {
  double copy_s_per_elem = 0;
  double accumulate_s_per_elem = 0;  // per element of the accumulator (stages 2-3: the bucket's shard)
  double in_step_s_per_elem = 0;
  std::string source;
};

GradBufferPasses grad_buffer_passes(const PlanContext& context, const Candidate& cand, const ClusterModel& cluster,
                                    const TrainingStepMeasurement* measured, int ranks_per_host) {
  GradBufferPasses g;
  // The executor (executor/train/run_rank.cc, make_engine.cc): stage 0 on one process has no reducer
  // (SingleProcessEngine: autograd accumulates in place); stage 0 with ranks, and stages 2-3 always, use
  // the GradReducer; stage 1 accumulates in place and reduces in step().
  const bool reducer = (cand.zero_stage == 0 && cand.dp > 1) || cand.zero_stage >= 2;
  if (!reducer) return g;
  if (measured != nullptr && measured->has_grad_passes()) {
    const double n = static_cast<double>(measured->optimizer_params);
    g.copy_s_per_elem = measured->grad_copy_s / n;
    g.accumulate_s_per_elem = measured->grad_accumulate_s / n;
    g.in_step_s_per_elem = measured->grad_in_step_s / n;
    g.source = fmt::format("measured with {} ranks at once", measured->ranks);
    return g;
  }
  // Not measured: streamed bytes over the memory bandwidth -- a copy reads and writes `elem` bytes, the
  // add reads `elem` and reads and writes 4 (fp32), autograd's in-place add reads two and writes one.
  // CPU ranks share the host's bandwidth (an ESTIMATE: the layout's host figure, or the profile's copy rate).
  const double elem = compute_dtype_bytes(context.training.precision);
  const bool cpu = context.cluster.gpu.kind == DeviceKind::kCpu;
  const double bytes_per_s = cpu ? cluster.topology().layout().host_memory_GBps * 1e9 / ranks_per_host
                                 : context.cluster.gpu.hbm_bandwidth_GBps * 1e9;
  if (!(bytes_per_s > 0)) return g;
  g.copy_s_per_elem = 2 * elem / bytes_per_s;
  g.accumulate_s_per_elem = (elem + 8) / bytes_per_s;
  // A measured training step (CPU ranks) contains autograd's in-place add; the FLOP rate does not.
  g.in_step_s_per_elem = measured != nullptr ? 3 * elem / bytes_per_s : 0.0;
  g.source = cpu ? "estimated from the host memory bandwidth" : "estimated from the HBM bandwidth";
  return g;
}

// The event engine: a compute stream, one FIFO communication stream, a host stream. Collectives are
// grouped for the summary by (purpose, op, size).
class Engine {
 public:
  Engine(const CollectiveModel& collectives, bool trace, SimulationResult& result)
      : collectives_(collectives), trace_(trace), result_(result) {}

  double compute_free = 0;
  double comm_free = 0;
  double host_free = 0;
  // CPU ranks: Gloo's copies (TCP loopback through the kernel) run on the same cores as the matmuls, so
  // communication and compute do not overlap: each waits for the other (an ASSUMPTION for hosts whose
  // cores the ranks' compute threads already fill; tools/validate_machine.sh measures it).
  bool serial = false;

  // Runs `seconds` of compute starting no earlier than `ready`; returns its end.
  double compute(double ready, double seconds, const char* name, int module) {
    const double start = std::max({compute_free, ready, serial ? comm_free : 0.0});
    compute_free = start + seconds;
    if (trace_) result_.trace.push_back({name, "compute", start, seconds, fmt::format("module {}", module)});
    return compute_free;
  }

  // Enqueues a collective issued at `issue`; returns its end.
  double collective(double issue, CollectiveOp op, double bytes, const char* purpose) {
    if (bytes <= 0 || collectives_.ranks() <= 1) return issue;
    const CollectiveEstimate e = collectives_.estimate(op, bytes);
    const double start = std::max({comm_free, issue, serial ? compute_free : 0.0});
    comm_free = start + e.time_s;
    result_.comm_busy_s += e.time_s;
    result_.comm_bytes_per_gpu[op_name(op)] += bytes_sent_per_rank(op, bytes, collectives_.ranks());
    CollectiveSummary& s = summary(purpose, op, bytes, e);
    s.count += 1;
    s.time_s += e.time_s;
    if (trace_) {
      result_.trace.push_back({fmt::format("{} {}", op_name(op), purpose), "comm", start, e.time_s,
                               fmt::format("{:.0f} bytes, {} {}", bytes, e.measured ? "measured" : algorithm_name(e.algorithm),
                                           e.measured ? "" : e.calibrated ? "gloo fit" : protocol_name(e.protocol))});
    }
    return comm_free;
  }

  // A host <-> device copy on the communication stream (stage 3 parameter upload before its gather).
  double copy_on_comm(double issue, double seconds, const char* name) {
    const double start = std::max(comm_free, issue);
    comm_free = start + seconds;
    result_.param_offload_s += seconds;
    if (trace_) result_.trace.push_back({name, "comm", start, seconds, ""});
    return comm_free;
  }

  // Work on the host stream (PCIe copies at the boundary, CPU Adam).
  double host(double ready, double seconds, const char* name) {
    const double start = std::max(host_free, ready);
    host_free = start + seconds;
    if (trace_ && seconds > 0) result_.trace.push_back({name, "host", start, seconds, ""});
    return host_free;
  }

 private:
  CollectiveSummary& summary(const char* purpose, CollectiveOp op, double bytes, const CollectiveEstimate& e) {
    for (CollectiveSummary& s : result_.collectives) {
      if (s.bytes == bytes && s.op == op_name(op) && s.purpose == purpose) return s;
    }
    CollectiveSummary s;
    s.op = op_name(op);
    s.algorithm = e.measured ? "measured" : e.calibrated ? "gloo ring (fit)" : algorithm_name(e.algorithm);
    s.purpose = purpose;
    s.bytes = bytes;
    result_.collectives.push_back(s);
    return result_.collectives.back();
  }

  const CollectiveModel& collectives_;
  bool trace_;
  SimulationResult& result_;
};

}  // namespace

ModuleCosts module_costs(const ModelSpec& m, std::int64_t seq_len, std::uint64_t persistence_threshold) {
  const ParamCounts counts = count_params(m);
  const double h = static_cast<double>(m.hidden_size);
  const double head_dim = m.head_dim > 0 ? static_cast<double>(m.head_dim) : h / std::max<std::int64_t>(m.num_attention_heads, 1);
  const double d_attn = static_cast<double>(m.num_attention_heads) * head_dim;
  const double s = static_cast<double>(seq_len);
  // Parameters below the persistence threshold stay gathered in stage 3 (DeepSpeed's
  // stage3_param_persistence_threshold): in a decoder layer the RMSNorm weights and small biases.
  double layer_persistent = 0;
  const std::string layer0 = "model.layers.0.";
  double final_norm_persistent = 0;
  for (const TensorShape& t : model_tensors(m)) {
    const double n = static_cast<double>(t.numel());
    if (n > static_cast<double>(persistence_threshold)) continue;
    if (t.name.rfind(layer0, 0) == 0) layer_persistent += n;
    if (t.name == "model.norm.weight") final_norm_persistent += n;
  }

  ModuleCosts c;
  c.total_params = static_cast<double>(counts.total);
  // Embedding: a lookup, no matmul FLOPs.
  c.params.push_back(static_cast<double>(counts.embedding));
  c.gathered_params.push_back(static_cast<double>(counts.embedding));
  c.forward_flops_per_token.push_back(0);
  c.is_layer.push_back(false);
  // A decoder layer, forward per token: 2 FLOPs per weight (multiply-add) + attention scores:
  // Q.K^T and scores.V, 2 x 2 x s x d_attn (Korthikanti et al. 2022, no causal halving).
  const double layer_flops = 2.0 * static_cast<double>(counts.per_layer) + 4.0 * s * d_attn;
  for (std::int64_t l = 0; l < m.num_hidden_layers; ++l) {
    c.params.push_back(static_cast<double>(counts.per_layer));
    c.gathered_params.push_back(static_cast<double>(counts.per_layer) - layer_persistent);
    c.forward_flops_per_token.push_back(layer_flops);
    c.is_layer.push_back(true);
  }
  // Head: final norm + lm_head (the tied embedding's matmul when tied; it stays gathered between uses).
  const double head_params = static_cast<double>(counts.lm_head + counts.final_norm);
  c.params.push_back(head_params);
  c.gathered_params.push_back(head_params - final_norm_persistent);
  c.forward_flops_per_token.push_back(2.0 * static_cast<double>(m.vocab_size) * h);
  c.is_layer.push_back(false);
  // Model FLOPs per token, forward + backward (backward = 2 x forward): 3 x sum of forward FLOPs.
  for (double f : c.forward_flops_per_token) c.model_flops_per_token += 3.0 * f;
  return c;
}

ClusterModel::ClusterModel(const ClusterSpec& cluster, int dp, const SimulationOptions& options) {
  TopologyLayout layout = layout_for(cluster);
  if (options.profile && options.profile->host_memory_GBps) layout.host_memory_GBps = *options.profile->host_memory_GBps;
  ClusterSpec spec = cluster;
  if (options.profile && (options.profile->pcie_h2d_GBps || options.profile->pcie_d2h_GBps)) {
    const double h2d = options.profile->pcie_h2d_GBps.value_or(1e300);
    const double d2h = options.profile->pcie_d2h_GBps.value_or(1e300);
    spec.gpu.pcie_bandwidth_GBps = std::min(h2d, d2h);
  }
  topology_ = std::make_unique<Topology>(spec, layout);
  std::vector<CollectiveMeasurement> measured;
  std::vector<GlooCollectiveFit> fits;
  int cpu_cores = 0;
  if (options.profile) {
    measured = options.profile->collectives;
    fits = options.profile->collective_fits;
    cpu_cores = options.profile->cpu_cores.value_or(0);
  }
  collectives_ = std::make_unique<CollectiveModel>(*topology_, dp, options.link_efficiency, std::move(measured),
                                                   std::move(fits), cpu_cores);
  // Every GPU of a node copies at once: the shared PCIe switch uplinks and host memory set the pace.
  const int local = std::min(dp, cluster.gpus_per_node);
  std::vector<Flow> down, up;
  for (int r = 0; r < local; ++r) {
    down.push_back({r, -1, 1.0});
    up.push_back({-1, r, 1.0});
  }
  d2h_s_per_byte_ = analyze_pattern(*topology_, down, options.link_efficiency).seconds_per_byte;
  h2d_s_per_byte_ = analyze_pattern(*topology_, up, options.link_efficiency).seconds_per_byte;
}

SimulationResult simulate_step(const PlanContext& context, const Candidate& cand, const ClusterModel& cluster,
                               const ModuleCosts& mod, const SimulationOptions& options) {
  ZP_ASSERT(cand.zero_stage >= 0 && cand.zero_stage <= 3, "zero_stage must be 0..3");
  if (cand.micro_batch < 1 || cand.grad_accum < 1 || cand.dp < 1) {
    throw InputError(fmt::format("candidate: micro_batch, grad_accum and dp must be >= 1 (got {}, {}, {})",
                                 cand.micro_batch, cand.grad_accum, cand.dp));
  }
  if (cand.dp != cluster.collectives().ranks()) {
    throw InputError(fmt::format("candidate dp {} does not match the {} ranks the cluster model was built for",
                                 cand.dp, cluster.collectives().ranks()));
  }
  SimulationResult r;
  Engine eng(cluster.collectives(), options.trace, r);
  const TrainingSpec& tr = context.training;
  const int stage = cand.zero_stage;
  const double n = static_cast<double>(cand.dp);
  const double elem = compute_dtype_bytes(tr.precision);  // bytes per communicated element
  const double tokens = static_cast<double>(cand.micro_batch) * static_cast<double>(tr.seq_len);  // per micro-step
  const bool cpu_ranks = context.cluster.gpu.kind == DeviceKind::kCpu;
  const int ranks_per_host = std::min<int>(static_cast<int>(cand.dp), context.cluster.gpus_per_node);
  double rate = compute_flops_per_s(context, options);
  const TrainingStepMeasurement* measured_step =
      cpu_ranks && options.profile
          ? select_training_step(options.profile->training_steps, tr.precision, context.model.name, ranks_per_host,
                                 static_cast<std::int64_t>(tokens), cand.activation_checkpointing)
          : nullptr;
  if (measured_step != nullptr) {
    // CPU ranks with a measured training micro-step (training_step_profile.h): the rate per rank is the
    // entry's model FLOPs (forward + backward = 3 x forward, at its own shape) / its measured time. It
    // was measured with its ranks running at once, so it is not divided by the ranks per host again.
    const TrainingStepMeasurement& m = *measured_step;
    const double flops_per_token = m.seq_len == tr.seq_len
                                       ? mod.model_flops_per_token
                                       : module_costs(context.model, m.seq_len, 0).model_flops_per_token;
    rate = flops_per_token * static_cast<double>(m.tokens) / m.forward_backward_s;
    r.notes.push_back(fmt::format(
        "compute: measured training micro-step ({} {} ranks{}, {} x {} tokens, {:.4f} s) = {:.2f} GFLOP/s per rank",
        precision_name(m.precision), m.ranks,
        m.ranks == ranks_per_host ? "" : fmt::format(", nearest to this plan's {} per host", ranks_per_host),
        m.micro_batch, m.seq_len, m.forward_backward_s, rate / 1e9));
  } else if (cpu_ranks && options.profile && options.profile->matmul_tflops(tr.precision)) {
    // CPU ranks: a profile's matmul rate is the whole host's (hardware_profile.h); the host's ranks
    // compute at the same time and share it.
    rate /= ranks_per_host;
  }
  eng.serial = cpu_ranks;
  const GradBufferPasses passes = grad_buffer_passes(context, cand, cluster, measured_step, ranks_per_host);
  if (!passes.source.empty()) {  // set only where the reducer runs
    r.notes.push_back(fmt::format("gradient buckets: copy {:.3g} ns, fp32 accumulate {:.3g} ns, in-step add {:.3g} ns "
                                  "per element ({})",
                                  passes.copy_s_per_elem * 1e9, passes.accumulate_s_per_elem * 1e9,
                                  passes.in_step_s_per_elem * 1e9, passes.source));
  }
  const int M = static_cast<int>(mod.params.size());
  const bool overlap = cand.overlap_comm;  // executor: 1 + overlap_comm bucket buffers, every stage
  const bool offload_opt = cand.offload_optimizer == OffloadDevice::kCpu && stage >= 1;
  const bool offload_param = cand.offload_param == OffloadDevice::kCpu && stage == 3;
  const double reduce_bucket = static_cast<double>(std::max<std::uint64_t>(cand.reduce_bucket_size, 1));

  // Stage 3 prefetch depth in modules: how far ahead of compute gathers may run, bounded by the prefetch
  // bucket and the live-parameter cap. 0 = fetch on demand (no prefetch).
  int prefetch_modules = 0;
  if (stage == 3 && cand.prefetch_bucket_size > 0 && M > 2) {
    const double layer = mod.gathered_params[1];
    const double by_bucket = std::floor(static_cast<double>(cand.prefetch_bucket_size) / std::max(layer, 1.0));
    const double by_live = std::floor(static_cast<double>(cand.max_live_parameters) / std::max(layer, 1.0)) - 1;
    prefetch_modules = static_cast<int>(std::clamp(std::min(by_bucket, by_live), 1.0, static_cast<double>(M)));
  }

  std::vector<double> gather_done(M, 0.0);
  std::vector<bool> gathered(M, false);
  auto issue_gather = [&](int i, double issue, const char* purpose) {
    if (gathered[i] || mod.gathered_params[i] <= 0) {
      gathered[i] = true;
      return;
    }
    gathered[i] = true;
    if (offload_param) {
      const double upload_s = mod.params[i] / n * elem * cluster.h2d_s_per_byte();
      issue = eng.copy_on_comm(issue, upload_s, "param upload (offload_param)");
    }
    gather_done[i] = eng.collective(issue, CollectiveOp::kAllGather, mod.gathered_params[i] * elem, purpose);
  };

  auto micro_step = [&](bool boundary) {
    // ---- forward
    std::fill(gathered.begin(), gathered.end(), false);
    std::fill(gather_done.begin(), gather_done.end(), 0.0);
    for (int i = 0; i < M; ++i) {
      double ready = eng.compute_free;
      if (stage == 3) {
        // On demand when nothing was prefetched; then prefetch the next modules while this one computes.
        issue_gather(i, eng.compute_free, "forward param gather");
        ready = std::max(ready, gather_done[i]);
      }
      const double start = std::max(eng.compute_free, ready);
      if (stage == 3) {
        for (int j = i + 1; j <= std::min(M - 1, i + prefetch_modules); ++j) issue_gather(j, start, "forward param gather");
      }
      const double f_s = mod.forward_flops_per_token[i] * tokens / rate;
      eng.compute(ready, f_s, "forward", i);
      r.forward_s += f_s;
    }
    // ---- backward (reverse module order)
    std::fill(gathered.begin(), gathered.end(), false);
    std::fill(gather_done.begin(), gather_done.end(), 0.0);
    // As the executor does it (executor/zero/README.md, grad_reducer.h): stages 0, 2 and 3 reduce from the
    // gradient hooks in EVERY micro-step (stage 0 all-reduce, 2-3 reduce-scatter into an fp32 accumulator);
    // stage 1 reduces once, in step() (below). A bucket is copied into one of K = 1 + overlap_comm bucket
    // buffers; its reduction runs async, and the next bucket that needs that buffer waits for it.
    const bool reduce_now = stage != 1;
    (void)boundary;
    const CollectiveOp grad_op = stage == 0 ? CollectiveOp::kAllReduce : CollectiveOp::kReduceScatter;
    const char* grad_purpose = stage == 0 ? "gradient all-reduce" : "gradient reduce-scatter";
    const size_t bucket_buffers = overlap ? 2 : 1;
    struct Held {
      double end_s;         // the reduction's end
      double accum_elems;   // what complete() then adds into the fp32 accumulator
    };
    std::vector<Held> holding;  // the reductions holding a buffer, oldest first
    double bucket = 0;  // gradient elements waiting in the bucket
    // GradReducer::complete: wait for the reduction, then add it into the accumulator (compute stream).
    auto complete = [&](const Held& h) {
      eng.compute_free = std::max(eng.compute_free, h.end_s);
      const double acc_s = passes.accumulate_s_per_elem * h.accum_elems;
      if (acc_s > 0) {
        eng.compute(eng.compute_free, acc_s, "gradient accumulate (fp32)", -1);
        r.grad_buffer_s += acc_s;
      }
    };
    auto flush = [&](double at) {
      if (bucket <= 0) return;
      const double end = eng.collective(at, grad_op, bucket * elem, grad_purpose);
      if (offload_opt && stage == 3) {
        // Stage 3 + optimizer offload: the reduced partition goes to the host after every micro-step.
        const double d2h_s = bucket / n * elem * cluster.d2h_s_per_byte();
        eng.host(end, d2h_s, "gradient partition to host");  // hidden unless it delays the boundary
      }
      holding.push_back({end, stage == 0 ? bucket : bucket / n});
      bucket = 0;
    };
    auto start_bucket = [&] {  // the first gradient of a bucket needs a free buffer
      if (holding.size() >= bucket_buffers) {
        complete(holding.front());
        holding.erase(holding.begin());
      }
    };
    for (int i = M - 1; i >= 0; --i) {
      double ready = eng.compute_free;
      if (stage == 3) {
        issue_gather(i, eng.compute_free, "backward param gather");
        ready = std::max(ready, gather_done[i]);
      }
      const double start = std::max(eng.compute_free, ready);
      if (stage == 3) {
        for (int j = i - 1; j >= std::max(0, i - prefetch_modules); --j) issue_gather(j, start, "backward param gather");
      }
      double b_s = 2.0 * mod.forward_flops_per_token[i] * tokens / rate;
      if (cand.activation_checkpointing && mod.is_layer[i]) {
        const double re_s = mod.forward_flops_per_token[i] * tokens / rate;
        r.recompute_s += re_s;
        b_s += re_s;
      }
      const double end = eng.compute(ready, b_s, "backward", i);
      r.backward_s += b_s;
      if (reduce_now) {
        // DeepSpeed's rule: a gradient that would overflow the bucket first sends the bucket.
        if (bucket > 0 && bucket + mod.params[i] > reduce_bucket) flush(end);
        if (bucket <= 0) start_bucket();
        // Net of the in-place accumulation a measured step contains and the reducer's path skips (all zero
        // where the reducer does not run).
        const double copy_s =
            std::max(0.0, (passes.copy_s_per_elem - passes.in_step_s_per_elem) * mod.params[i]);
        if (copy_s > 0) {
          eng.compute(eng.compute_free, copy_s, "gradient copy into bucket", i);
          r.grad_buffer_s += copy_s;
        }
        bucket += mod.params[i];
      }
    }
    if (reduce_now) {
      flush(eng.compute_free);
      // finish_micro_step: every reduction completes (and is accumulated) before the next forward.
      for (const Held& h : holding) complete(h);
    }
  };

  // The trainer's step scalars (executor/train/trainer.cc), one 8-byte double each, synchronous: the step's
  // label and token counts are summed over the ranks before the first forward (the loss normaliser), and
  // the loss sum after the last backward (below).
  {
    const double labels_done = eng.collective(0.0, CollectiveOp::kAllReduce, 8, "trainer scalars");
    const double tokens_done = eng.collective(labels_done, CollectiveOp::kAllReduce, 8, "trainer scalars");
    eng.compute_free = std::max(eng.compute_free, tokens_done);
  }
  const std::int64_t gas = cand.grad_accum;
  // Without a trace, the micro-steps between the second and the boundary repeat the second's pattern:
  // simulate it once and advance every clock and counter by the remaining copies.
  const bool fast_forward = !options.trace && gas > 3;
  for (std::int64_t k = 0; k < gas; ++k) {
    const bool boundary = k == gas - 1;
    if (fast_forward && k == 2) {
      const SimulationResult before = r;
      const double t0 = eng.compute_free;
      const double c0 = eng.comm_free;
      micro_step(false);
      const double copies = static_cast<double>(gas - 3);  // micro-steps 2 .. gas-2
      const double dt = eng.compute_free - t0;
      const double dc = eng.comm_free - c0;
      eng.compute_free += dt * (copies - 1);
      eng.comm_free += dc * (copies - 1);
      eng.host_free = std::max(eng.host_free, eng.comm_free);
      r.forward_s += (r.forward_s - before.forward_s) * (copies - 1);
      r.backward_s += (r.backward_s - before.backward_s) * (copies - 1);
      r.recompute_s += (r.recompute_s - before.recompute_s) * (copies - 1);
      r.grad_buffer_s += (r.grad_buffer_s - before.grad_buffer_s) * (copies - 1);
      r.comm_busy_s += (r.comm_busy_s - before.comm_busy_s) * (copies - 1);
      r.param_offload_s += (r.param_offload_s - before.param_offload_s) * (copies - 1);
      for (auto& [key, v] : r.comm_bytes_per_gpu) {
        auto it = before.comm_bytes_per_gpu.find(key);
        v += (v - (it == before.comm_bytes_per_gpu.end() ? 0.0 : it->second)) * (copies - 1);
      }
      for (CollectiveSummary& s : r.collectives) {
        const CollectiveSummary* old = nullptr;
        for (const CollectiveSummary& o : before.collectives) {
          if (o.op == s.op && o.purpose == s.purpose && o.bytes == s.bytes) old = &o;
        }
        s.count += (s.count - (old ? old->count : 0)) * static_cast<std::int64_t>(copies - 1);
        s.time_s += (s.time_s - (old ? old->time_s : 0)) * (copies - 1);
      }
      k = gas - 2;
      continue;
    }
    micro_step(boundary);
  }

  // ---- the optimizer step: wait for every reduction, then small all-reduces, offload, Adam, all-gather.
  double t = std::max({eng.compute_free, eng.comm_free, eng.host_free});
  t = eng.collective(t, CollectiveOp::kAllReduce, 8, "trainer scalars");  // the loss sum
  if (stage == 1) {
    // Stage 1 (executor: in step()): one reduce-scatter per bucket of accumulated gradients, backward order.
    double bucket = 0;
    for (int i = M - 1; i >= 0; --i) {
      if (bucket > 0 && bucket + mod.params[i] > reduce_bucket) {
        t = eng.collective(t, CollectiveOp::kReduceScatter, bucket * elem, "gradient reduce-scatter (step)");
        bucket = 0;
      }
      bucket += mod.params[i];
    }
    t = eng.collective(t, CollectiveOp::kReduceScatter, bucket * elem, "gradient reduce-scatter (step)");
  }
  // The global gradient norm (executor/zero/sharded_engine.cc): stages >= 1 sum the partitions' squared
  // norms, every step (it is reported, clips, and is the fp16 overflow check: no separate all-reduce);
  // stage 0 holds the whole reduced gradient and sends nothing.
  if (stage >= 1) t = eng.collective(t, CollectiveOp::kAllReduce, 8, "gradient norm");
  const double partition = stage >= 1 ? mod.total_params / n : mod.total_params;
  const int local_ranks = std::min<int>(cand.dp, context.cluster.gpus_per_node);
  double offload_s = 0;
  double optimizer_s = 0;
  if (offload_opt) {
    if (stage <= 2) {  // stages 1-2: the reduced gradient partition goes down once per step
      const double d2h = partition * elem * cluster.d2h_s_per_byte();
      t = eng.host(t, d2h, "gradient partition to host");
      offload_s += d2h;
    }
    // CPU Adam for all ranks of the node at once.
    const double node_params = partition * local_ranks;
    double adam_params_per_s = 0;
    if (options.profile && options.profile->cpu_adam_params_per_s) {
      adam_params_per_s = *options.profile->cpu_adam_params_per_s;
    } else {
      const TopologyLayout& L = cluster.topology().layout();
      adam_params_per_s = L.host_memory_GBps * L.cpu_sockets_per_node * 1e9 / kAdamBytesPerParam;
    }
    optimizer_s = node_params / adam_params_per_s;
    t = eng.host(t, optimizer_s, "CPU Adam");
    if (!offload_param) {  // with offload_param the updated parameters stay on the host
      const double h2d = partition * elem * cluster.h2d_s_per_byte();
      t = eng.host(t, h2d, "updated parameters to GPU");
      offload_s += h2d;
    }
  } else if (measured_step != nullptr && measured_step->optimizer_params > 0) {
    // CPU ranks with a measured optimizer step (training_step_profile.h): gradient norm, AdamW and gradient
    // zeroing stream the rank's partition, timed with the entry's ranks at once: scale by the partition.
    optimizer_s = measured_step->optimizer_step_s * partition / static_cast<double>(measured_step->optimizer_params);
    t = eng.compute(t, optimizer_s, "optimizer step (CPU, measured)", -1);
  } else if (cpu_ranks && options.profile && options.profile->cpu_adam_params_per_s) {
    // CPU ranks update their partitions with the executor's AdamW (executor/train/adamw.h) at the same
    // time, sharing the host's measured rate.
    optimizer_s = partition * ranks_per_host / *options.profile->cpu_adam_params_per_s;
    t = eng.compute(t, optimizer_s, "AdamW (CPU)", -1);
  } else {
    const double hbm = context.cluster.gpu.hbm_bandwidth_GBps;
    if (!(hbm > 0)) throw InputError(fmt::format("{}: field \"hbm_bandwidth_GBps\" must be > 0", context.cluster.gpu.name));
    optimizer_s = partition * kAdamBytesPerParam / (hbm * 1e9);
    t = eng.compute(t, optimizer_s, "Adam", -1);
  }
  if (stage == 1 || stage == 2) {
    // Updated partitions are all-gathered per layout bucket: the executor cuts the flat parameters into
    // reduce_bucket_size buckets and gathers each (it does not use allgather_bucket_size).
    const double total = mod.total_params;
    const double per_call = std::min(total, reduce_bucket);
    const auto calls = static_cast<std::int64_t>(std::ceil(total / per_call));
    for (std::int64_t i = 0; i < calls; ++i) {
      const double elems = std::min(per_call, total - static_cast<double>(i) * per_call);
      t = eng.collective(t, CollectiveOp::kAllGather, elems * elem, "updated parameter gather");
    }
  }
  const double total_s = std::max({t, eng.compute_free, eng.comm_free, eng.host_free});

  // ---- summary
  StepTimeEstimate& e = r.step;
  e.compute_s = r.forward_s + r.backward_s + r.grad_buffer_s;
  e.offload_s = offload_s;
  e.optimizer_s = optimizer_s;
  e.total_s = total_s;
  e.comm_exposed_s = std::max(0.0, total_s - e.compute_s - e.offload_s - e.optimizer_s);
  const double step_tokens = tokens * static_cast<double>(gas) * n;
  e.tokens_per_s = step_tokens / total_s;
  r.model_flops = mod.model_flops_per_token * step_tokens;
  r.mfu = r.model_flops / (total_s * peak_flops_per_s(context) * n);
  double total_bytes = 0;
  for (auto& [k, v] : r.comm_bytes_per_gpu) total_bytes += v;
  r.comm_bytes_per_gpu["total"] = total_bytes;
  if (options.profile) r.notes.push_back(fmt::format("hardware profile {} applied", options.profile->source));
  return r;
}

SimulationResult simulate_step(const PlanContext& context, const Candidate& candidate,
                               const SimulationOptions& options) {
  ClusterModel cluster(context.cluster, static_cast<int>(candidate.dp), options);
  ModuleCosts modules = module_costs(context.model, context.training.seq_len, candidate.param_persistence_threshold);
  return simulate_step(context, candidate, cluster, modules, options);
}

}  // namespace zeroplan::sim
