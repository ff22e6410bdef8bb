#include "planner/plan_json.h"

#include <fmt/format.h>

#include "planner/error.h"
#include "planner/json_fields.h"
#include "planner/memory_model.h"

namespace zeroplan {
namespace {

using ojson = nlohmann::ordered_json;

ojson model_to_json(const ModelSpec& m) {
  const ParamCounts counts = count_params(m);
  ojson j;
  j["name"] = m.name;
  j["architecture"] = architecture_name(m.architecture);
  j["num_params"] = counts.total;
  j["largest_layer_params"] = counts.largest_layer_params;
  j["hidden_size"] = m.hidden_size;
  j["intermediate_size"] = m.intermediate_size;
  j["num_hidden_layers"] = m.num_hidden_layers;
  j["num_attention_heads"] = m.num_attention_heads;
  j["num_key_value_heads"] = m.num_key_value_heads;
  j["head_dim"] = m.head_dim;
  j["vocab_size"] = m.vocab_size;
  j["max_position_embeddings"] = m.max_position_embeddings;
  j["tie_word_embeddings"] = m.tie_word_embeddings;
  j["qkv_bias"] = m.qkv_bias;
  j["o_bias"] = m.o_bias;
  j["mlp_bias"] = m.mlp_bias;
  j["rms_norm_eps"] = m.rms_norm_eps;
  j["rope_theta"] = m.rope_theta;
  if (m.rope_scaling.rope_type.empty()) {
    j["rope_scaling"] = nullptr;
  } else {
    j["rope_scaling"] = {{"rope_type", m.rope_scaling.rope_type},
                         {"factor", m.rope_scaling.factor},
                         {"low_freq_factor", m.rope_scaling.low_freq_factor},
                         {"high_freq_factor", m.rope_scaling.high_freq_factor},
                         {"original_max_position_embeddings", m.rope_scaling.original_max_position_embeddings}};
  }
  j["sliding_window"] = m.sliding_window;
  return j;
}

ojson gpu_to_json(const GpuSpec& g) {
  ojson j;
  j["name"] = g.name;
  j["display_name"] = g.display_name;
  j["kind"] = device_kind_name(g.kind);
  j["memory_bytes"] = g.memory_bytes;
  j["peak_bf16_tflops"] = g.peak_bf16_tflops;
  j["peak_fp16_tflops"] = g.peak_fp16_tflops;
  j["peak_fp32_tflops"] = g.peak_fp32_tflops;
  j["hbm_bandwidth_GBps"] = g.hbm_bandwidth_GBps;
  j["intra_node_bandwidth_GBps"] = g.intra_node_bandwidth_GBps;
  j["intra_node_nvlink"] = g.intra_node_nvlink;
  j["pcie_bandwidth_GBps"] = g.pcie_bandwidth_GBps;
  j["cuda_context_bytes"] = g.cuda_context_bytes;
  j["nccl_buffer_bytes"] = g.nccl_buffer_bytes;
  j["allocator_fragmentation"] = g.allocator_fragmentation;
  j["node"] = {{"cpu_memory_bytes", g.node.cpu_memory_bytes},
               {"inter_node_bandwidth_GBps", g.node.inter_node_bandwidth_GBps},
               {"inter_node_latency_us", g.node.inter_node_latency_us},
               {"intra_node_latency_us", g.node.intra_node_latency_us},
               {"topology", g.node.topology},
               {"max_gpus_per_node", g.node.max_gpus_per_node}};
  j["sources"] = ojson::object();
  for (const auto& [figure, text] : g.sources) j["sources"][figure] = text;
  return j;
}

ojson cluster_to_json(const ClusterSpec& c) {
  ojson j;
  j["name"] = c.name;
  j["nodes"] = c.nodes;
  j["gpus_per_node"] = c.gpus_per_node;
  j["gpu"] = gpu_to_json(c.gpu);
  j["cpu_memory_bytes_per_node"] = c.cpu_memory_bytes_per_node;
  j["inter_node_bandwidth_GBps"] = c.inter_node_bandwidth_GBps;
  j["inter_node_latency_us"] = c.inter_node_latency_us;
  j["intra_node_latency_us"] = c.intra_node_latency_us;
  j["topology"] = c.topology;
  return j;
}

ojson training_to_json(const TrainingSpec& t) {
  ojson j;
  j["seq_len"] = t.seq_len;
  j["global_batch"] = t.global_batch;
  j["precision"] = precision_name(t.precision);
  j["activation_checkpointing"] = toggle_name(t.activation_checkpointing);
  j["attention"] = attention_name(t.attention);
  j["runtime"] = runtime_name(t.runtime);
  j["optimizer"] = "adamw";
  j["headroom_fraction"] = t.headroom_fraction;
  j["gradient_clipping"] = t.gradient_clipping;
  j["lr"] = t.lr;
  return j;
}

ojson rejection_to_json(const RejectionGroup& r) {
  ojson j;
  j["zero_stage"] = r.zero_stage;
  j["offload_optimizer"] = offload_name(r.offload_optimizer);
  j["offload_param"] = offload_name(r.offload_param);
  j["overflow"] = overflow_name(r.overflow);
  j["count"] = r.count;
  j["needed_bytes"] = r.needed_bytes;
  j["usable_bytes"] = r.usable_bytes;
  j["closest_micro_batch"] = r.closest_micro_batch;
  j["closest_activation_checkpointing"] = r.closest_activation_checkpointing;
  return j;
}

std::uint64_t read_bytes(JsonFields& f, const std::string& key) {
  const std::int64_t v = f.integer(key);
  if (v < 0) f.fail(key, fmt::format("must not be negative (got {})", v));
  return static_cast<std::uint64_t>(v);
}

double read_nonnegative(JsonFields& f, const std::string& key) {
  const double v = f.number(key);
  if (v < 0) f.fail(key, fmt::format("must not be negative (got {})", v));
  return v;
}

Architecture read_architecture(JsonFields& f, const std::string& key) {
  const std::string text = f.string(key);
  for (Architecture a : {Architecture::kLlama, Architecture::kMistral, Architecture::kQwen2}) {
    if (text == architecture_name(a)) return a;
  }
  f.fail(key, fmt::format("names an unknown architecture \"{}\"", text));
}

ModelSpec model_from_json(JsonFields f, const std::string& source) {
  ModelSpec m;
  m.source = source;
  m.name = f.string("name");
  m.architecture = read_architecture(f, "architecture");
  m.hidden_size = f.positive_integer("hidden_size");
  m.intermediate_size = f.positive_integer("intermediate_size");
  m.num_hidden_layers = f.positive_integer("num_hidden_layers");
  m.num_attention_heads = f.positive_integer("num_attention_heads");
  m.num_key_value_heads = f.positive_integer("num_key_value_heads");
  m.head_dim = f.positive_integer("head_dim");
  m.vocab_size = f.positive_integer("vocab_size");
  m.max_position_embeddings = f.positive_integer("max_position_embeddings");
  m.tie_word_embeddings = f.boolean("tie_word_embeddings");
  m.qkv_bias = f.boolean("qkv_bias");
  m.o_bias = f.boolean("o_bias");
  m.mlp_bias = f.boolean("mlp_bias");
  m.rms_norm_eps = f.number("rms_norm_eps");
  m.rope_theta = f.number("rope_theta");
  if (f.has("rope_scaling")) {
    JsonFields r = f.object("rope_scaling");
    m.rope_scaling.rope_type = r.string("rope_type");
    m.rope_scaling.factor = r.number("factor");
    m.rope_scaling.low_freq_factor = r.number("low_freq_factor");
    m.rope_scaling.high_freq_factor = r.number("high_freq_factor");
    m.rope_scaling.original_max_position_embeddings = r.integer("original_max_position_embeddings");
    r.reject_unknown();
  } else {
    f.ignore("rope_scaling");
  }
  m.sliding_window = f.integer("sliding_window");
  const ParamCounts counts = count_params(m);
  const std::int64_t num_params = f.integer("num_params");
  if (num_params != counts.total) {
    f.fail("num_params", fmt::format("is {} but the model shape has {} parameters", num_params, counts.total));
  }
  const std::int64_t largest = f.integer("largest_layer_params");
  if (largest != counts.largest_layer_params) {
    f.fail("largest_layer_params",
           fmt::format("is {} but the model shape gives {}", largest, counts.largest_layer_params));
  }
  f.reject_unknown();
  return m;
}

GpuSpec gpu_from_json(JsonFields f) {
  GpuSpec g;
  g.name = f.string("name");
  g.display_name = f.string("display_name");
  const std::string kind = f.string("kind");
  if (kind == "gpu") g.kind = DeviceKind::kGpu;
  else if (kind == "cpu") g.kind = DeviceKind::kCpu;
  else f.fail("kind", fmt::format("must be \"gpu\" or \"cpu\" (got \"{}\")", kind));
  g.memory_bytes = read_bytes(f, "memory_bytes");
  g.peak_bf16_tflops = read_nonnegative(f, "peak_bf16_tflops");
  g.peak_fp16_tflops = read_nonnegative(f, "peak_fp16_tflops");
  g.peak_fp32_tflops = read_nonnegative(f, "peak_fp32_tflops");
  g.hbm_bandwidth_GBps = read_nonnegative(f, "hbm_bandwidth_GBps");
  g.intra_node_bandwidth_GBps = read_nonnegative(f, "intra_node_bandwidth_GBps");
  g.intra_node_nvlink = f.boolean("intra_node_nvlink");
  g.pcie_bandwidth_GBps = read_nonnegative(f, "pcie_bandwidth_GBps");
  g.cuda_context_bytes = read_bytes(f, "cuda_context_bytes");
  g.nccl_buffer_bytes = read_bytes(f, "nccl_buffer_bytes");
  g.allocator_fragmentation = read_nonnegative(f, "allocator_fragmentation");
  JsonFields node = f.object("node");
  g.node.cpu_memory_bytes = read_bytes(node, "cpu_memory_bytes");
  g.node.inter_node_bandwidth_GBps = read_nonnegative(node, "inter_node_bandwidth_GBps");
  g.node.inter_node_latency_us = read_nonnegative(node, "inter_node_latency_us");
  g.node.intra_node_latency_us = read_nonnegative(node, "intra_node_latency_us");
  g.node.topology = node.string("topology");
  g.node.max_gpus_per_node = static_cast<int>(node.positive_integer("max_gpus_per_node"));
  node.reject_unknown();
  const auto& sources = f.raw("sources");
  if (!sources.is_object()) f.fail("sources", "must be an object of strings");
  for (const auto& [figure, text] : sources.items()) {
    if (!text.is_string()) f.fail("sources", fmt::format("entry \"{}\" must be a string", figure));
    g.sources[figure] = text.get<std::string>();
  }
  f.reject_unknown();
  return g;
}

ClusterSpec cluster_from_json(JsonFields f) {
  ClusterSpec c;
  c.name = f.string("name");
  c.nodes = static_cast<int>(f.positive_integer("nodes"));
  c.gpus_per_node = static_cast<int>(f.positive_integer("gpus_per_node"));
  c.gpu = gpu_from_json(f.object("gpu"));
  c.cpu_memory_bytes_per_node = read_bytes(f, "cpu_memory_bytes_per_node");
  c.inter_node_bandwidth_GBps = read_nonnegative(f, "inter_node_bandwidth_GBps");
  c.inter_node_latency_us = read_nonnegative(f, "inter_node_latency_us");
  c.intra_node_latency_us = read_nonnegative(f, "intra_node_latency_us");
  c.topology = f.string("topology");
  f.reject_unknown();
  return c;
}

TrainingSpec training_from_json(JsonFields f) {
  TrainingSpec t;
  t.seq_len = f.positive_integer("seq_len");
  t.global_batch = f.positive_integer("global_batch");
  t.precision = parse_precision(f.string("precision"), f.source() + ": field \"training.precision\"");
  t.activation_checkpointing =
      parse_toggle(f.string("activation_checkpointing"), f.source() + ": field \"training.activation_checkpointing\"");
  t.attention = parse_attention(f.string("attention"), f.source() + ": field \"training.attention\"");
  // Optional (plans written before it was added: "auto", resolved by the cluster's device kind).
  t.runtime = parse_runtime(f.optional_string("runtime", "auto"), f.source() + ": field \"training.runtime\"");
  if (f.string("optimizer") != "adamw") f.fail("optimizer", "must be \"adamw\" (the only optimizer modelled)");
  t.headroom_fraction = f.number("headroom_fraction");
  if (!(t.headroom_fraction > 0 && t.headroom_fraction <= 1)) f.fail("headroom_fraction", "must be in (0, 1]");
  t.gradient_clipping = read_nonnegative(f, "gradient_clipping");
  t.lr = read_nonnegative(f, "lr");
  f.reject_unknown();
  return t;
}

OffloadDevice read_offload(JsonFields& f, const std::string& key) {
  return parse_offload(f.string(key), f.source() + ": field \"" + f.field_path(key) + "\"");
}

EvaluatedCandidate candidate_from_json(JsonFields f) {
  EvaluatedCandidate e;
  Candidate& c = e.candidate;
  c.zero_stage = static_cast<int>(f.integer("zero_stage"));
  if (c.zero_stage < 0 || c.zero_stage > 3) f.fail("zero_stage", "must be 0, 1, 2 or 3");
  c.offload_optimizer = read_offload(f, "offload_optimizer");
  c.offload_param = read_offload(f, "offload_param");
  c.micro_batch = f.positive_integer("micro_batch");
  c.grad_accum = f.positive_integer("grad_accum");
  c.dp = f.positive_integer("dp");
  c.activation_checkpointing = f.boolean("activation_checkpointing");
  c.overlap_comm = f.boolean("overlap_comm");
  c.contiguous_gradients = f.boolean("contiguous_gradients");
  c.reduce_bucket_size = f.elements("reduce_bucket_size");
  c.allgather_bucket_size = f.elements("allgather_bucket_size");
  c.prefetch_bucket_size = f.elements("prefetch_bucket_size");
  c.max_live_parameters = f.elements("max_live_parameters");
  c.param_persistence_threshold = f.elements("param_persistence_threshold");
  JsonFields mem = f.object("memory");
  JsonFields gpu = mem.object("gpu");
  e.memory.gpu.params = read_bytes(gpu, "params");
  e.memory.gpu.gradients = read_bytes(gpu, "gradients");
  e.memory.gpu.optimizer_states = read_bytes(gpu, "optimizer_states");
  e.memory.gpu.activations = read_bytes(gpu, "activations");
  e.memory.gpu.buffers = read_bytes(gpu, "buffers");
  e.memory.gpu.overhead = read_bytes(gpu, "overhead");
  if (read_bytes(gpu, "total") != e.memory.gpu.total()) gpu.fail("total", "is not the sum of the categories");
  gpu.reject_unknown();
  JsonFields cpu = mem.object("cpu");
  e.memory.cpu.params = read_bytes(cpu, "params");
  e.memory.cpu.gradients = read_bytes(cpu, "gradients");
  e.memory.cpu.optimizer_states = read_bytes(cpu, "optimizer_states");
  e.memory.cpu.buffers = read_bytes(cpu, "buffers");
  if (read_bytes(cpu, "total") != e.memory.cpu.total()) cpu.fail("total", "is not the sum of the categories");
  cpu.reject_unknown();
  mem.reject_unknown();
  JsonFields ds = f.object("deepspeed_estimate");
  e.deepspeed_estimate.gpu = read_bytes(ds, "gpu");
  e.deepspeed_estimate.cpu = read_bytes(ds, "cpu");
  ds.reject_unknown();
  e.fits_gpu = f.boolean("fits_gpu");
  e.fits_cpu = f.boolean("fits_cpu");
  if (f.boolean("fits") != e.fits()) f.fail("fits", "contradicts fits_gpu and fits_cpu");
  e.step.total_s = read_nonnegative(f, "step_time_s");
  e.step.tokens_per_s = read_nonnegative(f, "tokens_per_s");
  JsonFields step = f.object("step");
  e.step.compute_s = read_nonnegative(step, "compute_s");
  e.step.comm_exposed_s = read_nonnegative(step, "comm_exposed_s");
  e.step.offload_s = read_nonnegative(step, "offload_s");
  e.step.optimizer_s = read_nonnegative(step, "optimizer_s");
  step.reject_unknown();
  f.reject_unknown();
  return e;
}

RejectionGroup rejection_from_json(JsonFields f) {
  RejectionGroup r;
  r.zero_stage = static_cast<int>(f.integer("zero_stage"));
  r.offload_optimizer = read_offload(f, "offload_optimizer");
  r.offload_param = read_offload(f, "offload_param");
  r.overflow = parse_overflow(f.string("overflow"), f.source() + ": field \"" + f.field_path("overflow") + "\"");
  r.count = f.positive_integer("count");
  r.needed_bytes = read_bytes(f, "needed_bytes");
  r.usable_bytes = read_bytes(f, "usable_bytes");
  r.closest_micro_batch = f.positive_integer("closest_micro_batch");
  r.closest_activation_checkpointing = f.boolean("closest_activation_checkpointing");
  f.reject_unknown();
  return r;
}

}  // namespace

ojson candidate_to_json(const EvaluatedCandidate& e) {
  const Candidate& c = e.candidate;
  ojson j;
  j["zero_stage"] = c.zero_stage;
  j["offload_optimizer"] = offload_name(c.offload_optimizer);
  j["offload_param"] = offload_name(c.offload_param);
  j["micro_batch"] = c.micro_batch;
  j["grad_accum"] = c.grad_accum;
  j["dp"] = c.dp;
  j["activation_checkpointing"] = c.activation_checkpointing;
  j["overlap_comm"] = c.overlap_comm;
  j["contiguous_gradients"] = c.contiguous_gradients;
  j["reduce_bucket_size"] = c.reduce_bucket_size;
  j["allgather_bucket_size"] = c.allgather_bucket_size;
  j["prefetch_bucket_size"] = c.prefetch_bucket_size;
  j["max_live_parameters"] = c.max_live_parameters;
  j["param_persistence_threshold"] = c.param_persistence_threshold;
  const GpuMemory& g = e.memory.gpu;
  const CpuMemory& cpu = e.memory.cpu;
  j["memory"]["gpu"] = {{"params", g.params},       {"gradients", g.gradients}, {"optimizer_states", g.optimizer_states},
                        {"activations", g.activations}, {"buffers", g.buffers}, {"overhead", g.overhead},
                        {"total", g.total()}};
  j["memory"]["cpu"] = {{"params", cpu.params},   {"gradients", cpu.gradients}, {"optimizer_states", cpu.optimizer_states},
                        {"buffers", cpu.buffers}, {"total", cpu.total()}};
  j["deepspeed_estimate"] = {{"gpu", e.deepspeed_estimate.gpu}, {"cpu", e.deepspeed_estimate.cpu}};
  j["fits"] = e.fits();
  j["fits_gpu"] = e.fits_gpu;
  j["fits_cpu"] = e.fits_cpu;
  j["step_time_s"] = e.step.total_s;
  j["tokens_per_s"] = e.step.tokens_per_s;
  j["step"] = {{"compute_s", e.step.compute_s},
               {"comm_exposed_s", e.step.comm_exposed_s},
               {"offload_s", e.step.offload_s},
               {"optimizer_s", e.step.optimizer_s}};
  return j;
}

ojson plan_to_json(const Plan& plan) {
  ojson j;
  j["schema"] = kPlanSchema;
  j["model"] = model_to_json(plan.context.model);
  j["cluster"] = cluster_to_json(plan.context.cluster);
  j["training"] = training_to_json(plan.context.training);
  j["training"]["runtime"] = runtime_name(effective_runtime(plan.context));  // auto resolved: what was sized
  j["step_time_model"] = plan.step_time_model;
  j["hardware_profile"] = plan.hardware_profile.empty() ? ojson(nullptr) : ojson(plan.hardware_profile);
  j["usable_gpu_bytes"] = plan.usable_gpu_bytes;
  j["usable_cpu_bytes"] = plan.usable_cpu_bytes;
  j["evaluated_count"] = plan.evaluated_count;
  j["fitting_count"] = plan.fitting_count;
  j["best"] = plan.best ? candidate_to_json(*plan.best) : ojson(nullptr);
  j["candidates"] = ojson::array();
  for (const auto& c : plan.candidates) j["candidates"].push_back(candidate_to_json(c));
  j["rejections"] = ojson::array();
  for (const auto& r : plan.rejections) j["rejections"].push_back(rejection_to_json(r));
  j["suggestions"] = ojson::array();
  for (const auto& s : plan.suggestions) {
    ojson entry;
    entry["change"] = s.change;
    entry["best"] = candidate_to_json(s.best);
    j["suggestions"].push_back(entry);
  }
  return j;
}

std::string write_plan_json(const Plan& plan) { return plan_to_json(plan).dump(2) + "\n"; }

Plan plan_from_json(const nlohmann::json& json, const std::string& source) {
  JsonFields f(json, source);
  const std::string schema = f.string("schema");
  if (schema != kPlanSchema) {
    f.fail("schema", fmt::format("is \"{}\"; this zeroplan reads \"{}\"", schema, kPlanSchema));
  }
  Plan plan;
  plan.context.model = model_from_json(f.object("model"), source);
  plan.context.cluster = cluster_from_json(f.object("cluster"));
  plan.context.training = training_from_json(f.object("training"));
  plan.context.training.runtime = effective_runtime(plan.context);
  plan.step_time_model = f.string("step_time_model");
  // Optional (absent in plans written before it was added); null = datasheet figures.
  if (f.has("hardware_profile") && !f.raw("hardware_profile").is_null()) {
    plan.hardware_profile = f.string("hardware_profile");
  } else {
    f.ignore("hardware_profile");
  }
  plan.usable_gpu_bytes = read_bytes(f, "usable_gpu_bytes");
  plan.usable_cpu_bytes = read_bytes(f, "usable_cpu_bytes");
  plan.evaluated_count = f.integer("evaluated_count");
  plan.fitting_count = f.integer("fitting_count");
  if (f.has("best")) {
    plan.best = candidate_from_json(f.object("best"));
  } else {
    f.ignore("best");
  }
  const auto& candidates = f.raw("candidates");
  if (!candidates.is_array()) f.fail("candidates", "must be an array");
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    plan.candidates.push_back(candidate_from_json(JsonFields(candidates[i], source, fmt::format("candidates[{}]", i))));
  }
  const auto& rejections = f.raw("rejections");
  if (!rejections.is_array()) f.fail("rejections", "must be an array");
  for (std::size_t i = 0; i < rejections.size(); ++i) {
    plan.rejections.push_back(rejection_from_json(JsonFields(rejections[i], source, fmt::format("rejections[{}]", i))));
  }
  if (f.has("suggestions")) {  // optional: absent in plans written before it was added
    const auto& suggestions = f.raw("suggestions");
    if (!suggestions.is_array()) f.fail("suggestions", "must be an array");
    for (std::size_t i = 0; i < suggestions.size(); ++i) {
      JsonFields s(suggestions[i], source, fmt::format("suggestions[{}]", i));
      Suggestion suggestion;
      suggestion.change = s.string("change");
      suggestion.best = candidate_from_json(s.object("best"));
      s.reject_unknown();
      plan.suggestions.push_back(std::move(suggestion));
    }
  } else {
    f.ignore("suggestions");
  }
  f.reject_unknown();
  return plan;
}

Plan read_plan_json(const std::string& path) { return plan_from_json(read_json_file(path), path); }

}  // namespace zeroplan
