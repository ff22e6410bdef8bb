#!/usr/bin/env python3
"""Reference fixtures for the executor's model, made with Hugging Face transformers.

    .venv/bin/python tools/make_reference.py            # writes tests/fixtures/reference/<name>/
    .venv/bin/python tools/make_reference.py --check-export DIR --fixture NAME
                                                        # DIR = a save_hf_checkpoint() output

Needs `tools/setup.sh --reference` (transformers, safetensors). CI does not run this script: the
C++ tests (tests/executor/reference_test.cc) read the committed fixtures.

For each tiny random model (Llama, Qwen2 with q/k/v bias and tied embeddings, Mistral with GQA,
Llama-3 rope_scaling) it writes:
  config.json          Hugging Face config (legacy rope keys: rope_theta + rope_scaling, which every
                       transformers version and zeroplan's parse_hf_config read)
  model.safetensors    the initial weights (transformers' own save)
  reference.safetensors
      input_ids, labels   [b, s] int64 (labels -100 on a "prompt" prefix)
      logits              [b, s, V] fp32, attn_implementation="eager"
      loss                [] fp32, HF's mean over label tokens
      after.<param>       parameters after backward + one torch.optim.AdamW step
      sdpa.logits, sdpa.loss, sdpa.after.<param>: the same with attn_implementation="sdpa"
      metadata: AdamW lr, beta1, beta2, eps, weight_decay; transformers and torch versions
  The first Adam step moves each parameter by about lr * g / (|g| + eps), so parameters whose gradient
  is near eps amplify last-bit differences of the gradient: transformers' own eager and sdpa paths
  differ by up to ~3e-6 after the step. Hence one reference per attention path.
"""
import argparse
import json
import os
import sys

import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, LlamaConfig, MistralConfig, Qwen2Config

ADAMW = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "weight_decay": 0.1}
BATCH, SEQ = 2, 12
COMMON = dict(hidden_size=32, intermediate_size=80, num_hidden_layers=2, vocab_size=96,
              max_position_embeddings=256, rms_norm_eps=1e-6, initializer_range=0.02,
              attention_dropout=0.0, hidden_act="silu")

MODELS = {
    "llama": (LlamaConfig, dict(num_attention_heads=4, num_key_value_heads=4, rope_theta=10000.0,
                                tie_word_embeddings=False)),
    "qwen2": (Qwen2Config, dict(num_attention_heads=4, num_key_value_heads=2, rope_theta=1000000.0,
                                tie_word_embeddings=True, use_sliding_window=False)),
    "mistral": (MistralConfig, dict(num_attention_heads=4, num_key_value_heads=1, head_dim=8,
                                    rope_theta=1000000.0, tie_word_embeddings=False, sliding_window=4096)),
    # Llama-3 rope scaling with a small original context so that every band (kept, interpolated,
    # divided by factor) occurs among the head_dim/2 = 8 frequencies.
    "llama3_rope": (LlamaConfig, dict(num_attention_heads=2, num_key_value_heads=1, rope_theta=500000.0,
                                      tie_word_embeddings=False,
                                      rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                    "high_freq_factor": 4.0, "original_max_position_embeddings": 64})),
}


def legacy_config(name, cls, kw):
    """config.json in the classic form (rope_theta / rope_scaling at the top level)."""
    model_type = {LlamaConfig: "llama", Qwen2Config: "qwen2", MistralConfig: "mistral"}[cls]
    arch = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "mistral": "MistralForCausalLM"}[model_type]
    c = {"architectures": [arch], "model_type": model_type, **COMMON, **kw, "torch_dtype": "float32"}
    c.setdefault("rope_scaling", None)
    return c


def fixed_inputs(seed, vocab):
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(0, vocab, (BATCH, SEQ), generator=g, dtype=torch.int64)
    labels = input_ids.clone()
    labels[0, :4] = -100  # a prompt
    labels[1, :2] = -100
    labels[1, -1] = -100  # padding-like tail
    return input_ids, labels


def run_reference(model, input_ids, labels):
    model.train()  # no dropout in these models; train() as the trainer would
    out = model(input_ids=input_ids, labels=labels)
    out.loss.backward()
    named = list(model.named_parameters())
    grads = {n: p.grad.detach().clone() for n, p in named}
    opt = torch.optim.AdamW([p for _, p in named], lr=ADAMW["lr"], betas=(ADAMW["beta1"], ADAMW["beta2"]),
                            eps=ADAMW["eps"], weight_decay=ADAMW["weight_decay"], foreach=False)
    opt.step()
    after = {n: p.detach().clone() for n, p in named}
    return out.logits.detach().float(), out.loss.detach().float(), grads, after


def make(out_root, name, seed):
    cls, kw = MODELS[name]
    cfg_dict = legacy_config(name, cls, kw)
    torch.manual_seed(seed)
    config = cls(**{k: v for k, v in cfg_dict.items() if k not in ("architectures", "model_type", "torch_dtype")})
    config._attn_implementation = "eager"
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager").float()
    d = os.path.join(out_root, name)
    os.makedirs(d, exist_ok=True)
    model.save_pretrained(d, safe_serialization=True)
    with open(os.path.join(d, "config.json"), "w") as f:  # replace transformers' v5 form (rope_parameters)
        json.dump(cfg_dict, f, indent=2)
        f.write("\n")
    for extra in ("generation_config.json",):
        p = os.path.join(d, extra)
        if os.path.exists(p):
            os.remove(p)

    # Reload from the files just written: checks transformers reads the legacy config as intended.
    input_ids, labels = fixed_inputs(seed, config.vocab_size)
    tensors = {"input_ids": input_ids, "labels": labels}
    for impl, prefix in (("eager", ""), ("sdpa", "sdpa.")):
        model = AutoModelForCausalLM.from_pretrained(d, attn_implementation=impl, dtype=torch.float32)
        logits, loss, grads, after = run_reference(model, input_ids, labels)
        tensors[prefix + "logits"] = logits.contiguous()
        tensors[prefix + "loss"] = loss.reshape(())
        for n in after:
            tensors[prefix + "after." + n] = after[n].contiguous()
    meta = {k: repr(v) for k, v in ADAMW.items()}
    meta.update(transformers=transformers.__version__, torch=torch.__version__, params=str(len(after)))
    save_file(tensors, os.path.join(d, "reference.safetensors"), metadata=meta)
    nparams = sum(p.numel() for p in model.parameters())
    print(f"{name}: {nparams} parameters, loss {loss.item():.6f} -> {d}")


def check_export(export_dir, fixture_dir):
    """Loads a zeroplan export with transformers and compares its logits with the fixture's."""
    ref = load_file(os.path.join(fixture_dir, "reference.safetensors"))
    model = AutoModelForCausalLM.from_pretrained(export_dir, attn_implementation="eager", dtype=torch.float32)
    with torch.no_grad():
        out = model(input_ids=ref["input_ids"], labels=ref["labels"])
    err = (out.logits.float() - ref["logits"]).abs().max().item()
    loss_rel = abs(out.loss.item() - ref["loss"].item()) / abs(ref["loss"].item())
    ok = err <= 1e-4 and loss_rel <= 1e-5
    print(f"check-export {export_dir}: {type(model).__name__}, max |logits diff| {err:.3g}, "
          f"loss rel diff {loss_rel:.3g} -> {'OK' if ok else 'MISMATCH'}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "reference")
    ap.add_argument("--out", default=os.path.normpath(root), help="fixture root (default %(default)s)")
    ap.add_argument("--check-export", metavar="DIR", help="load DIR with transformers and compare with --fixture")
    ap.add_argument("--fixture", default="llama", help="fixture name for --check-export (default %(default)s)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.check_export:
        return 0 if check_export(a.check_export, os.path.join(a.out, a.fixture)) else 4
    for i, name in enumerate(MODELS):
        make(a.out, name, seed=1234 + i)
    return 0


if __name__ == "__main__":
    sys.exit(main())
