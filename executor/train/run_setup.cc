#include "executor/train/run_setup.h"

#include <fmt/format.h>

#include <ctime>
#include <filesystem>

#include "executor/train/run_ds_config.h"
#include "executor/train/run_plan.h"
#include "executor/train/trainer.h"
#include "planner/error.h"
#include "planner/plan_json.h"

namespace zeroplan::executor {

namespace fs = std::filesystem;

void validate_run_options(const RunOptions& o) {
  if (o.model_dir.empty() == o.model_config.empty())
    throw InputError("give exactly one of --model-dir DIR (Hugging Face weights) or --model CONFIG --init random");
  if (!o.model_config.empty() && o.init != "random")
    throw InputError("--model " + o.model_config + " has no weights: add --init random (or use --model-dir DIR)");
  if (!o.model_dir.empty() && !o.init.empty())
    throw InputError("--init random goes with --model CONFIG; --model-dir loads the folder's weights");
  if (o.data.empty()) throw InputError("--data FILE.jsonl is required");
  if ((o.steps > 0) == (o.epochs > 0)) throw InputError("give exactly one of --steps N or --epochs N (positive)");
  if (o.steps < 0 || o.epochs < 0) throw InputError("--steps/--epochs must be positive");
  if (o.micro_batch <= 0) throw InputError("--micro-batch must be positive");
  if (o.grad_accum <= 0) throw InputError("--grad-accum must be positive");
  if (o.max_seq_len < 2) throw InputError("--max-seq-len must be at least 2");
  if (!(o.lr >= 0.0)) throw InputError("--lr must be >= 0");
  if (o.warmup_steps < 0) throw InputError("--warmup-steps must be >= 0");
  if (o.save_every < 0) throw InputError("--save-every must be >= 0");
  if (o.threads < 0) throw InputError("--threads must be >= 0");
  if (o.clip_grad < 0) throw InputError("--clip-grad must be >= 0 (0 = off)");
  if (!(o.launch.timeout_s > 0)) throw InputError("--timeout-s must be positive");
  if (o.plan.empty() && o.candidate != 0) throw InputError("--candidate K goes with --plan plan.json");
  if (!o.plan.empty() && !o.ds_config.empty())
    throw InputError("give one of --plan plan.json or --ds-config ds_config.json, not both");
}

namespace {

void set_if(std::optional<std::int64_t> v, std::int64_t& out) {
  if (v) out = *v;
}

// The ZeRO flags (--zero-stage, --offload-optimizer, ...) on top of what the plan or DeepSpeed
// config gave; with --plan/--ds-config a flag that disagrees is an error (checked there).
void apply_zero_flags(RunOptions& o) {
  RunZeroConfig& z = o.zero;
  if (o.zero_stage) z.stage = *o.zero_stage;
  auto offload = [](const std::string& v, const char* flag) {
    if (v != "none" && v != "cpu") throw InputError(fmt::format("{} {}: must be none or cpu", flag, v));
    return v == "cpu";
  };
  if (o.offload_optimizer) z.offload_optimizer = offload(*o.offload_optimizer, "--offload-optimizer");
  if (o.offload_param) z.offload_param = offload(*o.offload_param, "--offload-param");
  if (o.overlap_comm) z.overlap_comm = *o.overlap_comm;
  if (o.contiguous_gradients) z.contiguous_gradients = *o.contiguous_gradients;
  set_if(o.reduce_bucket_size, z.reduce_bucket_size);
  set_if(o.allgather_bucket_size, z.allgather_bucket_size);
  set_if(o.stage3_prefetch_bucket_size, z.stage3_prefetch_bucket_size);
  set_if(o.stage3_max_live_parameters, z.stage3_max_live_parameters);
  set_if(o.stage3_param_persistence_threshold, z.stage3_param_persistence_threshold);
  if (z.stage < 0 || z.stage > 3) throw InputError(fmt::format("--zero-stage {}: must be 0, 1, 2 or 3", z.stage));
  if (z.offload_param && z.stage != 3) throw InputError("--offload-param cpu needs --zero-stage 3");
  if (z.offload_optimizer && z.stage == 0) throw InputError("--offload-optimizer cpu needs --zero-stage 1, 2 or 3");
  for (const auto& [value, flag] : {std::pair{z.reduce_bucket_size, "--reduce-bucket-size"},
                                    std::pair{z.allgather_bucket_size, "--allgather-bucket-size"},
                                    std::pair{z.stage3_prefetch_bucket_size, "--stage3-prefetch-bucket-size"},
                                    std::pair{z.stage3_max_live_parameters, "--stage3-max-live-parameters"}})
    if (value <= 0) throw InputError(fmt::format("{} {}: must be positive (elements)", flag, value));
  if (z.stage3_param_persistence_threshold < 0)
    throw InputError("--stage3-param-persistence-threshold must be >= 0 (elements)");
}

// The candidate this run is, as plan.json writes candidates.
nlohmann::json ran_candidate_json(const RunOptions& o, int world) {
  EvaluatedCandidate e;
  Candidate& c = e.candidate;
  c.zero_stage = o.zero.stage;
  c.offload_optimizer = o.zero.offload_optimizer ? OffloadDevice::kCpu : OffloadDevice::kNone;
  c.offload_param = o.zero.offload_param ? OffloadDevice::kCpu : OffloadDevice::kNone;
  c.dp = world;
  c.micro_batch = o.micro_batch;
  c.grad_accum = o.grad_accum;
  c.activation_checkpointing = o.activation_checkpointing;
  c.overlap_comm = o.zero.overlap_comm;
  c.contiguous_gradients = o.zero.contiguous_gradients;
  c.reduce_bucket_size = static_cast<std::uint64_t>(o.zero.reduce_bucket_size);
  c.allgather_bucket_size = static_cast<std::uint64_t>(o.zero.allgather_bucket_size);
  c.prefetch_bucket_size = static_cast<std::uint64_t>(o.zero.stage3_prefetch_bucket_size);
  c.max_live_parameters = static_cast<std::uint64_t>(o.zero.stage3_max_live_parameters);
  c.param_persistence_threshold = static_cast<std::uint64_t>(o.zero.stage3_param_persistence_threshold);
  return nlohmann::json::parse(candidate_to_json(e).dump());
}

std::string source_of(const RunOptions& o) { return o.model_dir.empty() ? o.model_config : o.model_dir; }

}  // namespace

ResolvedRun resolve_run_config(RunOptions& o, int world) {
  if (!o.plan.empty()) {
    PlannedRun planned = apply_plan(o, o.plan_flags, world);
    apply_zero_flags(o);
    return {planned.candidate, planned.model_name, planned.num_params};
  }
  if (!o.ds_config.empty()) {
    const ModelSpec spec = load_model_spec(source_of(o), o.configs_dir);
    apply_ds_config(o, world, spec.hidden_size);
  }
  apply_zero_flags(o);
  return {ran_candidate_json(o, world), "", 0};
}

std::string default_out_dir(const std::string& model_name) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  return "runs/" + model_name + "-" + stamp;
}

RunInputs load_run_inputs(const RunOptions& o, int rank, int world, bool create_out) {
  RunInputs in;
  in.precision = parse_precision(o.precision);
  in.lr.kind = parse_lr_schedule_kind(o.lr_scheduler);
  in.lr.warmup_type = parse_warmup_type(o.warmup_type);
  in.spec = load_model_spec(source_of(o), o.configs_dir);
  const std::string tokenizer_path = o.tokenizer.empty() ? o.model_dir : o.tokenizer;
  if (tokenizer_path.empty()) throw InputError("--tokenizer FILE is required with --model CONFIG");
  in.tokenizer = text::load_tokenizer(tokenizer_path);
  if (in.tokenizer->vocab_size() > in.spec.vocab_size)
    throw InputError(fmt::format("{}: tokenizer has {} ids but {} has vocab_size {} (the embedding needs at least "
                                 "as many rows)",
                                 tokenizer_path, in.tokenizer->vocab_size(), in.spec.source, in.spec.vocab_size));

  text::SftDataOptions data_options;
  data_options.max_seq_len = o.max_seq_len;
  data_options.train_on_prompt = o.train_on_prompt;
  data_options.skip_bad_lines = o.skip_bad_lines;
  in.data = text::load_sft_jsonl(o.data, *in.tokenizer, data_options);
  if (in.data.examples.empty()) throw InputError(o.data + ": no training examples");
  for (const auto& e : in.data.examples) in.data_tokens += static_cast<std::int64_t>(e.input_ids.size());
  in.examples = static_cast<std::int64_t>(in.data.examples.size());

  // Micro-batches per epoch on this rank (packing: as many as the first epoch's order packs into).
  const text::DistributedSampler sampler(in.examples, rank, world, o.seed, !o.no_shuffle);
  in.micro_per_epoch = o.pack ? packed_micro_batches(in.data, sampler, 1, o.micro_batch, o.max_seq_len)
                              : micro_batches_per_epoch(sampler.samples_per_rank(), o.micro_batch);
  in.total_steps = o.steps;
  if (o.epochs > 0) {
    const std::int64_t micro = o.pack ? packed_micro_batches(in.data, sampler, o.epochs, o.micro_batch, o.max_seq_len)
                                      : o.epochs * in.micro_per_epoch;
    in.total_steps = (micro + o.grad_accum - 1) / o.grad_accum;
  }
  in.lr.lr = o.lr;
  in.lr.warmup_min_lr = o.warmup_min_lr;
  in.lr.warmup_num_steps = o.warmup_steps;
  in.lr.total_num_steps = o.lr_total_num_steps > 0 ? o.lr_total_num_steps : in.total_steps;
  in.lr.cos_min_ratio = o.cos_min_ratio;
  in.lr.warmup_min_ratio = o.warmup_min_ratio;

  // What must match for a bit-identical resume (train_checkpoint.h). micro_batch x grad_accum x
  // world may change when global_batch stays (re-partitioned resume, sharded_checkpoint.h).
  in.fingerprint = {{"model", in.spec.name},
                    {"precision", precision_name(in.precision)},
                    {"micro_batch", o.micro_batch},
                    {"grad_accum", o.grad_accum},
                    {"world", world},
                    {"global_batch", o.micro_batch * o.grad_accum * world},
                    {"pack", o.pack},
                    {"max_seq_len", o.max_seq_len},
                    {"seed", o.seed},
                    {"shuffle", !o.no_shuffle},
                    {"examples", in.examples},
                    {"data_tokens", in.data_tokens}};
  in.out = o.out.empty() ? default_out_dir(in.spec.name) : o.out;
  if (create_out) {
    std::error_code ec;
    fs::create_directories(in.out, ec);
    if (ec) throw InputError(in.out + ": cannot create the run directory (" + ec.message() + ")");
  }
  return in;
}

}  // namespace zeroplan::executor
