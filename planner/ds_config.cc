#include "planner/ds_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "planner/error.h"
#include "planner/json_fields.h"

namespace zeroplan {
namespace {

using ojson = nlohmann::ordered_json;

bool is_auto(const nlohmann::json& v) { return v.is_string() && v.get<std::string>() == "auto"; }

// Marks every ignored key of the block `prefix` ("" = top level, "offload" = an offload block).
void ignore_known(JsonFields& f, std::string_view prefix) {
  for (std::string_view key : kIgnoredDeepSpeedKeys) {
    if (prefix.empty()) {
      if (key.find('.') == std::string_view::npos) f.ignore(std::string(key));
    } else if (key.size() > prefix.size() + 1 && key.substr(0, prefix.size()) == prefix && key[prefix.size()] == '.') {
      f.ignore(std::string(key.substr(prefix.size() + 1)));
    }
  }
}

// A batch value: a positive integer, "auto", or absent.
struct BatchValue {
  bool present = false;
  bool automatic = false;
  std::int64_t value = 0;
};

BatchValue read_batch_value(JsonFields& f, const std::string& key) {
  BatchValue b;
  if (!f.has(key)) {
    f.ignore(key);
    return b;
  }
  b.present = true;
  if (is_auto(f.raw(key))) {
    b.automatic = true;
  } else {
    b.value = f.positive_integer(key);
  }
  return b;
}

// An element count: a number, "auto" (resolved to `auto_value`, or an error when HF has none), or
// absent (DeepSpeed's default).
std::uint64_t read_count(JsonFields& f, const std::string& key, std::uint64_t deepspeed_default,
                         std::optional<std::uint64_t> auto_value) {
  if (!f.has(key)) {
    f.ignore(key);
    return deepspeed_default;
  }
  if (is_auto(f.raw(key))) {
    if (!auto_value) f.fail(key, "is \"auto\", which HF Trainer does not resolve for this key; give a number");
    return *auto_value;
  }
  return f.elements(key);
}

OffloadDevice read_offload_block(JsonFields& z, const std::string& key) {
  if (!z.has(key)) {
    z.ignore(key);
    return OffloadDevice::kNone;
  }
  JsonFields block = z.object(key);
  ignore_known(block, "offload");
  for (const char* k : {"nvme_path", "fast_init", "pipeline_read", "pipeline_write", "ratio", "super_offload"}) {
    block.ignore(k);
  }
  OffloadDevice d = OffloadDevice::kNone;
  if (block.has("device")) {
    const std::string device = block.string("device");
    if (device == "nvme") block.fail("device", "is \"nvme\": NVMe offload is not modelled (use cpu or none)");
    if (device != "cpu" && device != "none") block.fail("device", fmt::format("must be cpu or none (got \"{}\")", device));
    d = device == "cpu" ? OffloadDevice::kCpu : OffloadDevice::kNone;
  }
  block.reject_unknown();
  return d;
}

// fp16/bf16 "enabled": true, false, "auto" (from --precision) or absent (false).
std::optional<bool> read_enabled(JsonFields& top, const std::string& block_key, bool auto_value) {
  if (!top.has(block_key)) {
    top.ignore(block_key);
    return std::nullopt;
  }
  JsonFields block = top.object(block_key);
  ignore_known(block, block_key);
  if (block_key == "fp16") block.ignore("fp16_master_weights_and_grads");
  if (block_key == "bf16") {
    block.ignore("bf16_master_weights_and_grads");
    block.ignore("bf16_optimizer_states");
  }
  bool enabled = false;
  if (block.has("enabled")) enabled = is_auto(block.raw("enabled")) ? auto_value : block.boolean("enabled");
  block.reject_unknown();
  return enabled;
}

void check_flag(JsonFields& f, const std::string& key, const BatchValue& b, const std::optional<std::int64_t>& flag,
                const char* flag_name) {
  if (b.present && !b.automatic && flag && *flag != b.value) {
    f.fail(key, fmt::format("is {} but {} is {} (HF Trainer rejects such mismatches too)", b.value, flag_name, *flag));
  }
}

}  // namespace

ojson ds_config_to_json(const PlanContext& context, const Candidate& c) {
  const TrainingSpec& t = context.training;
  ojson j;
  // DeepSpeed's batch rule: train_batch_size = micro x accum x data-parallel size.
  j["train_batch_size"] = c.micro_batch * c.grad_accum * c.dp;
  j["train_micro_batch_size_per_gpu"] = c.micro_batch;
  j["gradient_accumulation_steps"] = c.grad_accum;
  j["gradient_clipping"] = t.gradient_clipping;
  if (t.precision == Precision::kFp16) {
    // Dynamic loss scaling with DeepSpeed's defaults (loss_scale 0 = dynamic, 2^16 initial).
    j["fp16"] = {{"enabled", true},        {"loss_scale", 0},  {"initial_scale_power", 16},
                 {"loss_scale_window", 1000}, {"hysteresis", 2}, {"min_loss_scale", 1}};
  } else if (t.precision == Precision::kBf16) {
    j["bf16"] = {{"enabled", true}};
  }
  j["optimizer"] = {{"type", "AdamW"},
                    {"params", {{"lr", t.lr}, {"betas", {0.9, 0.999}}, {"eps", 1e-8}, {"weight_decay", 0.0}}}};
  ojson z;
  z["stage"] = c.zero_stage;
  if (c.zero_stage >= 1) z["offload_optimizer"] = {{"device", offload_name(c.offload_optimizer)}, {"pin_memory", true}};
  if (c.zero_stage == 3) z["offload_param"] = {{"device", offload_name(c.offload_param)}, {"pin_memory", true}};
  z["reduce_bucket_size"] = c.reduce_bucket_size;
  z["allgather_bucket_size"] = c.allgather_bucket_size;
  z["overlap_comm"] = c.overlap_comm;
  z["contiguous_gradients"] = c.contiguous_gradients;
  z["stage3_prefetch_bucket_size"] = c.prefetch_bucket_size;
  z["stage3_max_live_parameters"] = c.max_live_parameters;
  z["stage3_param_persistence_threshold"] = c.param_persistence_threshold;
  // Stage 3 keeps a released parameter gathered when it is reused within this many elements
  // (buffer_memory.cc counts it in the gathered-parameter buffer); stages 0-2 have no such knob.
  if (c.zero_stage == 3) z["stage3_max_reuse_distance"] = c.max_reuse_distance;
  j["zero_optimization"] = z;
  return j;
}

DsConfigResolved read_ds_config(const nlohmann::json& config, const std::string& source, const PlanContext& context,
                                const DsConfigFlags& flags) {
  DsConfigResolved out;
  out.context = context;
  TrainingSpec& training = out.context.training;
  Candidate& c = out.candidate;
  const std::int64_t dp = context.cluster.world_size();
  c.dp = dp;

  JsonFields f(config, source);
  ignore_known(f, "");

  // Batch sizes: "auto" from the flags (HF Trainer), then DeepSpeed's derivation rule.
  BatchValue tbs = read_batch_value(f, "train_batch_size");
  BatchValue mbs = read_batch_value(f, "train_micro_batch_size_per_gpu");
  BatchValue gas = read_batch_value(f, "gradient_accumulation_steps");
  check_flag(f, "train_micro_batch_size_per_gpu", mbs, flags.micro_batch, "--micro-batch");
  check_flag(f, "gradient_accumulation_steps", gas, flags.grad_accum, "--grad-accum");
  check_flag(f, "train_batch_size", tbs, flags.global_batch, "--global-batch");
  std::optional<std::int64_t> m, g, t;
  if (mbs.present) m = mbs.automatic ? flags.micro_batch : std::optional<std::int64_t>(mbs.value);
  if (gas.present) g = gas.automatic ? flags.grad_accum : std::optional<std::int64_t>(gas.value);
  if (tbs.present) t = tbs.automatic ? flags.global_batch : std::optional<std::int64_t>(tbs.value);
  if (mbs.automatic && !m && !(t && g)) {
    f.fail("train_micro_batch_size_per_gpu", "is \"auto\"; give --micro-batch (HF: per_device_train_batch_size)");
  }
  if (gas.automatic && !g) g = flags.grad_accum ? flags.grad_accum : std::optional<std::int64_t>(1);  // HF default 1
  if (!t && !m && !g && flags.global_batch) t = flags.global_batch;
  if (!t && m && g) {
    t = *m * *g * dp;
  } else if (t && m && !g) {
    if (*t % (*m * dp) != 0) {
      f.fail("train_batch_size", fmt::format("{} is not divisible by micro-batch {} x dp {}", *t, *m, dp));
    }
    g = *t / (*m * dp);
  } else if (t && !m && g) {
    if (*t % (*g * dp) != 0) {
      f.fail("train_batch_size", fmt::format("{} is not divisible by accumulation {} x dp {}", *t, *g, dp));
    }
    m = *t / (*g * dp);
  } else if (t && !m && !g) {
    g = 1;
    if (*t % dp != 0) f.fail("train_batch_size", fmt::format("{} is not divisible by dp {}", *t, dp));
    m = *t / dp;
  } else if (!t && m && !g) {
    g = 1;
    t = *m * dp;
  } else if (!t && !m) {
    f.fail("train_batch_size", "is missing and so is train_micro_batch_size_per_gpu (DeepSpeed needs one)");
  }
  if (*t != *m * *g * dp) {
    f.fail("train_batch_size", fmt::format("{} != micro-batch {} x accumulation {} x dp {} = {} (DeepSpeed's batch rule)",
                                           *t, *m, *g, dp, *m * *g * dp));
  }
  c.micro_batch = *m;
  c.grad_accum = *g;
  training.global_batch = *t;

  // Precision.
  const Precision flag_precision = flags.precision.value_or(context.training.precision);
  const std::optional<bool> fp16 = read_enabled(f, "fp16", flag_precision == Precision::kFp16);
  const std::optional<bool> bf16 = read_enabled(f, "bf16", flag_precision == Precision::kBf16);
  if (fp16.value_or(false) && bf16.value_or(false)) f.fail("bf16", "is enabled together with fp16; enable one");
  training.precision = fp16.value_or(false) ? Precision::kFp16 : bf16.value_or(false) ? Precision::kBf16 : Precision::kFp32;
  if (flags.precision && *flags.precision != training.precision) {
    f.fail(fp16.value_or(false) ? "fp16" : "bf16",
           fmt::format("gives {} but --precision is {}", precision_name(training.precision), precision_name(*flags.precision)));
  }

  if (f.has("gradient_clipping") && !is_auto(f.raw("gradient_clipping"))) {
    training.gradient_clipping = f.number("gradient_clipping");
    if (training.gradient_clipping < 0) f.fail("gradient_clipping", "must not be negative");
  } else {
    f.ignore("gradient_clipping");  // absent or "auto": HF's max_grad_norm default 1.0 (DeepSpeed 0.19 too)
  }

  if (f.has("optimizer")) {
    JsonFields opt = f.object("optimizer");
    std::string type = opt.string("type");
    std::string lower = type;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
    if (lower != "adamw" && lower != "adam") {
      opt.fail("type", fmt::format("is \"{}\"; only Adam/AdamW is modelled (12 bytes of states per parameter)", type));
    }
    if (opt.has("params")) {
      const auto& params = opt.raw("params");
      if (params.is_object() && params.contains("lr") && params["lr"].is_number()) training.lr = params["lr"].get<double>();
    }
    ignore_known(opt, "optimizer");
    opt.reject_unknown();
  } else {
    f.ignore("optimizer");
  }

  // zero_optimization.
  const auto h = static_cast<std::uint64_t>(context.model.hidden_size);
  if (f.has("zero_optimization")) {
    JsonFields z = f.object("zero_optimization");
    ignore_known(z, "zero_optimization");
    c.zero_stage = z.has("stage") ? static_cast<int>(z.integer("stage")) : (z.ignore("stage"), 0);
    if (c.zero_stage < 0 || c.zero_stage > 3) z.fail("stage", fmt::format("must be 0, 1, 2 or 3 (got {})", c.zero_stage));
    if (z.has("cpu_offload")) z.fail("cpu_offload", "is deprecated in DeepSpeed; use offload_optimizer {\"device\": \"cpu\"}");
    z.ignore("cpu_offload");
    c.offload_optimizer = read_offload_block(z, "offload_optimizer");
    c.offload_param = read_offload_block(z, "offload_param");
    if (c.offload_optimizer == OffloadDevice::kCpu && c.zero_stage == 0) {
      z.fail("offload_optimizer", "needs stage 1, 2 or 3");
    }
    if (c.offload_param == OffloadDevice::kCpu && c.zero_stage != 3) z.fail("offload_param", "needs stage 3");
    c.reduce_bucket_size = read_count(z, "reduce_bucket_size", 500000000, h * h);
    c.allgather_bucket_size = read_count(z, "allgather_bucket_size", 500000000, std::nullopt);
    c.prefetch_bucket_size = read_count(z, "stage3_prefetch_bucket_size", 50000000,
                                        static_cast<std::uint64_t>(0.9 * static_cast<double>(h * h)));
    c.max_live_parameters = read_count(z, "stage3_max_live_parameters", 1000000000, std::nullopt);
    c.param_persistence_threshold = read_count(z, "stage3_param_persistence_threshold", 100000, 10 * h);
    // DeepSpeed's default 1e9; HF Trainer does not resolve "auto" for it.
    c.max_reuse_distance = read_count(z, "stage3_max_reuse_distance", 1000000000, std::nullopt);
    c.overlap_comm = z.has("overlap_comm") ? z.boolean("overlap_comm") : (z.ignore("overlap_comm"), c.zero_stage == 3);
    c.contiguous_gradients =
        z.has("contiguous_gradients") ? z.boolean("contiguous_gradients") : (z.ignore("contiguous_gradients"), true);
    z.reject_unknown();
  } else {
    f.ignore("zero_optimization");
    c.zero_stage = 0;
  }
  f.reject_unknown();
  return out;
}

DsConfigResolved read_ds_config_file(const std::string& path, const PlanContext& context, const DsConfigFlags& flags) {
  return read_ds_config(read_json_file(path), path, context, flags);
}

}  // namespace zeroplan
