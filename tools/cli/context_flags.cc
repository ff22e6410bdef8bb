#include "tools/cli/context_flags.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "planner/error.h"
#include "planner/memory_model.h"
#include "planner/plan.h"
#include "planner/units.h"

namespace zeroplan::cli {

const CLI::Validator& positive_integer() {
  static const CLI::Validator check(
      [](std::string& text) -> std::string {
        std::size_t used = 0;
        long long v = 0;
        try {
          v = std::stoll(text, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used != text.size() || used == 0 || v <= 0) return fmt::format("must be a positive integer (got '{}')", text);
        return "";
      },
      "POSITIVE");
  return check;
}

void add_context_flags(CLI::App& command, ContextFlags& flags) {
  command.add_option("--model", flags.model, "Preset name (configs/models/), a Hugging Face config.json, or a folder holding one")
      ->capture_default_str();
  command.add_option("--cluster", flags.cluster,
                     "Preset NODESxGPUS-GPU (e.g. 1x8-h100-80gb, 2x8-a100-80gb) or a cluster JSON file")
      ->capture_default_str();
  command.add_option("--nodes", flags.nodes, "Override the cluster's number of nodes")->check(positive_integer());
  command.add_option("--gpus-per-node", flags.gpus_per_node, "Override the cluster's GPUs per node (CPU ranks for --cluster local-cpu)")
      ->check(positive_integer());
  command.add_option("--seq-len", flags.seq_len, "Tokens per sequence")->capture_default_str()->check(positive_integer());
  flags.global_batch_option =
      command.add_option("--global-batch", flags.global_batch,
                         "Sequences per optimizer step (DeepSpeed's train_batch_size); default: the smallest "
                         "multiple of the data-parallel size that is >= 64")
          ->check(positive_integer());
  flags.precision_option =
      command.add_option("--precision", flags.precision, "fp32, or fp16/bf16 mixed precision with fp32 master weights")
          ->capture_default_str()
          ->check(CLI::IsMember({"fp32", "fp16", "bf16"}));
  command.add_option("--activation-checkpointing", flags.activation_checkpointing,
                     "on, off, or auto (search both)")
      ->capture_default_str()
      ->check(CLI::IsMember({"on", "off", "auto"}));
  command.add_option("--attention", flags.attention, "eager (materialises the s x s scores) or sdpa")
      ->capture_default_str()
      ->check(CLI::IsMember({"eager", "sdpa"}));
  command.add_option("--runtime", flags.runtime,
                     "What runs the plan: deepspeed (DeepSpeed + the Hugging Face model), zeroplan (zeroplan run), "
                     "or auto: zeroplan on CPU ranks, deepspeed on GPUs (planner/memory_model.h)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "deepspeed", "zeroplan"}));
  command.add_option("--headroom", flags.headroom, kHeadroomHelp)->capture_default_str();
  command.add_option("--cpu-memory", flags.cpu_memory, "Override CPU memory per node, with a unit (e.g. 512GiB)");
}

PlanContext build_plan_context(const ContextFlags& flags, const std::string& configs_dir) {
  if (!(flags.headroom > 0 && flags.headroom <= 1)) {
    throw InputError(fmt::format("--headroom: must be a fraction in (0, 1] (got {})", flags.headroom));
  }
  PlanContext context;
  context.model = load_model_spec(flags.model, configs_dir);
  context.cluster = load_cluster_spec(flags.cluster, configs_dir);
  ClusterSpec& cluster = context.cluster;
  const bool reshaped = (flags.nodes > 0 && flags.nodes != cluster.nodes) ||
                        (flags.gpus_per_node > 0 && flags.gpus_per_node != cluster.gpus_per_node);
  if (flags.nodes > 0) cluster.nodes = flags.nodes;
  if (flags.gpus_per_node > 0) cluster.gpus_per_node = flags.gpus_per_node;
  if (reshaped) cluster.name = fmt::format("{}x{}-{}", cluster.nodes, cluster.gpus_per_node, cluster.gpu.name);
  if (!flags.cpu_memory.empty()) cluster.cpu_memory_bytes_per_node = parse_bytes(flags.cpu_memory, "--cpu-memory");
  // CPU ranks: each gets host memory / ranks per node, after --gpus-per-node and --cpu-memory.
  split_host_memory(cluster);

  TrainingSpec& training = context.training;
  training.seq_len = flags.seq_len;
  const std::int64_t dp = cluster.world_size();
  training.global_batch = flags.global_batch > 0 ? flags.global_batch : (64 + dp - 1) / dp * dp;
  training.precision = parse_precision(flags.precision, "--precision");
  training.activation_checkpointing = parse_toggle(flags.activation_checkpointing, "--activation-checkpointing");
  training.attention = parse_attention(flags.attention, "--attention");
  training.headroom_fraction = flags.headroom;
  training.runtime = parse_runtime(flags.runtime, "--runtime");
  training.runtime = effective_runtime(context);  // auto -> by device kind; plan.json records it
  return context;
}

std::string describe_context(const PlanContext& context) {
  const ClusterSpec& c = context.cluster;
  const TrainingSpec& t = context.training;
  const std::string precision = t.precision == Precision::kFp32
                                    ? std::string("fp32")
                                    : fmt::format("{} + fp32 master", precision_name(t.precision));
  const std::string gpu = c.gpu.display_name.empty() ? c.gpu.name : c.gpu.display_name;
  return fmt::format("{} ({} params) on {} node{} x {} {} ({}), seq {}, global batch {}, {}", context.model.name,
                     format_count(static_cast<std::uint64_t>(count_params(context.model).total)), c.nodes,
                     c.nodes == 1 ? "" : "s", c.gpus_per_node, gpu, format_bytes(c.gpu.memory_bytes), t.seq_len,
                     t.global_batch, precision);
}

}  // namespace zeroplan::cli
