#!/usr/bin/env python3
"""One side of bench/ds_vs_zeroplan.sh, launched with torchrun (2 ranks, Gloo, CPU):
Hugging Face transformers' LlamaForCausalLM trained under
  --system deepspeed --ds-config F    DeepSpeed's engine with config F (what rank 0 prints); ZeRO-3
                                      loads --init-dir under zero.Init, as the HF Trainer does
  --system ddp                        torch DistributedDataParallel
  --system fsdp2                      torch fully_shard on every decoder layer and the root
on the pre-tokenized rows of prepare_data.py (rank r takes rows r, r+world, ..., in order: the
DistributedSampler order `zeroplan run --no-shuffle` uses). AdamW (lr 1e-4, betas 0.9/0.999,
eps 1e-8, no weight decay), global-norm clipping at 1.0, one micro-step per optimizer step.
Rank 0 prints one JSON object per step: {"step", "loss" (global batch), "tokens" (global),
"step_time_s" (forward, backward and optimizer step on rank 0's clock)}; every
rank prints {"rank", "vm_hwm_kib"} at the end (the monitor measures VmHWM from outside too)."""
import argparse
import json
import os
import time

import torch
import torch.distributed as dist


def vm_hwm_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def build_model(config_path):
    from transformers import LlamaConfig, LlamaForCausalLM
    with open(config_path) as f:
        cfg = json.load(f)
    cfg.pop("name", None)
    config = LlamaConfig(**cfg)
    config._attn_implementation = "sdpa"
    return LlamaForCausalLM(config)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--system", choices=["deepspeed", "ddp", "fsdp2"], required=True)
    p.add_argument("--ds-config", help="DeepSpeed config JSON (--system deepspeed); zeroplan reads the same file")
    p.add_argument("--config", required=True, help="HF config.json (a zeroplan model preset)")
    p.add_argument("--ids", required=True, help="ids.pt from prepare_data.py")
    p.add_argument("--init-dir", help="prepare_data.py's init/ (DeepSpeed ZeRO-3 loads it under zero.Init)")
    p.add_argument("--micro-batch", type=int, required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--lr", type=float, default=1e-4, help="ddp/fsdp2 (DeepSpeed takes the config's)")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32", help="ddp/fsdp2 (DeepSpeed: the config's bf16)")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = torch.load(args.ids)
    seq = rows.shape[1]

    if args.system == "deepspeed":
        import deepspeed
        deepspeed.init_distributed(dist_backend="gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        with open(args.ds_config) as f:
            cfg = json.load(f)
        stage = cfg.get("zero_optimization", {}).get("stage", 0)
        if cfg["train_micro_batch_size_per_gpu"] != args.micro_batch:
            raise SystemExit(f"{args.ds_config}: train_micro_batch_size_per_gpu != --micro-batch {args.micro_batch}")
        if rank == 0:
            from deepspeed.accelerator import get_accelerator
            acc = get_accelerator()
            print(json.dumps({"deepspeed": deepspeed.__version__, "accelerator": acc._name,
                              "comm_backend": acc.communication_backend_name(),
                              "torch_backend": dist.get_backend(), "ds_config": cfg}), flush=True)
        if stage == 3 and args.init_dir:
            # As the HF Trainer does for ZeRO-3: with an HfDeepSpeedConfig alive, from_pretrained
            # builds the model under deepspeed.zero.Init (partitioned at construction) and loads the
            # weights into the partitions, so the initial weights equal every other side's.
            from transformers import LlamaForCausalLM
            from transformers.integrations import HfDeepSpeedConfig
            hf_ds_config = HfDeepSpeedConfig(cfg)  # noqa: F841 (must stay alive while loading)
            model = LlamaForCausalLM.from_pretrained(args.init_dir, attn_implementation="sdpa")
        elif stage == 3:
            with deepspeed.zero.Init(config_dict_or_path=cfg):  # partition at construction
                model = build_model(args.config)
        else:
            model = build_model(args.config)
        engine, _, _, _ = deepspeed.initialize(model=model, model_parameters=model.parameters(), config=cfg)
        engine.train()

        def train_step(ids):
            loss = engine(input_ids=ids, labels=ids).loss
            engine.backward(loss)
            engine.step()
            return loss
    else:
        dist.init_process_group("gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        model = build_model(args.config)
        model.train()
        if args.system == "ddp":
            model = torch.nn.parallel.DistributedDataParallel(model)
        else:
            from torch.distributed.device_mesh import init_device_mesh
            from torch.distributed.fsdp import fully_shard
            mesh = init_device_mesh("cpu", (world,))
            kw = {"mesh": mesh}
            if args.precision == "bf16":  # bf16 compute copies, fp32 sharded parameters and reductions
                from torch.distributed.fsdp import MixedPrecisionPolicy
                kw["mp_policy"] = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
            for layer in model.model.layers:
                fully_shard(layer, **kw)
            fully_shard(model, **kw)
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
        # bf16: DDP under autocast (fp32 parameters); FSDP2 through its MixedPrecisionPolicy.
        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16" and args.system == "ddp")

        def train_step(ids):
            with autocast:
                loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            return loss

    n = rows.shape[0]
    for step in range(1, args.steps + 1):
        # DistributedSampler order without shuffling: rank r reads positions r, r+world, ...
        first = (step - 1) * args.micro_batch
        idx = [((first + i) * world + rank) % n for i in range(args.micro_batch)]
        ids = rows[idx]
        start = time.perf_counter()
        loss = train_step(ids)
        loss_value = loss.item()
        dt = time.perf_counter() - start
        mean_loss = torch.tensor([loss_value], dtype=torch.float64)  # outside the timed step
        dist.all_reduce(mean_loss)
        loss_value = mean_loss.item() / world  # rows are all full: the mean over the global batch
        if rank == 0:
            print(json.dumps({"step": step, "loss": loss_value, "tokens": args.micro_batch * seq * world,
                              "step_time_s": dt}), flush=True)
    print(json.dumps({"rank": rank, "vm_hwm_kib": vm_hwm_kib()}), flush=True)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
