#include "executor/train/run_training.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <optional>
#include <nlohmann/json.hpp>

#include "executor/checkpoint/train_checkpoint.h"
#include "executor/model/llama.h"
#include "executor/text/sft_data.h"
#include "executor/text/tokenizer.h"
#include "executor/train/run_plan.h"
#include "executor/train/single_process_engine.h"
#include "executor/train/trainer.h"
#include "executor/weights/safetensors.h"
#include "planner/error.h"
#include "planner/model_spec.h"
#include "planner/plan_json.h"
#include "profiler/memory_scope.h"
#include "profiler/profiler.h"
#include "reports/measured_run.h"

namespace zeroplan::executor {

namespace fs = std::filesystem;

namespace {

void validate(const RunOptions& o) {
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
}

at::ScalarType dtype_of(Precision p) {
  switch (p) {
    case Precision::kFp32: return at::kFloat;
    case Precision::kBf16: return at::kBFloat16;
    case Precision::kFp16: return at::kHalf;
  }
  return at::kFloat;
}

std::string default_out_dir(const std::string& model_name) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  return "runs/" + model_name + "-" + stamp;
}

std::string human_count(double n) {
  if (n >= 1e9) return fmt::format("{:.2f} B", n / 1e9);
  if (n >= 1e6) return fmt::format("{:.2f} M", n / 1e6);
  if (n >= 1e3) return fmt::format("{:.1f} k", n / 1e3);
  return fmt::format("{:.0f}", n);
}

std::string schedule_text(const LrScheduleOptions& lr) {
  if (lr.kind == LrScheduleKind::kConstant) return fmt::format("lr {:g} constant", lr.lr);
  return fmt::format("lr {:g} {}(warmup {} {})", lr.lr, lr_schedule_kind_name(lr.kind), lr.warmup_num_steps,
                     lr.warmup_type == WarmupType::kLog ? "log" : "linear");
}

// The candidate this run is, as plan.json writes candidates: one process, ZeRO stage 0, no offload.
nlohmann::json ran_candidate_json(const RunOptions& o) {
  EvaluatedCandidate e;
  e.candidate.zero_stage = 0;
  e.candidate.dp = 1;
  e.candidate.micro_batch = o.micro_batch;
  e.candidate.grad_accum = o.grad_accum;
  e.candidate.activation_checkpointing = o.activation_checkpointing;
  return nlohmann::json::parse(candidate_to_json(e).dump());
}

}  // namespace

int run_training(const RunOptions& options) {
  RunOptions o = options;
  if (o.plan.empty() && o.candidate != 0) throw InputError("--candidate K goes with --plan plan.json");
  const PlannedRun planned = o.plan.empty() ? PlannedRun{} : apply_plan(o, o.plan_flags);
  validate(o);
  const Precision precision = parse_precision(o.precision);
  LrScheduleOptions lr;
  lr.kind = parse_lr_schedule_kind(o.lr_scheduler);
  lr.warmup_type = parse_warmup_type(o.warmup_type);
  if (o.threads > 0) at::set_num_threads(o.threads);
  // Installs the tracking CPU allocator before anything is allocated; setup is charged to `setup`.
  profiler::Profiler prof(profiler::ProfilerOptions{});

  const ModelSpec spec = load_model_spec(o.model_dir.empty() ? o.model_config : o.model_dir, o.configs_dir);
  const std::string tokenizer_path = o.tokenizer.empty() ? o.model_dir : o.tokenizer;
  if (tokenizer_path.empty()) throw InputError("--tokenizer FILE is required with --model CONFIG");
  const auto tokenizer = text::load_tokenizer(tokenizer_path);
  if (tokenizer->vocab_size() > spec.vocab_size)
    throw InputError(fmt::format("{}: tokenizer has {} ids but {} has vocab_size {} (the embedding needs at least "
                                 "as many rows)",
                                 tokenizer_path, tokenizer->vocab_size(), spec.source, spec.vocab_size));

  text::SftDataOptions data_options;
  data_options.max_seq_len = o.max_seq_len;
  data_options.train_on_prompt = o.train_on_prompt;
  data_options.skip_bad_lines = o.skip_bad_lines;
  const text::SftDataset data = text::load_sft_jsonl(o.data, *tokenizer, data_options);
  if (data.examples.empty()) throw InputError(o.data + ": no training examples");
  std::int64_t data_tokens = 0;
  for (const auto& e : data.examples) data_tokens += static_cast<std::int64_t>(e.input_ids.size());

  // The model's own tensors (parameters until the engine moves them into its flat fp32 master
  // buffer, RoPE tables) are buffers; the engine charges its buffers to params/gradients/optimizer.
  std::optional<profiler::MemoryScope> setup_scope(std::in_place, profiler::Category::kBuffers);
  ModelOptions model_options;
  model_options.dtype = dtype_of(precision);
  model_options.activation_checkpointing = o.activation_checkpointing;
  LlamaForCausalLM model(spec, model_options);
  if (o.init == "random") {
    init_random(model, o.seed);
  } else {
    load_hf_weights(o.model_dir, model);
  }

  EngineOptions engine_options;
  engine_options.precision = precision;
  engine_options.adamw.weight_decay = o.weight_decay;
  engine_options.clip_grad = o.clip_grad;
  SingleProcessEngine engine(model->hf_named_parameters(), engine_options);
  setup_scope.reset();
  if (!o.plan.empty() && engine.num_parameters() != planned.num_params)
    throw InputError(fmt::format("{} was planned for {} ({} parameters) but the run's model {} has {}", o.plan,
                                 planned.model_name, planned.num_params, spec.name, engine.num_parameters()));

  const auto examples = static_cast<std::int64_t>(data.examples.size());
  // Micro-batches per epoch (packing: as many as the first epoch's order packs into).
  const text::DistributedSampler sampler(examples, 0, 1, o.seed, !o.no_shuffle);
  const std::int64_t micro_per_epoch = o.pack ? packed_micro_batches(data, sampler, 1, o.micro_batch, o.max_seq_len)
                                              : micro_batches_per_epoch(examples, o.micro_batch);
  std::int64_t total_steps = o.steps;
  if (o.epochs > 0) {
    const std::int64_t micro = o.pack ? packed_micro_batches(data, sampler, o.epochs, o.micro_batch, o.max_seq_len)
                                      : o.epochs * micro_per_epoch;
    total_steps = (micro + o.grad_accum - 1) / o.grad_accum;
  }
  lr.lr = o.lr;
  lr.warmup_min_lr = o.warmup_min_lr;
  lr.warmup_num_steps = o.warmup_steps;
  lr.total_num_steps = total_steps;
  lr.cos_min_ratio = o.cos_min_ratio;

  TrainerOptions trainer_options;
  trainer_options.micro_batch = o.micro_batch;
  trainer_options.grad_accum = o.grad_accum;
  trainer_options.total_steps = total_steps;
  trainer_options.pack = o.pack;
  trainer_options.max_seq_len = o.max_seq_len;
  trainer_options.pad_id = tokenizer->pad_id();
  trainer_options.seed = o.seed;
  trainer_options.shuffle = !o.no_shuffle;
  trainer_options.lr = lr;
  trainer_options.profiler = &prof;
  Trainer trainer(model, data, trainer_options, engine);

  // What must match for a bit-identical resume.
  const nlohmann::json fingerprint = {{"model", spec.name},
                                      {"num_parameters", engine.num_parameters()},
                                      {"precision", precision_name(precision)},
                                      {"micro_batch", o.micro_batch},
                                      {"grad_accum", o.grad_accum},
                                      {"pack", o.pack},
                                      {"max_seq_len", o.max_seq_len},
                                      {"seed", o.seed},
                                      {"shuffle", !o.no_shuffle},
                                      {"examples", examples},
                                      {"data_tokens", data_tokens}};
  const std::string out = o.out.empty() ? default_out_dir(spec.name) : o.out;
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) throw InputError(out + ": cannot create the run directory (" + ec.message() + ")");

  if (!o.resume.empty()) {
    trainer.set_state(load_train_checkpoint(o.resume, engine, fingerprint));
    if (trainer.done())
      throw InputError(fmt::format("{}: checkpoint is at step {}, nothing left of --steps {}", o.resume,
                                   trainer.state().step, total_steps));
  }

  const double steps_per_epoch = static_cast<double>(micro_per_epoch) / static_cast<double>(o.grad_accum);
  std::printf("%s\n",
              fmt::format("{} ({} params, {}{}) | {}: {} examples ({} truncated, {} bad lines skipped), {} tokens | "
                          "micro-batch {} x grad-accum {} = {} {}/step | {} steps ({:.2f} epochs) | {} | "
                          "seed {} | threads {} | {}{}",
                          spec.name, human_count(static_cast<double>(engine.num_parameters())),
                          precision_name(precision), o.activation_checkpointing ? ", activation checkpointing" : "",
                          o.data, examples, data.truncated, data.skipped_bad_lines,
                          human_count(static_cast<double>(data_tokens)), o.micro_batch, o.grad_accum,
                          o.micro_batch * o.grad_accum, o.pack ? "packed rows" : "examples", total_steps,
                          static_cast<double>(total_steps) / steps_per_epoch, schedule_text(lr), o.seed,
                          at::get_num_threads(), out,
                          o.resume.empty() ? "" : fmt::format(" | resumed at step {}", trainer.state().step))
                  .c_str());
  std::fflush(stdout);

  MetricsLog metrics(out + "/metrics.jsonl", /*append=*/!o.resume.empty());
  const std::string checkpoints = out + "/checkpoints";
  prof.reset_peaks();  // the measured window: the training steps
  const auto start = std::chrono::steady_clock::now();
  double first_loss = 0.0, last_loss = 0.0;
  std::int64_t steps_run = 0, tokens = 0;
  while (!trainer.done()) {
    StepRecord r;
    {
      profiler::StepScope step(prof);
      r = trainer.train_step();
    }
    metrics.write(r);
    std::fprintf(stderr, "%s\n", progress_line(r, total_steps, read_process_memory()).c_str());
    if (steps_run == 0) first_loss = r.loss;
    last_loss = r.loss;
    ++steps_run;
    tokens += r.tokens;
    if (o.save_every > 0 && (r.step % o.save_every == 0 || trainer.done())) {
      const std::string dir = save_train_checkpoint(checkpoints, trainer.state(), engine, fingerprint);
      std::fprintf(stderr, "saved %s\n", dir.c_str());
    }
  }
  if (!o.export_dir.empty()) {
    save_hf_checkpoint(o.export_dir, model, spec);
    std::fprintf(stderr, "exported Hugging Face weights to %s\n", o.export_dir.c_str());
  }
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // RUN_DIR/measured.json (zeroplan.measured/v1, read by `zeroplan compare`) and trace.json.
  const std::string rank_file = out + "/" + reports::measured_rank_file_name(0);
  reports::write_measured_rank(rank_file, prof.measured_rank());
  prof.write_trace(out + "/trace.json");
  reports::write_measured_run(out + "/" + reports::kMeasuredFileName,
                              reports::assemble_measured_run({rank_file}, {"cpu", "cpu"},
                                                              o.plan.empty() ? ran_candidate_json(o) : planned.candidate));
  const ProcessMemory mem = read_process_memory();
  std::printf("%s\n", fmt::format("done: {} steps in {:.1f} s, loss {:.4f} -> {:.4f}, {:.0f} tok/s, peak rss {:.2f} GiB, "
                                  "metrics {}/metrics.jsonl",
                                  steps_run, wall_s, first_loss, last_loss, tokens / std::max(wall_s, 1e-9),
                                  mem.peak_rss_bytes / (1024.0 * 1024.0 * 1024.0), out)
                          .c_str());
  return 0;
}

}  // namespace zeroplan::executor
