#pragma once
// `zeroplan run`: everything from flags to a trained run directory, in one process, as one rank of a
// job, or as the launcher of --nproc-per-node ranks (run_training.cc picks the role; run_setup.h,
// run_rank.h, run_outputs.h, run_launch.h are the steps). Pure header so the CLI file that parses
// flags does not include LibTorch.
//   RUN_DIR/metrics.jsonl             one object per optimizer step
//   RUN_DIR/measured.json             memory by category and phase, step times (zeroplan.measured/v1,
//                                     for `zeroplan compare`); measured_rank0.json is rank 0's part
//   RUN_DIR/trace.json                Chrome trace of the steps and their phases
//   RUN_DIR/checkpoints/step_N/       full training state (--save-every), checkpoints/latest
//   --export DIR                      Hugging Face safetensors + config.json at the end
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace zeroplan::executor {

// Multi-rank runs (issue 5): `--nproc-per-node N` makes this process the launcher of N local ranks
// (executor/dist/launcher.h re-executes this binary; each rank reads executor/dist/rank_env.h).
// Under torchrun/srun (RANK/WORLD_SIZE or SLURM_* set) the process is one rank and these are unused.
struct RunLaunchOptions {
  int nproc_per_node = 0;  // 0: not given (one process, or one rank of an outside launcher)
  int nnodes = 1;
  int node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;     // 0: any free port (single node)
  double timeout_s = 300;  // collective / rendezvous timeout; a failed rank stops the job within it
};

// The ZeRO configuration of a run, in DeepSpeed's terms (sizes in ELEMENTS, as DeepSpeed's
// zero_optimization keys). Resolved from --plan, --ds-config or the flags (run_zero_config.h);
// executor::zero::ZeroRunOptions is built from it.
struct RunZeroConfig {
  int stage = 0;
  bool offload_optimizer = false;
  bool offload_param = false;
  bool overlap_comm = false;
  bool contiguous_gradients = true;
  std::int64_t reduce_bucket_size = 500'000'000;
  std::int64_t allgather_bucket_size = 500'000'000;
  std::int64_t stage3_prefetch_bucket_size = 50'000'000;
  std::int64_t stage3_max_live_parameters = 1'000'000'000;
  std::int64_t stage3_param_persistence_threshold = 100'000;
};

// fp16 dynamic loss scaling (DeepSpeed's fp16 block; only --ds-config sets them).
struct RunLossScaleOptions {
  double static_loss_scale = 0;  // fp16.loss_scale: 0 = dynamic
  int initial_scale_power = 16;
  std::int64_t loss_scale_window = 1000;
  std::int64_t hysteresis = 2;
  bool consecutive_hysteresis = false;
  double min_loss_scale = 1;
};

// Test-only fault injection (hidden flag --inject-fault KIND:RANK:STEP): the rank SIGKILLs itself
// ("kill"), throws ("throw") or hangs ("hang") in the backward of that optimizer step (1-based).
struct RunFault {
  std::string kind;
  int rank = -1;
  std::int64_t step = -1;
};

struct RunOptions {
  std::string configs_dir;
  // Model: a Hugging Face folder (config.json + safetensors), or a config/preset with --init random.
  std::string model_dir;
  std::string model_config;
  std::string init;  // "" or "random"
  std::uint64_t seed = 0;
  std::string tokenizer;  // default: the model folder
  std::string data;
  std::int64_t max_seq_len = 512;
  std::int64_t micro_batch = 1;
  std::int64_t grad_accum = 1;
  std::string precision = "fp32";
  double lr = 1e-4;
  std::string lr_scheduler = "none";
  std::int64_t warmup_steps = 0;
  std::string warmup_type = "log";
  double warmup_min_lr = 0.0;
  double cos_min_ratio = 0.0001;
  double warmup_min_ratio = 0.0;          // WarmupCosineLR (--ds-config)
  std::int64_t lr_total_num_steps = 0;    // WarmupDecayLR/WarmupCosineLR total; 0 = the run's steps
  double weight_decay = 0.0;
  double clip_grad = 1.0;
  std::int64_t steps = 0;
  std::int64_t epochs = 0;
  std::int64_t save_every = 0;
  std::string resume;
  std::string out;
  std::string export_dir;
  bool pack = false;
  bool train_on_prompt = false;
  bool skip_bad_lines = false;
  bool activation_checkpointing = false;
  bool no_shuffle = false;
  int threads = 0;  // 0 = LibTorch's default
  // --plan plan.json [--candidate K]: the run's batch shape, precision and checkpointing come from
  // the plan's candidate (executor/train/run_plan.h); plan_flags lists the flags given explicitly.
  std::string plan;
  int candidate = 0;  // 0 = the plan's best
  std::vector<std::string> plan_flags;  // every run flag given explicitly (--plan / --ds-config check them)

  RunLaunchOptions launch;
  // ZeRO knobs given as flags (--zero-stage, --offload-optimizer, ...): unset = not given.
  std::optional<int> zero_stage;
  std::optional<std::string> offload_optimizer;  // "none" | "cpu"
  std::optional<std::string> offload_param;
  std::optional<bool> overlap_comm;
  std::optional<bool> contiguous_gradients;
  std::optional<std::int64_t> reduce_bucket_size, allgather_bucket_size, stage3_prefetch_bucket_size,
      stage3_max_live_parameters, stage3_param_persistence_threshold;
  // --ds-config ds_config.json: DeepSpeed's own format (run_ds_config.h).
  std::string ds_config;
  double adam_beta1 = 0.9, adam_beta2 = 0.999, adam_eps = 1e-8;
  RunLossScaleOptions loss_scale;
  RunZeroConfig zero;  // resolved (run_zero_config.h); what the engine gets
  RunFault fault;
};

// Trains (one process, or one rank of a job, or the launcher of --nproc-per-node ranks); prints the summary line and the final line on stdout and one progress line per step on
// stderr. InputError for bad input (the CLI exits 2). Returns the process exit code.
int run_training(const RunOptions& options);

}  // namespace zeroplan::executor
