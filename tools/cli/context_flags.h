#pragma once
// The model / cluster / training flags shared by `plan` and `simulate`: registration on a
// subcommand and conversion into a PlanContext. Sizes carry units ("512GiB"); bare numbers where
// bytes are meant are errors.
#include <cstdint>
#include <string>

#include "planner/step_time_model.h"

namespace CLI {
class App;
class Option;
class Validator;
}  // namespace CLI

namespace zeroplan::cli {

struct ContextFlags {
  std::string model = "llama-2-7b";
  std::string cluster = "1x4-rtx4090-24gb";
  int nodes = 0;          // 0 = the cluster's
  int gpus_per_node = 0;  // 0 = the cluster's
  std::int64_t seq_len = 2048;
  std::int64_t global_batch = 0;  // 0 = the smallest multiple of dp that is >= 64
  std::string precision = "bf16";
  std::string activation_checkpointing = "auto";
  std::string attention = "sdpa";
  std::string runtime = "auto";  // auto | deepspeed | zeroplan (planner/memory_model.h "Runtimes")
  double headroom = 0.90;
  std::string cpu_memory;  // "" = the cluster's
  // Set by add_context_flags: whether the user typed the flag (for --ds-config-in's "auto" values).
  CLI::Option* global_batch_option = nullptr;
  CLI::Option* precision_option = nullptr;
};

// The headroom rule, shared by --help and the README.
inline constexpr const char* kHeadroomHelp =
    "Fraction of GPU (and node CPU) memory a plan may use. Default 0.90: the upper end of the "
    "'compare reserved memory with 0.8-0.9 x capacity' rule; the model already counts CUDA context, "
    "NCCL buffers and allocator fragmentation, so 10% is left for what it cannot see. Use 0.80 for "
    "the stricter rule (Fujii et al.: 0 OOMs in 454 runs).";

void add_context_flags(CLI::App& command, ContextFlags& flags);

// A CLI11 check: the value is a positive integer ("must be a positive integer (got -1)").
const CLI::Validator& positive_integer();

// Loads the model and cluster presets (or files), applies the overrides, checks the values.
// InputError naming the flag on bad input.
PlanContext build_plan_context(const ContextFlags& flags, const std::string& configs_dir);

// "llama-2-7b (6.74 B params) on 1 node x 4 RTX 4090 (22.4 GiB), seq 2048, global batch 64, fp16 + fp32 master"
std::string describe_context(const PlanContext& context);

}  // namespace zeroplan::cli
