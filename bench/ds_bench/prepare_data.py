#!/usr/bin/env python3
"""Bench data for bench/ds_vs_zeroplan.sh, from configs/data/sample-alpaca.jsonl.

Consecutive Alpaca records, rendered with zeroplan's alpaca template, are joined into one long
instruction until the rendered prompt has at least --seq-len tokens, so every example is truncated
to a full row of exactly --seq-len tokens (no padding, no packing) on every side. Writes
  OUT/bench.jsonl  {"instruction": <long text>, "output": "ok"} per row (what `zeroplan run` reads
                   with --train-on-prompt --no-shuffle --max-seq-len SEQ)
  OUT/ids.pt       int64 [rows, seq]: the same rows tokenized here with the same SentencePiece model,
                   exactly as zeroplan builds them (executor/text/sft_data.cc: BOS, then the prompt
                   "### Instruction:\n{instruction}\n\n### Response:\n", truncated to seq), for the
                   PyTorch/DeepSpeed sides.
  OUT/init/        with --init-model CONFIG: config.json + model.safetensors of transformers'
                   LlamaForCausalLM built with torch.manual_seed(0), as every PyTorch/DeepSpeed rank
                   builds it (`zeroplan run --model-dir OUT/init` starts from the same weights, so
                   equal first-step losses show that the token ids are equal too).
Rows cycle through the file again when more rows than it holds are asked for."""
import argparse
import json
import os

import sentencepiece as spm
import torch

PROMPT_NO_INPUT = "### Instruction:\n{instruction}\n\n### Response:\n"
PROMPT = "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"


def render(record):
    if record.get("input"):
        text = PROMPT.format(instruction=record["instruction"], input=record["input"])
    else:
        text = PROMPT_NO_INPUT.format(instruction=record["instruction"])
    return text + record["output"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--seq-len", type=int, required=True)
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--init-model", help="HF config.json: also write OUT/init (seed-0 weights, safetensors)")
    args = p.parse_args()

    sp = spm.SentencePieceProcessor(model_file=args.tokenizer)
    with open(args.data) as f:
        records = [json.loads(line) for line in f if line.strip()]
    os.makedirs(args.out, exist_ok=True)
    rows, texts, k = [], [], 0
    while len(rows) < args.rows:
        parts = []
        while True:
            parts.append(render(records[k % len(records)]))
            k += 1
            instruction = "\n\n".join(parts)
            ids = [sp.bos_id()] + sp.encode(PROMPT_NO_INPUT.format(instruction=instruction))
            if len(ids) >= args.seq_len:
                break
        rows.append(ids[: args.seq_len])
        texts.append(instruction)
    with open(os.path.join(args.out, "bench.jsonl"), "w") as f:
        for t in texts:
            f.write(json.dumps({"instruction": t, "output": "ok"}) + "\n")
    torch.save(torch.tensor(rows, dtype=torch.int64), os.path.join(args.out, "ids.pt"))
    if args.init_model:
        from transformers import LlamaConfig, LlamaForCausalLM
        with open(args.init_model) as f:
            cfg = json.load(f)
        cfg.pop("name", None)
        torch.manual_seed(0)  # what train_torch.py does before building the model
        LlamaForCausalLM(LlamaConfig(**cfg)).save_pretrained(os.path.join(args.out, "init"), safe_serialization=True)
    print(f"{len(rows)} rows x {args.seq_len} tokens from {min(k, len(records))} of {len(records)} records "
          f"({k} used, cycling)")


if __name__ == "__main__":
    main()
