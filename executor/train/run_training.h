#pragma once
// `zeroplan run` (single process): everything from flags to a trained run directory. Pure header so
// the CLI file that parses flags does not include LibTorch.
//   RUN_DIR/metrics.jsonl             one object per optimizer step
//   RUN_DIR/measured.json             memory by category and phase, step times (zeroplan.measured/v1,
//                                     for `zeroplan compare`); measured_rank0.json is rank 0's part
//   RUN_DIR/trace.json                Chrome trace of the steps and their phases
//   RUN_DIR/checkpoints/step_N/       full training state (--save-every), checkpoints/latest
//   --export DIR                      Hugging Face safetensors + config.json at the end
#include <cstdint>
#include <string>
#include <vector>

namespace zeroplan::executor {

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
  std::vector<std::string> plan_flags;
};

// Trains; prints the summary line and the final line on stdout and one progress line per step on
// stderr. InputError for bad input (the CLI exits 2). Returns the process exit code.
int run_training(const RunOptions& options);

}  // namespace zeroplan::executor
