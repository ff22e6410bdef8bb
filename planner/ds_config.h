#pragma once
// DeepSpeed configs: write one for a candidate (`plan --ds-config FILE`) and read an existing one
// (`plan --ds-config-in FILE`), including Hugging Face Trainer's "auto" values.
//
// Reading is strict: a key DeepSpeed does not know is an error naming it (DeepSpeed itself silently
// falls back to the default on a typo). Keys DeepSpeed knows but that do not change memory or the
// step-time estimate are accepted and ignored; they are listed in kIgnoredDeepSpeedKeys below.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "planner/candidate.h"
#include "planner/step_time_model.h"

namespace zeroplan {

// The DeepSpeed config for `candidate`: batch sizes (satisfying DeepSpeed's batch rule
// train_batch_size = micro x accum x dp), gradient_clipping, fp16 (dynamic loss scaling with
// DeepSpeed's defaults) or bf16, AdamW, and zero_optimization with the candidate's offloads and
// bucket sizes.
nlohmann::ordered_json ds_config_to_json(const PlanContext& context, const Candidate& candidate);

// Known DeepSpeed keys that zeroplan accepts and ignores (they change neither memory nor step time
// as modelled). Dotted paths for nested blocks.
inline constexpr std::string_view kIgnoredDeepSpeedKeys[] = {
    "steps_per_print", "wall_clock_breakdown", "dump_state", "scheduler", "zero_allow_untested_optimizer",
    "zero_force_ds_cpu_optimizer", "prescale_gradients", "gradient_predivide_factor", "communication_data_type",
    "tensorboard", "wandb", "csv_monitor", "comms_logger", "flops_profiler", "memory_breakdown",
    "activation_checkpointing", "data_types", "seq_parallel_communication_data_type", "checkpoint",
    "fp16.loss_scale", "fp16.initial_scale_power", "fp16.loss_scale_window", "fp16.hysteresis",
    "fp16.consecutive_hysteresis", "fp16.min_loss_scale", "fp16.auto_cast", "bf16.immediate_grad_update",
    "bf16.check_grad_overflow", "optimizer.params", "zero_optimization.reduce_scatter",
    "zero_optimization.allgather_partitions", "zero_optimization.round_robin_gradients",
    "zero_optimization.sub_group_size",
    "zero_optimization.stage3_gather_16bit_weights_on_model_save",
    "zero_optimization.stage3_gather_fp16_weights_on_model_save",
    "zero_optimization.stage3_model_persistence_threshold", "zero_optimization.ignore_unused_parameters",
    "zero_optimization.load_from_fp32_weights", "zero_optimization.elastic_checkpoint",
    "zero_optimization.memory_efficient_linear", "offload.pin_memory", "offload.buffer_count",
    "offload.buffer_size", "offload.max_in_cpu"};

// What the command line says beside the config: HF Trainer fills "auto" values from these
// (per_device_train_batch_size, gradient_accumulation_steps, bf16/fp16) and rejects numbers that
// contradict them. Unset = not given.
struct DsConfigFlags {
  std::optional<std::int64_t> micro_batch;
  std::optional<std::int64_t> grad_accum;
  std::optional<std::int64_t> global_batch;
  std::optional<Precision> precision;
};

struct DsConfigResolved {
  Candidate candidate;
  PlanContext context;  // the input context with global_batch, precision, gradient_clipping, lr set
};

// Reads a DeepSpeed config (already parsed JSON, `source` = its path) for `context`'s model and
// cluster. "auto" resolves as HF Trainer does: batch values from the flags, reduce_bucket_size =
// hidden², stage3_prefetch_bucket_size = 0.9·hidden², stage3_param_persistence_threshold =
// 10·hidden, gradient_clipping = 1.0, precision from --precision. Missing batch values are derived
// by DeepSpeed's rule (any two give the third; train_batch_size alone gives accum 1).
DsConfigResolved read_ds_config(const nlohmann::json& config, const std::string& source, const PlanContext& context,
                                const DsConfigFlags& flags);
DsConfigResolved read_ds_config_file(const std::string& path, const PlanContext& context, const DsConfigFlags& flags);

}  // namespace zeroplan
