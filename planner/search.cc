#include "planner/search.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <tuple>

#include "planner/error.h"
#include "planner/memory_model.h"

namespace zeroplan {
namespace {

struct StageOffload {
  int stage;
  OffloadDevice optimizer;
  OffloadDevice param;
};

// Stage 0 has nothing to offload; offload_param needs stage 3. Param offload without optimizer
// offload is skipped, as DeepSpeed's estimator skips it (it never helps: the optimizer states
// dwarf the 16-bit params).
constexpr std::array<StageOffload, 8> kStageOffloads = {{
    {0, OffloadDevice::kNone, OffloadDevice::kNone},
    {1, OffloadDevice::kNone, OffloadDevice::kNone},
    {1, OffloadDevice::kCpu, OffloadDevice::kNone},
    {2, OffloadDevice::kNone, OffloadDevice::kNone},
    {2, OffloadDevice::kCpu, OffloadDevice::kNone},
    {3, OffloadDevice::kNone, OffloadDevice::kNone},
    {3, OffloadDevice::kCpu, OffloadDevice::kNone},
    {3, OffloadDevice::kCpu, OffloadDevice::kCpu},
}};

std::int64_t data_parallel_size(const PlanContext& context) { return context.cluster.world_size(); }

std::vector<bool> checkpointing_choices(Toggle t) {
  switch (t) {
    case Toggle::kOff: return {false};
    case Toggle::kOn: return {true};
    case Toggle::kAuto: return {false, true};
  }
  return {false};
}

Candidate make_candidate(const StageOffload& so, std::int64_t mbs, std::int64_t gas, std::int64_t dp, bool ckpt,
                         bool overlap, const BucketPreset& b) {
  Candidate c;
  c.zero_stage = so.stage;
  c.offload_optimizer = so.optimizer;
  c.offload_param = so.param;
  c.micro_batch = mbs;
  c.grad_accum = gas;
  c.dp = dp;
  c.activation_checkpointing = ckpt;
  c.overlap_comm = overlap;
  c.contiguous_gradients = true;
  c.reduce_bucket_size = b.reduce_bucket_size;
  c.allgather_bucket_size = b.allgather_bucket_size;
  c.prefetch_bucket_size = b.prefetch_bucket_size;
  c.max_live_parameters = b.max_live_parameters;
  c.param_persistence_threshold = b.param_persistence_threshold;
  return c;
}

bool faster(const EvaluatedCandidate& a, const EvaluatedCandidate& b) {
  if (a.step.total_s != b.step.total_s) return a.step.total_s < b.step.total_s;
  const auto ga = a.memory.gpu.total(), gb = b.memory.gpu.total();
  if (ga != gb) return ga < gb;
  return std::tie(a.candidate.zero_stage, a.candidate.micro_batch) <
         std::tie(b.candidate.zero_stage, b.candidate.micro_batch);
}

// The key of what the table shows: one row per visible configuration.
std::tuple<int, int, int, std::int64_t, bool> visible_key(const Candidate& c) {
  return {c.zero_stage, static_cast<int>(c.offload_optimizer), static_cast<int>(c.offload_param), c.micro_batch,
          c.activation_checkpointing};
}

struct RejectionTable {
  // index: stage(4) x optimizer(2) x param(2) x overflow(4)
  std::array<RejectionGroup, 64> groups{};
  std::array<std::uint64_t, 64> best_excess{};

  // host_needed: node_host_bytes of e (the CPU side, plus the ranks' memory for CPU devices).
  void add(const EvaluatedCandidate& e, std::uint64_t host_needed, std::uint64_t usable_gpu, std::uint64_t usable_cpu) {
    const GpuMemory& m = e.memory.gpu;
    Overflow o;
    std::uint64_t needed, usable;
    if (!e.fits_gpu) {
      const std::uint64_t states = m.params + m.gradients + m.optimizer_states;
      const std::uint64_t fixed = states + m.buffers + m.overhead;
      usable = usable_gpu;
      if (states > usable_gpu) { o = Overflow::kModelStates; needed = states; }
      else if (fixed > usable_gpu) { o = Overflow::kBuffers; needed = fixed; }
      else { o = Overflow::kActivations; needed = m.total(); }
    } else {
      o = Overflow::kCpuMemory;
      needed = host_needed;
      usable = usable_cpu;
    }
    const Candidate& c = e.candidate;
    const std::size_t i = ((static_cast<std::size_t>(c.zero_stage) * 2 + static_cast<std::size_t>(c.offload_optimizer)) * 2 +
                           static_cast<std::size_t>(c.offload_param)) * 4 + static_cast<std::size_t>(o);
    RejectionGroup& g = groups[i];
    const std::uint64_t excess = needed - usable;
    if (g.count == 0 || excess < best_excess[i]) {
      best_excess[i] = excess;
      g.zero_stage = c.zero_stage;
      g.offload_optimizer = c.offload_optimizer;
      g.offload_param = c.offload_param;
      g.overflow = o;
      g.needed_bytes = needed;
      g.usable_bytes = usable;
      g.closest_micro_batch = c.micro_batch;
      g.closest_activation_checkpointing = c.activation_checkpointing;
    }
    ++g.count;
  }

  std::vector<RejectionGroup> collect() const {
    std::vector<RejectionGroup> out;
    for (const auto& g : groups) {
      if (g.count > 0) out.push_back(g);
    }
    return out;
  }
};

Plan empty_plan(const PlanContext& context, const StepTimeModel& step_time) {
  Plan plan;
  plan.context = context;
  plan.step_time_model = step_time.name();
  plan.usable_gpu_bytes = usable_gpu_bytes(context);
  plan.usable_cpu_bytes = usable_cpu_bytes(context);
  return plan;
}

}  // namespace

std::vector<BucketPreset> bucket_presets(const ModelSpec& model, const SearchOptions& o) {
  if (o.reduce_bucket_size || o.allgather_bucket_size || o.prefetch_bucket_size || o.max_live_parameters ||
      o.param_persistence_threshold) {
    BucketPreset b;
    b.label = "custom";
    if (o.reduce_bucket_size) b.reduce_bucket_size = *o.reduce_bucket_size;
    if (o.allgather_bucket_size) b.allgather_bucket_size = *o.allgather_bucket_size;
    if (o.prefetch_bucket_size) b.prefetch_bucket_size = *o.prefetch_bucket_size;
    if (o.max_live_parameters) b.max_live_parameters = *o.max_live_parameters;
    if (o.param_persistence_threshold) b.param_persistence_threshold = *o.param_persistence_threshold;
    return {b};
  }
  BucketPreset ds;  // DeepSpeed 0.19 defaults (deepspeed.md section 3)
  ds.label = "deepspeed-default";
  const auto h = static_cast<std::uint64_t>(model.hidden_size);
  BucketPreset hf;  // HF Trainer's "auto" values (transformers integrations/deepspeed.py)
  hf.label = "hf-auto";
  hf.reduce_bucket_size = h * h;
  hf.prefetch_bucket_size = static_cast<std::uint64_t>(0.9 * static_cast<double>(h * h));
  hf.param_persistence_threshold = 10 * h;
  BucketPreset small;  // HF docs' ZeRO-2 example: 2e8 buckets
  small.label = "small";
  small.reduce_bucket_size = 200000000;
  small.allgather_bucket_size = 200000000;
  small.prefetch_bucket_size = 20000000;
  small.max_live_parameters = 100000000;
  std::vector<BucketPreset> out = {ds, hf, small};
  if (hf.reduce_bucket_size == ds.reduce_bucket_size) out.erase(out.begin() + 1);
  return out;
}

void validate_search(const PlanContext& context, const SearchOptions& o) {
  const std::int64_t dp = data_parallel_size(context);
  const std::int64_t global = context.training.global_batch;
  if (global <= 0) throw InputError(fmt::format("--global-batch: must be positive (got {})", global));
  if (context.training.seq_len <= 0) {
    throw InputError(fmt::format("--seq-len: must be positive (got {})", context.training.seq_len));
  }
  if (global % dp != 0) {
    throw InputError(fmt::format(
        "--global-batch: {} is not divisible by the data-parallel size {} ({} node(s) x {} GPUs); "
        "use a multiple of {}", global, dp, context.cluster.nodes, context.cluster.gpus_per_node, dp));
  }
  if (o.zero_stage && (*o.zero_stage < 0 || *o.zero_stage > 3)) {
    throw InputError(fmt::format("--zero-stage: must be 0, 1, 2 or 3 (got {})", *o.zero_stage));
  }
  if (o.micro_batch && *o.micro_batch <= 0) {
    throw InputError(fmt::format("--micro-batch: must be positive (got {})", *o.micro_batch));
  }
  if (o.grad_accum && *o.grad_accum <= 0) {
    throw InputError(fmt::format("--grad-accum: must be positive (got {})", *o.grad_accum));
  }
  const std::int64_t per_rank = global / dp;
  if (o.micro_batch && o.grad_accum && *o.micro_batch * *o.grad_accum != per_rank) {
    throw InputError(fmt::format(
        "--micro-batch {} x --grad-accum {} x dp {} = {} != --global-batch {} (DeepSpeed's batch rule)",
        *o.micro_batch, *o.grad_accum, dp, *o.micro_batch * *o.grad_accum * dp, global));
  }
  if (o.micro_batch && per_rank % *o.micro_batch != 0) {
    throw InputError(fmt::format("--micro-batch: {} does not divide the per-rank batch {} (= --global-batch {} / dp {})",
                                 *o.micro_batch, per_rank, global, dp));
  }
  if (o.grad_accum && per_rank % *o.grad_accum != 0) {
    throw InputError(fmt::format("--grad-accum: {} does not divide the per-rank batch {} (= --global-batch {} / dp {})",
                                 *o.grad_accum, per_rank, global, dp));
  }
  if (o.offload_param && *o.offload_param == OffloadDevice::kCpu && o.zero_stage && *o.zero_stage != 3) {
    throw InputError(fmt::format("--offload-param: cpu needs ZeRO stage 3 (got --zero-stage {})", *o.zero_stage));
  }
  if (o.offload_optimizer && *o.offload_optimizer == OffloadDevice::kCpu && o.zero_stage && *o.zero_stage == 0) {
    throw InputError("--offload-optimizer: cpu needs ZeRO stage 1, 2 or 3 (got --zero-stage 0)");
  }
  if (!(context.training.headroom_fraction > 0 && context.training.headroom_fraction <= 1)) {
    throw InputError(fmt::format("--headroom: must be in (0, 1] (got {})", context.training.headroom_fraction));
  }
}

std::vector<Candidate> enumerate_candidates(const PlanContext& context, const SearchOptions& o) {
  validate_search(context, o);
  const std::int64_t dp = data_parallel_size(context);
  const std::int64_t per_rank = context.training.global_batch / dp;
  const std::vector<BucketPreset> presets = bucket_presets(context.model, o);
  const std::vector<bool> ckpts = checkpointing_choices(context.training.activation_checkpointing);
  std::vector<Candidate> out;
  for (const StageOffload& so : kStageOffloads) {
    if (o.zero_stage && *o.zero_stage != so.stage) continue;
    if (o.offload_optimizer && *o.offload_optimizer != so.optimizer) continue;
    if (o.offload_param && *o.offload_param != so.param) continue;
    // Stage 0 does not bucket like ZeRO: one preset. Stages 1-2: overlap_comm off (DeepSpeed's
    // default) and on; stage 3: on (DeepSpeed's default).
    const std::size_t preset_count = so.stage == 0 ? 1 : presets.size();
    const std::vector<bool> overlaps = so.stage == 0 ? std::vector<bool>{false}
                                       : so.stage == 3 ? std::vector<bool>{true}
                                                       : std::vector<bool>{false, true};
    for (std::int64_t mbs = 1; mbs <= per_rank; ++mbs) {
      if (per_rank % mbs != 0) continue;
      if (o.micro_batch && *o.micro_batch != mbs) continue;
      const std::int64_t gas = per_rank / mbs;
      if (o.grad_accum && *o.grad_accum != gas) continue;
      for (bool ckpt : ckpts) {
        for (bool overlap : overlaps) {
          for (std::size_t p = 0; p < preset_count; ++p) {
            out.push_back(make_candidate(so, mbs, gas, dp, ckpt, overlap, presets[p]));
          }
        }
      }
    }
  }
  return out;
}

std::uint64_t usable_cpu_bytes(const PlanContext& context) {
  return static_cast<std::uint64_t>(context.training.headroom_fraction *
                                    static_cast<double>(context.cluster.cpu_memory_bytes_per_node));
}

EvaluatedCandidate evaluate_candidate(const PlanContext& context, const Candidate& candidate,
                                      const StepTimeModel& step_time) {
  EvaluatedCandidate e;
  e.candidate = candidate;
  e.memory = estimate_memory(context, candidate);
  e.deepspeed_estimate = deepspeed_estimate(context, candidate);
  e.fits_gpu = e.memory.gpu.total() <= usable_gpu_bytes(context);
  e.fits_cpu = node_host_bytes(context, e.memory) <= usable_cpu_bytes(context);
  e.step = step_time.estimate(context, candidate);
  return e;
}

Plan search_plans(const PlanContext& context, const SearchOptions& options, const StepTimeModel& step_time) {
  const std::vector<Candidate> candidates = enumerate_candidates(context, options);
  Plan plan = empty_plan(context, step_time);
  RejectionTable rejections;
  std::vector<EvaluatedCandidate> fitting;
  for (const Candidate& c : candidates) {
    EvaluatedCandidate e;
    e.candidate = c;
    e.memory = estimate_memory(context, c);
    e.fits_gpu = e.memory.gpu.total() <= plan.usable_gpu_bytes;
    const std::uint64_t host_needed = node_host_bytes(context, e.memory);
    e.fits_cpu = host_needed <= plan.usable_cpu_bytes;
    if (!e.fits()) {
      rejections.add(e, host_needed, plan.usable_gpu_bytes, plan.usable_cpu_bytes);
      continue;
    }
    e.step = step_time.estimate(context, c);
    fitting.push_back(std::move(e));
  }
  plan.evaluated_count = static_cast<std::int64_t>(candidates.size());
  plan.fitting_count = static_cast<std::int64_t>(fitting.size());
  plan.rejections = rejections.collect();
  std::sort(fitting.begin(), fitting.end(), faster);
  std::vector<std::tuple<int, int, int, std::int64_t, bool>> shown;
  for (EvaluatedCandidate& e : fitting) {
    if (plan.candidates.size() >= std::max<std::size_t>(options.top_k, 1)) break;
    const auto key = visible_key(e.candidate);
    if (std::find(shown.begin(), shown.end(), key) != shown.end()) continue;
    shown.push_back(key);
    e.deepspeed_estimate = deepspeed_estimate(context, e.candidate);
    plan.candidates.push_back(e);
  }
  if (!plan.candidates.empty()) plan.best = plan.candidates.front();
  return plan;
}

Plan evaluate_exact(const PlanContext& context, const Candidate& candidate, const StepTimeModel& step_time) {
  Plan plan = empty_plan(context, step_time);
  EvaluatedCandidate e = evaluate_candidate(context, candidate, step_time);
  plan.evaluated_count = 1;
  plan.fitting_count = e.fits() ? 1 : 0;
  if (!e.fits()) {
    RejectionTable r;
    r.add(e, node_host_bytes(context, e.memory), plan.usable_gpu_bytes, plan.usable_cpu_bytes);
    plan.rejections = r.collect();
  }
  plan.candidates.push_back(e);
  plan.best = e;
  return plan;
}

Plan evaluate_configuration(const PlanContext& context, const SearchOptions& options,
                            const StepTimeModel& step_time) {
  ZP_ASSERT(options.evaluation_mode(), "evaluate_configuration needs all five options set");
  validate_search(context, options);
  const StageOffload so{*options.zero_stage, *options.offload_optimizer, *options.offload_param};
  const BucketPreset buckets = bucket_presets(context.model, options).front();  // DeepSpeed's or custom
  const bool overlap = so.stage == 3;  // DeepSpeed's default
  const Toggle t = context.training.activation_checkpointing;
  Candidate c = make_candidate(so, *options.micro_batch, *options.grad_accum, data_parallel_size(context),
                               t == Toggle::kOn, overlap, buckets);
  if (t == Toggle::kAuto) {
    const EvaluatedCandidate off = evaluate_candidate(context, c, step_time);
    if (!off.fits()) c.activation_checkpointing = true;
  }
  return evaluate_exact(context, c, step_time);
}

std::vector<Suggestion> suggest_fixes(const PlanContext& context, const SearchOptions& options,
                                      const StepTimeModel& step_time) {
  std::vector<Suggestion> out;
  auto try_variant = [&](const std::string& change, const PlanContext& ctx, SearchOptions opt) -> bool {
    opt.top_k = 1;
    try {
      Plan p = search_plans(ctx, opt, step_time);
      if (!p.best) return false;
      out.push_back({change, *p.best});
      return true;
    } catch (const InputError&) {
      return false;  // the variation itself is not a valid request
    }
  };
  SearchOptions free_all;  // nothing fixed; bucket overrides dropped too
  free_all.top_k = 1;
  PlanContext auto_ckpt = context;
  auto_ckpt.training.activation_checkpointing = Toggle::kAuto;

  const bool fixed_stage = options.zero_stage || options.offload_optimizer || options.offload_param;
  if (fixed_stage) {
    SearchOptions o = options;
    o.zero_stage.reset();
    o.offload_optimizer.reset();
    o.offload_param.reset();
    try_variant("another ZeRO stage or offload (drop --zero-stage/--offload-*)", context, o);
  }
  if (context.training.activation_checkpointing != Toggle::kOn) {
    PlanContext ctx = context;
    ctx.training.activation_checkpointing = Toggle::kOn;
    try_variant("--activation-checkpointing on", ctx, options);
  }
  if ((options.micro_batch && *options.micro_batch > 1) || options.grad_accum) {
    SearchOptions o = options;
    o.micro_batch.reset();
    o.grad_accum.reset();
    try_variant("a smaller micro-batch (drop --micro-batch/--grad-accum)", context, o);
  }
  const bool restricted = fixed_stage || options.micro_batch || options.grad_accum ||
                          context.training.activation_checkpointing != Toggle::kAuto;
  if (out.empty() && restricted) {
    try_variant("search everything (no fixed stage, offload, batch split; checkpointing auto)", auto_ckpt,
                free_all);
  }
  if (!out.empty()) return out;

  // Shorter sequences: the longest that fits, halving.
  for (std::int64_t s = context.training.seq_len / 2; s >= 128; s /= 2) {
    PlanContext ctx = auto_ckpt;
    ctx.training.seq_len = s;
    if (try_variant(fmt::format("--seq-len {}", s), ctx, free_all)) break;
  }
  // More GPUs: fill the node (max_gpus_per_node of the GPU's usual machine) first, then double the
  // nodes (up to 64x); a one-node cluster gets the GPU preset's inter-node network.
  std::vector<std::pair<int, int>> shapes;  // (nodes, gpus_per_node)
  const int max_gpn = context.cluster.gpu.node.max_gpus_per_node > 0 ? context.cluster.gpu.node.max_gpus_per_node : 8;
  if (context.cluster.gpus_per_node < max_gpn) shapes.emplace_back(context.cluster.nodes, max_gpn);
  for (int k = 2; k <= 64; k *= 2) shapes.emplace_back(context.cluster.nodes * k, std::max(context.cluster.gpus_per_node, 1));
  for (auto [nodes, gpn] : shapes) {
    PlanContext ctx = auto_ckpt;
    ctx.cluster.nodes = nodes;
    ctx.cluster.gpus_per_node = gpn;
    if (ctx.cluster.inter_node_bandwidth_GBps <= 0) {
      ctx.cluster.inter_node_bandwidth_GBps = ctx.cluster.gpu.node.inter_node_bandwidth_GBps;
      ctx.cluster.inter_node_latency_us = ctx.cluster.gpu.node.inter_node_latency_us;
    }
    const std::int64_t dp = static_cast<std::int64_t>(nodes) * gpn;
    std::string note;
    if (ctx.training.global_batch % dp != 0) {
      ctx.training.global_batch = (ctx.training.global_batch + dp - 1) / dp * dp;
      note = fmt::format(", --global-batch {}", ctx.training.global_batch);
    }
    if (try_variant(fmt::format("--nodes {} --gpus-per-node {} ({} GPUs{})", nodes, gpn, dp, note), ctx, free_all)) break;
  }
  return out;
}

}  // namespace zeroplan
