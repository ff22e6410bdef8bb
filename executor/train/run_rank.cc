#include "executor/train/run_rank.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <signal.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <optional>
#include <stdexcept>
#include <thread>

#include "executor/checkpoint/export_checkpoint.h"
#include "executor/checkpoint/sharded_checkpoint.h"
#include "executor/dist/fake_communicator.h"
#include "executor/dist/rendezvous.h"
#include "executor/model/llama.h"
#include "executor/train/run_outputs.h"
#include "executor/train/run_setup.h"
#include "executor/train/single_process_engine.h"
#include "executor/train/trainer.h"
#include "executor/weights/safetensors.h"
#include "executor/zero/make_engine.h"
#include "executor/train/precision_dtype.h"
#include "planner/error.h"
#include "profiler/memory_scope.h"
#include "profiler/profiler.h"
#include "reports/measured_run.h"

namespace zeroplan::executor {

namespace {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

EngineOptions engine_options_of(const RunOptions& o, Precision precision) {
  EngineOptions e;
  e.precision = precision;
  e.adamw.beta1 = o.adam_beta1;
  e.adamw.beta2 = o.adam_beta2;
  e.adamw.eps = o.adam_eps;
  e.adamw.weight_decay = o.weight_decay;
  e.clip_grad = o.clip_grad;
  const RunLossScaleOptions& s = o.loss_scale;
  e.loss_scaler.dynamic = s.static_loss_scale == 0;
  e.loss_scaler.initial_scale = s.static_loss_scale != 0 ? s.static_loss_scale : std::ldexp(1.0, s.initial_scale_power);
  e.loss_scaler.window = s.loss_scale_window;
  e.loss_scaler.hysteresis = s.hysteresis;
  e.loss_scaler.consecutive_hysteresis = s.consecutive_hysteresis;
  e.loss_scaler.min_scale = s.min_loss_scale;
  return e;
}

zero::ZeroRunOptions zero_options_of(const RunZeroConfig& z, const EngineOptions& engine) {
  zero::ZeroRunOptions r;
  r.stage = z.stage;
  r.offload_optimizer = z.offload_optimizer;
  r.offload_param = z.offload_param;
  r.overlap_comm = z.overlap_comm;
  r.contiguous_gradients = z.contiguous_gradients;
  r.reduce_bucket_elems = z.reduce_bucket_size;
  r.allgather_bucket_elems = z.allgather_bucket_size;
  r.stage3_prefetch_bucket_elems = z.stage3_prefetch_bucket_size;
  r.stage3_max_live_parameters = z.stage3_max_live_parameters;
  r.stage3_param_persistence_threshold = z.stage3_param_persistence_threshold;
  r.engine = engine;
  return r;
}

// Test-only faults (RunFault): in the backward of the chosen step.
void maybe_inject_fault(const RunFault& f, int rank, const char* phase, std::int64_t step) {
  if (f.kind.empty() || f.rank != rank || f.step != step || std::string_view(phase) != "backward") return;
  if (f.kind == "kill") raise(SIGKILL);
  if (f.kind == "throw") throw std::runtime_error(fmt::format("injected failure (--inject-fault throw:{}:{})", rank, step));
  if (f.kind == "hang")
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
}

// Everything of one run on this process; `ctx` is null for a one-process run.
int train(const RunOptions& options, dist::DistContext* ctx) {
  RunOptions o = options;
  const int rank = ctx ? ctx->env.rank : 0;
  const int world = ctx ? ctx->env.world_size : 1;
  const ResolvedRun resolved = resolve_run_config(o, world);
  const nlohmann::json& config = resolved.candidate;
  validate_run_options(o);
  auto phase = [&](const std::string& name, std::int64_t step) {
    if (ctx) ctx->status->set_phase(name, step);
  };
  const int threads = dist::rank_intra_op_threads(o.threads, at::get_num_threads(), ctx ? ctx->env.local_world_size : 1);
  if (threads != at::get_num_threads()) at::set_num_threads(threads);
  // Installs the tracking CPU allocator before anything is allocated; setup is charged to `setup`.
  profiler::ProfilerOptions profiler_options;
  profiler_options.rank = rank;
  profiler::Profiler prof(std::move(profiler_options));

  phase("setup (loading model and data)", -1);
  if (ctx && o.out.empty()) {
    // Under torchrun/srun without --out: rank 0 names the run directory for everyone.
    if (rank == 0) ctx->store->set("zeroplan/run_out", default_out_dir("run"));
    const auto bytes = ctx->store->get("zeroplan/run_out");
    o.out.assign(bytes.begin(), bytes.end());
  }
  RunInputs in = load_run_inputs(o, rank, world, /*create_out=*/true);

  // The model's own tensors (parameters until the engine moves them into its flat fp32 master
  // buffer, RoPE tables) are buffers; the engine charges its buffers to params/gradients/optimizer.
  std::optional<profiler::MemoryScope> setup_scope(std::in_place, profiler::Category::kBuffers);
  ModelOptions model_options;
  model_options.dtype = compute_dtype(in.precision);
  model_options.activation_checkpointing = o.activation_checkpointing;
  LlamaForCausalLM model(in.spec, model_options);
  if (o.init == "random") {
    init_random(model, o.seed);  // same seed on every rank: identical replicas
  } else {
    load_hf_weights(o.model_dir, model);
  }
  const EngineOptions engine_options = engine_options_of(o, in.precision);
  std::shared_ptr<dist::FakeWorld> one_rank;  // one process with a ZeRO stage: an in-process world of 1
  std::unique_ptr<dist::Communicator> one_rank_comm;
  std::unique_ptr<OptimizerEngine> engine;
  if (ctx) {
    engine = zero::make_zero_engine(model, zero_options_of(o.zero, engine_options), *ctx->comm);
  } else if (o.zero.stage == 0 && !o.zero.offload_optimizer && !o.zero.offload_param) {
    engine = std::make_unique<SingleProcessEngine>(model->hf_named_parameters(), engine_options);
  } else {
    one_rank = std::make_shared<dist::FakeWorld>(1, std::chrono::milliseconds(60000));
    one_rank_comm = dist::FakeWorld::communicator(one_rank, 0);
    engine = zero::make_zero_engine(model, zero_options_of(o.zero, engine_options), *one_rank_comm);
  }
  setup_scope.reset();
  if (!o.plan.empty() && engine->num_parameters() != resolved.plan_num_params)
    throw InputError(fmt::format("{} was planned for {} ({} parameters) but the run's model {} has {}", o.plan,
                                 resolved.plan_model, resolved.plan_num_params, in.spec.name,
                                 engine->num_parameters()));
  in.fingerprint["num_parameters"] = engine->num_parameters();

  TrainerOptions trainer_options;
  trainer_options.micro_batch = o.micro_batch;
  trainer_options.grad_accum = o.grad_accum;
  trainer_options.total_steps = in.total_steps;
  trainer_options.pack = o.pack;
  trainer_options.max_seq_len = o.max_seq_len;
  trainer_options.pad_id = in.tokenizer->pad_id();
  trainer_options.seed = o.seed;
  trainer_options.shuffle = !o.no_shuffle;
  trainer_options.lr = in.lr;
  trainer_options.profiler = &prof;
  trainer_options.on_phase = [&](const char* name, std::int64_t step) {
    phase(name, step);
    maybe_inject_fault(o.fault, rank, name, step);
  };
  Trainer trainer(model, in.data, trainer_options, *engine);

  std::function<void()> barrier = [&] {
    if (ctx) ctx->comm->barrier();
  };
  if (!o.resume.empty()) {
    phase("resume (reading the checkpoint)", -1);
    trainer.set_state(load_sharded_checkpoint(o.resume, *engine, in.fingerprint));
    if (trainer.done())
      throw InputError(fmt::format("{}: checkpoint is at step {}, nothing left of --steps {}", o.resume,
                                   trainer.state().step, in.total_steps));
  }

  const bool lead = rank == 0;
  if (lead) {
    RunShape shape;
    shape.world = world;
    shape.backend = ctx ? ctx->comm->backend_name() : "";
    shape.num_parameters = engine->num_parameters();
    shape.resumed_step = o.resume.empty() ? -1 : trainer.state().step;
    std::printf("%s\n", run_summary_line(o, in, shape).c_str());
    std::fflush(stdout);
  }

  std::optional<MetricsLog> metrics;
  if (lead) metrics.emplace(in.out + "/metrics.jsonl", /*append=*/!o.resume.empty());
  const std::string checkpoints = in.out + "/checkpoints";
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
    if (lead) {
      metrics->write(r);
      std::fprintf(stderr, "%s\n", progress_line(r, in.total_steps, read_process_memory()).c_str());
    }
    if (steps_run == 0) first_loss = r.loss;
    last_loss = r.loss;
    ++steps_run;
    tokens += r.tokens;
    if (o.save_every > 0 && (r.step % o.save_every == 0 || trainer.done())) {
      phase("saving a checkpoint", r.step);
      const std::string dir = save_sharded_checkpoint(checkpoints, trainer.state(), *engine, in.fingerprint, barrier,
                                                      lead ? hf_config_json(in.spec, at::kFloat) : std::string());
      if (lead) std::fprintf(stderr, "saved %s\n", dir.c_str());
    }
  }
  if (!o.export_dir.empty()) {
    phase("exporting", in.total_steps);
    if (o.zero.stage == 3) {
      // Stage 3 keeps only partitions: consolidate the fp32 masters through a final checkpoint
      // (what `zeroplan export` does), unless --save-every just wrote it.
      const std::string last = fmt::format("{}/step_{:08d}", checkpoints, trainer.state().step);
      if (o.save_every == 0)
        save_sharded_checkpoint(checkpoints, trainer.state(), *engine, in.fingerprint, barrier,
                                lead ? hf_config_json(in.spec, at::kFloat) : std::string());
      if (lead) export_consolidated(last, o.export_dir);
    } else if (lead) {
      // Stages 0-2 keep whole parameters on every rank after the step: rank 0 writes them.
      save_hf_checkpoint(o.export_dir, model, in.spec);
    }
    if (lead) std::fprintf(stderr, "exported Hugging Face weights to %s\n", o.export_dir.c_str());
  }
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  phase("writing measured.json", in.total_steps);
  write_rank_outputs(prof, in.out, rank, world);
  // Other nodes write into their own RUN_DIR: their parts also travel through the store.
  const std::string measured_key = fmt::format("zeroplan/measured_rank/{}", rank);
  if (ctx) ctx->store->set(measured_key, read_text_file(in.out + "/" + reports::measured_rank_file_name(rank)));
  barrier();  // every rank's part is on disk or in the store
  if (lead) {
    for (int q = 1; ctx && q < world; ++q) {
      const std::string path = in.out + "/" + reports::measured_rank_file_name(q);
      if (std::filesystem::exists(path)) continue;
      const auto bytes = ctx->store->get(fmt::format("zeroplan/measured_rank/{}", q));
      std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                  static_cast<std::streamsize>(bytes.size()));
    }
    merge_run_outputs(in.out, world, config);
    const ProcessMemory mem = read_process_memory();
    std::printf("%s\n",
                fmt::format("done: {} steps in {:.1f} s, loss {:.4f} -> {:.4f}, {:.0f} tok/s, peak rss {:.2f} GiB{}, "
                            "metrics {}/metrics.jsonl",
                            steps_run, wall_s, first_loss, last_loss, tokens / std::max(wall_s, 1e-9),
                            mem.peak_rss_bytes / (1024.0 * 1024.0 * 1024.0), world > 1 ? " (rank 0)" : "", in.out)
                    .c_str());
    std::fflush(stdout);
  }
  phase("done", in.total_steps);
  return 0;
}

}  // namespace

int run_this_process(const RunOptions& options, const std::optional<dist::RankEnv>& env) {
  if (!env) return train(options, nullptr);
  dist::DistOptions dist_options;
  dist_options.backend = dist::Backend::kGloo;  // the model runs on the CPU (NCCL: one GPU per rank)
  dist_options.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(options.launch.timeout_s * 1000.0));
  dist::DistContext ctx = dist::init_distributed(*env, dist_options);
  const bool quiet = env->source == "zeroplan";  // our launcher prints the one line for the job
  auto fail = [&](dist::RankErrorKind kind, const std::string& message, int code) {
    ctx.status->report_error(kind, message);
    if (!quiet) std::fprintf(stderr, "zeroplan: rank %d: %s\n", env->rank, message.c_str());
    return code;
  };
  try {
    return train(options, &ctx);
  } catch (const dist::CommError& e) {
    return fail(dist::RankErrorKind::kComm, e.what(), 1);
  } catch (const InputError& e) {
    return fail(dist::RankErrorKind::kError, e.what(), 2);
  } catch (const std::exception& e) {
    return fail(dist::RankErrorKind::kError, e.what(), 1);
  }
}

}  // namespace zeroplan::executor
