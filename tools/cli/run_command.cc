// `zeroplan run`: single-process SFT training on LibTorch (the ZeRO issue adds ranks and --plan).
// Thin: flags -> executor::RunOptions -> executor::run_training.
#include <CLI/CLI.hpp>

#include <memory>

#include "executor/train/run_training.h"
#include "tools/cli/cli_context.h"

namespace zeroplan::cli {

void register_run_command(CLI::App& app, CliContext& context) {
  auto options = std::make_shared<executor::RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Fine-tune (SFT) a Llama-family model on this machine");
  auto& o = *options;
  cmd->add_option("--model-dir", o.model_dir, "Hugging Face model folder (config.json + *.safetensors)");
  cmd->add_option("--model", o.model_config, "Model preset name or config.json (with --init random)");
  cmd->add_option("--init", o.init, "Weight initialisation for --model: random")->check(CLI::IsMember({"random"}));
  cmd->add_option("--seed", o.seed, "Seed of the initialisation and the data order")->capture_default_str();
  cmd->add_option("--tokenizer", o.tokenizer, "tokenizer.json / tokenizer.model (default: the model folder's)");
  cmd->add_option("--data", o.data, "SFT data, JSONL (Alpaca or chat form)");
  cmd->add_option("--max-seq-len", o.max_seq_len, "Truncate examples to this many tokens")->capture_default_str();
  cmd->add_option("--micro-batch", o.micro_batch, "Examples per forward")->capture_default_str();
  cmd->add_option("--grad-accum", o.grad_accum, "Micro-steps per optimizer step")->capture_default_str();
  cmd->add_option("--precision", o.precision, "fp32 | bf16 | fp16 (fp32 master weights either way)")
      ->capture_default_str();
  cmd->add_option("--lr", o.lr, "Peak learning rate")->capture_default_str();
  cmd->add_option("--lr-scheduler", o.lr_scheduler, "none | WarmupLR | WarmupDecayLR | WarmupCosineLR (DeepSpeed's)")
      ->capture_default_str();
  cmd->add_option("--warmup-steps", o.warmup_steps, "Warmup steps of the scheduler (DeepSpeed uses at least 2)")
      ->capture_default_str();
  cmd->add_option("--warmup-type", o.warmup_type, "log | linear")->capture_default_str();
  cmd->add_option("--warmup-min-lr", o.warmup_min_lr, "WarmupLR/WarmupDecayLR start LR")->capture_default_str();
  cmd->add_option("--cos-min-ratio", o.cos_min_ratio, "WarmupCosineLR final LR ratio")->capture_default_str();
  cmd->add_option("--weight-decay", o.weight_decay, "AdamW weight decay (matrices only)")->capture_default_str();
  cmd->add_option("--clip-grad", o.clip_grad, "Max global gradient norm, 0 = off")->capture_default_str();
  cmd->add_option("--steps", o.steps, "Optimizer steps to run");
  cmd->add_option("--epochs", o.epochs, "Passes over the data (instead of --steps)");
  cmd->add_option("--save-every", o.save_every, "Save a checkpoint every N steps (and at the end); 0 = never")
      ->capture_default_str();
  cmd->add_option("--resume", o.resume, "Resume from a checkpoint dir or a run dir (its checkpoints/latest)");
  cmd->add_option("--out", o.out, "Run directory (default runs/<model>-<time>)");
  cmd->add_option("--export", o.export_dir, "Write Hugging Face safetensors + config.json here at the end");
  cmd->add_flag("--pack", o.pack, "Pack examples into rows of --max-seq-len (attention stays within each example)");
  cmd->add_flag("--train-on-prompt", o.train_on_prompt, "Also train on the prompt tokens (labels = input_ids)");
  cmd->add_flag("--skip-bad-lines", o.skip_bad_lines, "Skip and count malformed JSONL lines instead of failing");
  cmd->add_flag("--activation-checkpointing", o.activation_checkpointing, "Recompute each decoder layer in backward");
  cmd->add_flag("--no-shuffle", o.no_shuffle, "Keep the data in file order");
  cmd->add_option("--threads", o.threads, "Intra-op threads (0 = LibTorch's default)")->capture_default_str();
  cmd->add_option("--plan", o.plan,
                  "plan.json from zeroplan plan: micro-batch, grad-accum, checkpointing, precision and "
                  "--max-seq-len come from its candidate");
  cmd->add_option("--candidate", o.candidate, "With --plan: which candidate to run (1 = first listed; default: the best)");
  cmd->callback([options, cmd, &context] {
    options->configs_dir = context.configs_dir;
    // Flags given explicitly must agree with --plan (executor/train/run_plan.h).
    for (const char* flag : {"--micro-batch", "--grad-accum", "--precision", "--max-seq-len", "--activation-checkpointing"})
      if (cmd->count(flag) > 0) options->plan_flags.emplace_back(flag);
    context.exit_code = executor::run_training(*options);
  });
}

}  // namespace zeroplan::cli
