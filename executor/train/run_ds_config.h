#pragma once
// `zeroplan run --ds-config ds_config.json`: a DeepSpeed config in DeepSpeed's own format sets the
// run's batch shape, precision, optimizer, LR schedule, clipping and ZeRO knobs. Pure C++.
//
// Read (HF Trainer "auto" values resolved from the flags, as transformers' HfTrainerDeepSpeedConfig):
//   train_batch_size, train_micro_batch_size_per_gpu, gradient_accumulation_steps (DeepSpeed's batch
//     rule train_batch_size = micro x accum x world; "auto" = --micro-batch / --grad-accum)
//   gradient_clipping ("auto" = --clip-grad)
//   fp16 {enabled, loss_scale, initial_scale_power, loss_scale_window, hysteresis,
//     consecutive_hysteresis, min_loss_scale}, bf16 {enabled} ("auto" = --precision)
//   optimizer {type: AdamW|Adam, params {lr, betas, eps, weight_decay, adam_w_mode, torch_adam}}
//   scheduler {type: WarmupLR|WarmupDecayLR|WarmupCosineLR, params {warmup_min_lr, warmup_max_lr,
//     warmup_num_steps, warmup_type, total_num_steps, warmup_min_ratio, cos_min_ratio}}
//   zero_optimization {stage, offload_optimizer/offload_param {device, pin_memory, ...},
//     overlap_comm, contiguous_gradients, reduce_bucket_size, allgather_bucket_size,
//     stage3_prefetch_bucket_size, stage3_max_live_parameters, stage3_param_persistence_threshold,
//     ...}
// Logging keys (steps_per_print, wall_clock_breakdown, tensorboard, wandb, ...) are accepted and
// ignored. Anything else -- an unknown key, or a known one whose value zeroplan cannot honour
// (NVMe offload, prescale_gradients, a non-default stage3_max_reuse_distance, ...) -- is an
// InputError naming the key.
#include <cstdint>

#include <nlohmann/json.hpp>

#include "executor/train/run_training.h"

namespace zeroplan::executor {

// Applies o.ds_config to `o` for a job of `world` ranks; `hidden_size` resolves HF's "auto" bucket
// sizes (reduce_bucket_size = hidden², stage3_prefetch_bucket_size = 0.9·hidden²,
// stage3_param_persistence_threshold = 10·hidden). o.plan_flags lists the flags given explicitly:
// a number in the config that contradicts one of them is an error.
void apply_ds_config(RunOptions& o, int world, std::int64_t hidden_size);
// The same on already parsed JSON (`source` names it in errors).
void apply_ds_config_json(RunOptions& o, const nlohmann::json& config, const std::string& source, int world,
                          std::int64_t hidden_size);

}  // namespace zeroplan::executor
