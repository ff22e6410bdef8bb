// `zeroplan run`: SFT training on LibTorch, in one process or on --nproc-per-node ranks (ZeRO over
// c10d). Thin: flags -> executor::RunOptions -> executor::run_training.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "executor/train/host_allocator.h"
#include "executor/train/run_training.h"
#include "tools/cli/cli_context.h"

namespace zeroplan::cli {

namespace {

// ZeRO knob flags, copied into RunOptions' optionals only when given.
struct ZeroFlags {
  int stage = 0;
  std::string offload_optimizer = "none", offload_param = "none", overlap_comm, contiguous_gradients;
  std::int64_t reduce_bucket_size = 0, allgather_bucket_size = 0, prefetch = 0, max_live = 0, persistence = 0;
  std::string fault;
};

bool parse_on_off(const std::string& v, const char* flag) {
  if (v == "true" || v == "on") return true;
  if (v == "false" || v == "off") return false;
  throw CLI::ValidationError(flag, "must be true or false");
}

executor::RunFault parse_fault(const std::string& text) {
  executor::RunFault f;
  const auto a = text.find(':'), b = text.rfind(':');
  if (a == std::string::npos || a == b) throw CLI::ValidationError("--inject-fault", "KIND:RANK:STEP");
  f.kind = text.substr(0, a);
  f.rank = std::stoi(text.substr(a + 1, b - a - 1));
  f.step = std::stoll(text.substr(b + 1));
  if (f.kind != "kill" && f.kind != "throw" && f.kind != "hang")
    throw CLI::ValidationError("--inject-fault", "KIND is kill, throw or hang");
  return f;
}

}  // namespace

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
  cmd->add_option("--threads", o.threads,
                  "Intra-op threads per rank (0 = LibTorch's default shared by the ranks on this host, at least 1)")
      ->capture_default_str();
  cmd->add_option("--plan", o.plan,
                  "plan.json from zeroplan plan: micro-batch, grad-accum, checkpointing, precision and "
                  "--max-seq-len come from its candidate");
  cmd->add_option("--candidate", o.candidate, "With --plan: which candidate to run (1 = first listed; default: the best)");
  cmd->add_option("--ds-config", o.ds_config,
                  "DeepSpeed config (DeepSpeed's format; HF Trainer \"auto\" values come from the flags): batch, "
                  "precision, optimizer, scheduler, clipping, zero_optimization");
  // Ranks (executor/dist/launcher.h). Without --nproc-per-node under torchrun/srun: one rank of their job.
  auto& l = o.launch;
  cmd->add_option("--nproc-per-node", l.nproc_per_node, "Spawn N local ranks (Gloo on loopback, CPU)");
  cmd->add_option("--nnodes", l.nnodes, "Nodes of the job (each runs this command with its --node-rank)")
      ->capture_default_str();
  cmd->add_option("--node-rank", l.node_rank, "This node's index")->capture_default_str();
  cmd->add_option("--master-addr", l.master_addr, "Host of node 0 (the TCPStore)")->capture_default_str();
  cmd->add_option("--master-port", l.master_port, "TCPStore port (0: any free port, one node only)")
      ->capture_default_str();
  cmd->add_option("--timeout-s", l.timeout_s, "Collective/rendezvous timeout: a dead or hung rank stops the job "
                                              "within it")
      ->capture_default_str();
  auto zf = std::make_shared<ZeroFlags>();
  cmd->add_option("--zero-stage", zf->stage, "ZeRO stage 0-3 (default 0)");
  cmd->add_option("--offload-optimizer", zf->offload_optimizer, "none | cpu (stages 1-3)");
  cmd->add_option("--offload-param", zf->offload_param, "none | cpu (stage 3)");
  cmd->add_option("--overlap-comm", zf->overlap_comm, "true | false (DeepSpeed overlap_comm)");
  cmd->add_option("--contiguous-gradients", zf->contiguous_gradients, "true | false");
  cmd->add_option("--reduce-bucket-size", zf->reduce_bucket_size, "Elements per gradient reduction bucket");
  cmd->add_option("--allgather-bucket-size", zf->allgather_bucket_size, "Elements per parameter all-gather bucket");
  cmd->add_option("--stage3-prefetch-bucket-size", zf->prefetch, "Stage 3 prefetch, elements");
  cmd->add_option("--stage3-max-live-parameters", zf->max_live, "Stage 3 live gathered parameters, elements");
  cmd->add_option("--stage3-param-persistence-threshold", zf->persistence,
                  "Stage 3: parameters below this many elements stay gathered");
  cmd->add_option("--inject-fault", zf->fault, "Test only: KIND:RANK:STEP (kill|throw|hang in backward)")
      ->group("");
  cmd->callback([options, zf, cmd, &context] {
    executor::configure_host_allocator();  // before the first tensor (executor/train/host_allocator.h)
    auto& o = *options;
    o.configs_dir = context.configs_dir;
    // Flags given explicitly must agree with --plan / --ds-config (executor/train/run_plan.h, run_ds_config.h).
    for (const char* flag : {"--micro-batch", "--grad-accum", "--precision", "--max-seq-len", "--activation-checkpointing",
                             "--zero-stage", "--offload-optimizer", "--offload-param", "--clip-grad", "--lr-scheduler",
                             "--lr"})
      if (cmd->count(flag) > 0) o.plan_flags.emplace_back(flag);
    auto given = [&](const char* flag) { return cmd->count(flag) > 0; };
    if (given("--zero-stage")) o.zero_stage = zf->stage;
    if (given("--offload-optimizer")) o.offload_optimizer = zf->offload_optimizer;
    if (given("--offload-param")) o.offload_param = zf->offload_param;
    if (given("--overlap-comm")) o.overlap_comm = parse_on_off(zf->overlap_comm, "--overlap-comm");
    if (given("--contiguous-gradients"))
      o.contiguous_gradients = parse_on_off(zf->contiguous_gradients, "--contiguous-gradients");
    if (given("--reduce-bucket-size")) o.reduce_bucket_size = zf->reduce_bucket_size;
    if (given("--allgather-bucket-size")) o.allgather_bucket_size = zf->allgather_bucket_size;
    if (given("--stage3-prefetch-bucket-size")) o.stage3_prefetch_bucket_size = zf->prefetch;
    if (given("--stage3-max-live-parameters")) o.stage3_max_live_parameters = zf->max_live;
    if (given("--stage3-param-persistence-threshold")) o.stage3_param_persistence_threshold = zf->persistence;
    if (given("--inject-fault")) o.fault = parse_fault(zf->fault);
    context.exit_code = executor::run_training(o);
  });
}

}  // namespace zeroplan::cli
