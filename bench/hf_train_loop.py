#!/usr/bin/env python3
"""The baseline of bench/train_vs_hf.sh: Hugging Face transformers' LlamaForCausalLM trained with a
plain PyTorch loop (forward with labels, backward, clip_grad_norm_, torch.optim.AdamW, zero_grad),
fp32 on CPU, on full rows of random token ids of the same shape zeroplan trains on.
Prints one JSON object per step: {"step", "loss", "tokens", "step_time_s"}."""
import argparse
import json
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True, help="Hugging Face config.json (a zeroplan model preset)")
    p.add_argument("--micro-batch", type=int, required=True)
    p.add_argument("--seq-len", type=int, required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--lr", type=float, default=1e-4)
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with open(args.config) as f:
        cfg = json.load(f)
    cfg.pop("name", None)
    config = LlamaConfig(**cfg)
    config._attn_implementation = "sdpa"
    model = LlamaForCausalLM(config)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(0)
    tokens = args.micro_batch * args.seq_len
    for step in range(1, args.steps + 1):
        ids = torch.randint(3, config.vocab_size, (args.micro_batch, args.seq_len), generator=gen)
        start = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        dt = time.perf_counter() - start
        print(json.dumps({"step": step, "loss": loss.item(), "tokens": tokens, "step_time_s": dt}), flush=True)


if __name__ == "__main__":
    main()
