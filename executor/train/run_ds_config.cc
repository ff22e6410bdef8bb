#include "executor/train/run_ds_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>

#include "planner/error.h"
#include "planner/json_fields.h"

namespace zeroplan::executor {

namespace {

bool is_auto(const nlohmann::json& v) { return v.is_string() && v.get<std::string>() == "auto"; }

bool given(const RunOptions& o, const char* flag) {
  return std::find(o.plan_flags.begin(), o.plan_flags.end(), flag) != o.plan_flags.end();
}

// Keys DeepSpeed knows that change nothing a run computes (logging, profiling): accepted, ignored.
constexpr const char* kLoggingKeys[] = {"steps_per_print", "wall_clock_breakdown", "dump_state", "tensorboard",
                                        "wandb", "csv_monitor", "comms_logger", "flops_profiler", "memory_breakdown",
                                        "zero_allow_untested_optimizer", "zero_force_ds_cpu_optimizer", "comment"};

// A number, "auto" (-> auto_value) or absent (-> fallback).
double number_or_auto(JsonFields& f, const std::string& key, double auto_value, double fallback) {
  if (!f.has(key)) return fallback;
  if (is_auto(f.raw(key))) return auto_value;
  return f.number(key);
}

// An integer batch value: absent (nullopt), "auto" (-> the flag's value when given), or a number
// that must agree with the flag when given.
std::optional<std::int64_t> batch_value(JsonFields& f, const std::string& key, const RunOptions& o, const char* flag,
                                        std::int64_t flag_value) {
  if (!f.has(key)) return std::nullopt;
  if (is_auto(f.raw(key))) return flag_value;
  const std::int64_t v = f.positive_integer(key);
  if (flag != nullptr && given(o, flag) && v != flag_value)
    f.fail(key, fmt::format("is {} but {} is {} (HF Trainer rejects such mismatches too)", v, flag, flag_value));
  return v;
}

// A value zeroplan cannot honour unless it has DeepSpeed's default.
template <typename T>
void only_default(JsonFields& f, const std::string& key, T expected, const char* why) {
  if (!f.has(key)) return;
  const nlohmann::json& v = f.raw(key);
  if (is_auto(v)) return;
  bool ok = false;
  if constexpr (std::is_same_v<T, bool>) {
    ok = v.is_boolean() && v.get<bool>() == expected;
  } else {
    ok = v.is_number() && std::abs(v.get<double>() - static_cast<double>(expected)) <= 1e-12 * std::abs(static_cast<double>(expected));
  }
  if (!ok) f.fail(key, fmt::format("is {}: not supported by zeroplan run ({})", v.dump(), why));
}

bool read_offload(JsonFields& z, const std::string& key) {
  if (!z.has(key)) return false;
  JsonFields b = z.object(key);
  bool cpu = false;
  if (b.has("device")) {
    const std::string d = b.string("device");
    if (d == "nvme") b.fail("device", "is \"nvme\": NVMe offload is not supported by zeroplan run (use cpu or none)");
    if (d != "cpu" && d != "none") b.fail("device", fmt::format("must be cpu or none (got \"{}\")", d));
    cpu = d == "cpu";
  }
  // Transfer tuning that does not change what is computed.
  for (const char* k : {"pin_memory", "buffer_count", "buffer_size", "max_in_cpu", "fast_init"}) b.ignore(k);
  b.ignore("nvme_path");
  only_default(b, "ratio", 1.0, "partial optimizer offload");
  b.reject_unknown();
  return cpu;
}

void read_precision(JsonFields& f, RunOptions& o) {
  const bool flag_given = given(o, "--precision");
  bool fp16 = false, bf16 = false;
  if (f.has("fp16")) {
    JsonFields b = f.object("fp16");
    if (b.has("enabled")) fp16 = is_auto(b.raw("enabled")) ? o.precision == "fp16" : b.boolean("enabled");
    RunLossScaleOptions& s = o.loss_scale;
    s.static_loss_scale = b.optional_number("loss_scale", 0.0);
    s.initial_scale_power = static_cast<int>(b.optional_integer("initial_scale_power", 16));
    s.loss_scale_window = b.optional_integer("loss_scale_window", 1000);
    s.hysteresis = b.optional_integer("hysteresis", 2);
    s.consecutive_hysteresis = b.optional_boolean("consecutive_hysteresis", false);
    s.min_loss_scale = b.optional_number("min_loss_scale", 1.0);
    if (s.static_loss_scale < 0) b.fail("loss_scale", "must be >= 0 (0 = dynamic)");
    only_default(b, "auto_cast", false, "autocast of the inputs");
    only_default(b, "fp16_master_weights_and_grads", false, "fp16 master weights");
    b.reject_unknown();
  }
  if (f.has("bf16")) {
    JsonFields b = f.object("bf16");
    if (b.has("enabled")) bf16 = is_auto(b.raw("enabled")) ? o.precision == "bf16" : b.boolean("enabled");
    b.ignore("check_grad_overflow");
    only_default(b, "immediate_grad_update", true, "deferred bf16 gradient accumulation");
    b.reject_unknown();
  }
  if (fp16 && bf16) f.fail("bf16", "is enabled together with fp16; enable one");
  const std::string precision = fp16 ? "fp16" : bf16 ? "bf16" : "fp32";
  if (flag_given && precision != o.precision)
    f.fail(fp16 ? "fp16" : "bf16", fmt::format("gives {} but --precision is {}", precision, o.precision));
  o.precision = precision;
}

void read_optimizer(JsonFields& f, RunOptions& o) {
  if (!f.has("optimizer")) return;
  JsonFields opt = f.object("optimizer");
  const std::string type = opt.string("type");
  std::string lower = type;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower != "adamw" && lower != "adam")
    opt.fail("type", fmt::format("is \"{}\": zeroplan run has AdamW only", type));
  if (opt.has("params")) {
    JsonFields p = opt.object("params");
    o.lr = number_or_auto(p, "lr", o.lr, o.lr);
    o.adam_eps = number_or_auto(p, "eps", o.adam_eps, o.adam_eps);
    o.weight_decay = number_or_auto(p, "weight_decay", o.weight_decay, o.weight_decay);
    if (p.has("betas") && !is_auto(p.raw("betas"))) {
      const nlohmann::json& b = p.raw("betas");
      if (!b.is_array() || b.size() != 2 || !b[0].is_number() || !b[1].is_number())
        p.fail("betas", "must be [beta1, beta2]");
      o.adam_beta1 = b[0].get<double>();
      o.adam_beta2 = b[1].get<double>();
    }
    // DeepSpeed's Adam is AdamW unless adam_w_mode is false (L2 regularisation: not supported).
    only_default(p, "adam_w_mode", true, "Adam with L2 regularisation instead of decoupled weight decay");
    p.ignore("torch_adam");
    only_default(p, "amsgrad", false, "AMSGrad");
    p.reject_unknown();
  }
  opt.reject_unknown();
}

void read_scheduler(JsonFields& f, RunOptions& o, std::int64_t run_steps) {
  if (!f.has("scheduler")) return;
  JsonFields s = f.object("scheduler");
  const std::string type = s.string("type");
  if (type != "WarmupLR" && type != "WarmupDecayLR" && type != "WarmupCosineLR")
    s.fail("type", fmt::format("is \"{}\": zeroplan run has WarmupLR, WarmupDecayLR, WarmupCosineLR", type));
  if (given(o, "--lr-scheduler") && o.lr_scheduler != type)
    s.fail("type", fmt::format("is {} but --lr-scheduler is {}", type, o.lr_scheduler));
  o.lr_scheduler = type;
  if (s.has("params")) {
    JsonFields p = s.object("params");
    o.warmup_min_lr = number_or_auto(p, "warmup_min_lr", 0.0, o.warmup_min_lr);  // HF: 0
    o.lr = number_or_auto(p, "warmup_max_lr", o.lr, o.lr);                        // HF: --lr
    o.warmup_steps = static_cast<std::int64_t>(
        number_or_auto(p, "warmup_num_steps", static_cast<double>(o.warmup_steps), 1000.0));
    o.lr_total_num_steps = static_cast<std::int64_t>(
        number_or_auto(p, "total_num_steps", static_cast<double>(run_steps), static_cast<double>(o.lr_total_num_steps)));
    if (p.has("warmup_type")) o.warmup_type = p.string("warmup_type");
    o.cos_min_ratio = number_or_auto(p, "cos_min_ratio", o.cos_min_ratio, o.cos_min_ratio);
    o.warmup_min_ratio = number_or_auto(p, "warmup_min_ratio", o.warmup_min_ratio, o.warmup_min_ratio);
    p.ignore("last_batch_iteration");  // -1: a fresh start (resume comes from the checkpoint)
    p.reject_unknown();
  }
  s.reject_unknown();
}

void read_zero(JsonFields& f, RunOptions& o, std::int64_t hidden) {
  if (!f.has("zero_optimization")) return;
  JsonFields z = f.object("zero_optimization");
  RunZeroConfig& c = o.zero;
  if (z.has("stage")) c.stage = static_cast<int>(z.integer("stage"));
  if (c.stage < 0 || c.stage > 3) z.fail("stage", fmt::format("must be 0, 1, 2 or 3 (got {})", c.stage));
  if (z.has("cpu_offload")) z.fail("cpu_offload", "is deprecated in DeepSpeed; use offload_optimizer {\"device\": \"cpu\"}");
  c.offload_optimizer = read_offload(z, "offload_optimizer");
  c.offload_param = read_offload(z, "offload_param");
  auto elements = [&](const char* key, std::int64_t fallback, std::optional<std::int64_t> auto_value) {
    if (!z.has(key)) return fallback;
    if (is_auto(z.raw(key))) {
      if (!auto_value) z.fail(key, "is \"auto\", which HF Trainer does not resolve for this key; give a number");
      return *auto_value;
    }
    return static_cast<std::int64_t>(z.elements(key));
  };
  c.reduce_bucket_size = elements("reduce_bucket_size", c.reduce_bucket_size, hidden * hidden);
  c.allgather_bucket_size = elements("allgather_bucket_size", c.allgather_bucket_size, std::nullopt);
  c.stage3_prefetch_bucket_size = elements("stage3_prefetch_bucket_size", c.stage3_prefetch_bucket_size,
                                           static_cast<std::int64_t>(0.9 * static_cast<double>(hidden * hidden)));
  c.stage3_max_live_parameters = elements("stage3_max_live_parameters", c.stage3_max_live_parameters, std::nullopt);
  c.stage3_param_persistence_threshold =
      elements("stage3_param_persistence_threshold", c.stage3_param_persistence_threshold, 10 * hidden);
  c.overlap_comm = z.optional_boolean("overlap_comm", c.stage == 3);  // DeepSpeed: true for stage 3
  c.contiguous_gradients = z.optional_boolean("contiguous_gradients", true);
  // Switches whose DeepSpeed default is the only behaviour zeroplan has.
  only_default(z, "reduce_scatter", true, "gradient all-reduce instead of reduce-scatter");
  only_default(z, "allgather_partitions", true, "broadcast instead of all-gather of the partitions");
  only_default(z, "stage3_max_reuse_distance", 1'000'000'000, "parameter reuse caching");
  only_default(z, "stage3_model_persistence_threshold", static_cast<double>(INT64_MAX), "model persistence");
  // Grouping/ordering choices that leave the arithmetic unchanged, and save-time options.
  for (const char* k : {"sub_group_size", "round_robin_gradients", "ignore_unused_parameters",
                        "load_from_fp32_weights", "elastic_checkpoint", "memory_efficient_linear",
                        "stage3_gather_16bit_weights_on_model_save", "stage3_gather_fp16_weights_on_model_save"})
    z.ignore(k);
  z.reject_unknown();
  if (c.offload_optimizer && c.stage == 0) z.fail("offload_optimizer", "needs stage 1, 2 or 3");
  if (c.offload_param && c.stage != 3) z.fail("offload_param", "needs stage 3");
}

}  // namespace

void apply_ds_config_json(RunOptions& o, const nlohmann::json& config, const std::string& source, int world,
                          std::int64_t hidden_size) {
  JsonFields f(config, source);
  for (const char* k : kLoggingKeys) f.ignore(k);
  if (config.is_object())
    for (const char* k : {"activation_checkpointing", "data_types", "checkpoint", "aio", "sparse_attention",
                          "pipeline", "elasticity", "compression_training", "amp", "curriculum_learning",
                          "data_efficiency", "autotuning", "nebula", "seq_parallel_communication_data_type"})
      if (config.contains(k))
        f.fail(k, "is a DeepSpeed option zeroplan run does not support (remove it, or see README: Running)");

  // Batch: DeepSpeed's rule train_batch_size = micro x accum x world; any two give the third.
  std::optional<std::int64_t> m = batch_value(f, "train_micro_batch_size_per_gpu", o, "--micro-batch", o.micro_batch);
  std::optional<std::int64_t> g = batch_value(f, "gradient_accumulation_steps", o, "--grad-accum", o.grad_accum);
  std::optional<std::int64_t> t;
  if (f.has("train_batch_size")) {
    t = is_auto(f.raw("train_batch_size")) ? std::nullopt : std::optional<std::int64_t>(f.positive_integer("train_batch_size"));
  }
  if (!m && !given(o, "--micro-batch") && t && g) {
    if (*t % (*g * world) != 0)
      f.fail("train_batch_size", fmt::format("{} is not divisible by accumulation {} x {} ranks", *t, *g, world));
    m = *t / (*g * world);
  }
  if (!m) m = o.micro_batch;
  if (!g) {
    if (t && !given(o, "--grad-accum")) {
      if (*t % (*m * world) != 0)
        f.fail("train_batch_size", fmt::format("{} is not divisible by micro-batch {} x {} ranks", *t, *m, world));
      g = *t / (*m * world);
    } else {
      g = o.grad_accum;
    }
  }
  if (t && *t != *m * *g * world)
    f.fail("train_batch_size", fmt::format("{} != micro-batch {} x accumulation {} x {} ranks = {} (DeepSpeed's batch rule)",
                                           *t, *m, *g, world, *m * *g * world));
  o.micro_batch = *m;
  o.grad_accum = *g;

  if (f.has("gradient_clipping")) {
    const double clip = number_or_auto(f, "gradient_clipping", o.clip_grad, o.clip_grad);
    if (clip < 0) f.fail("gradient_clipping", "must not be negative");
    if (given(o, "--clip-grad") && clip != o.clip_grad)
      f.fail("gradient_clipping", fmt::format("is {} but --clip-grad is {}", clip, o.clip_grad));
    o.clip_grad = clip;
  }
  read_precision(f, o);
  read_optimizer(f, o);
  read_scheduler(f, o, o.steps);
  read_zero(f, o, hidden_size);

  // DeepSpeed options whose non-default values change the arithmetic in ways zeroplan does not do.
  only_default(f, "prescale_gradients", false, "gradients divided before the reduction");
  only_default(f, "gradient_predivide_factor", 1.0, "gradient pre-division");
  if (f.has("communication_data_type")) {
    const nlohmann::json& v = f.raw("communication_data_type");
    if (!v.is_null() && !(v.is_string() && (v == "fp32" || v == "float32")))
      f.fail("communication_data_type", fmt::format("is {}: zeroplan run reduces gradients in fp32", v.dump()));
  }
  f.reject_unknown();  // "activation_checkpointing", "data_types", ... and typos: named here
}

void apply_ds_config(RunOptions& o, int world, std::int64_t hidden_size) {
  apply_ds_config_json(o, read_json_file(o.ds_config), o.ds_config, world, hidden_size);
}

}  // namespace zeroplan::executor
