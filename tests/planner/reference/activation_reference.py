#!/usr/bin/env python3
"""PyTorch reference for planner/activation_memory.h and activation_timeline.cc.

Builds the Hugging Face Llama decoder (LlamaRMSNorm, RoPE, repeat_kv, eager or sdpa attention, SwiGLU
MLP), the final norm, lm_head and HF's causal-LM loss (labels shifted, not logits) in plain PyTorch,
runs one forward + backward on CPU and records
  * layer_saved_bytes / head_saved_bytes: unique storages autograd saves for backward
    (torch.autograd.graph.saved_tensors_hooks), excluding parameters, rope cos/sin and the input;
  * peak_bytes: the peak of live activation + temporary bytes over forward and backward
    (torch.distributed._tools.mem_tracker.MemTracker; parameter grads are dropped as soon as they are
    accumulated so that they do not count), optionally with one activation checkpoint per layer
    (torch.utils.checkpoint, non-reentrant, as HF gradient_checkpointing).
Writes tests/planner/fixtures/torch_activations.json, which planner_memory_model_test compares with
the planner, like llm.c's test against a state dumped by its PyTorch reference.

Run: .venv/bin/python tests/planner/reference/activation_reference.py   (CPU, about a minute)
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint
from torch.distributed._tools.mem_tracker import MemTracker


def rmsnorm(x, w, eps=1e-6):  # transformers LlamaRMSNorm.forward
    dt = x.dtype
    x = x.to(torch.float32)
    var = x.pow(2).mean(-1, keepdim=True)
    x = x * torch.rsqrt(var + eps)
    return w * x.to(dt)


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def repeat_kv(x, n):
    if n == 1:
        return x
    B, H, S, D = x.shape
    return x[:, :, None].expand(B, H, n, S, D).reshape(B, H * n, S, D)


class Layer(nn.Module):
    def __init__(self, cfg, dtype):
        super().__init__()
        h, nh, kv, d, I = cfg["h"], cfg["nh"], cfg["kv"], cfg["d"], cfg["I"]
        P = lambda *shape: nn.Parameter(torch.randn(*shape, dtype=dtype) * 0.05)
        self.cfg = cfg
        self.n1, self.q, self.k, self.v, self.o = P(h), P(nh * d, h), P(kv * d, h), P(kv * d, h), P(h, nh * d)
        self.n2, self.g, self.u, self.dn = P(h), P(I, h), P(I, h), P(h, I)

    def forward(self, x, cos, sin, eager):
        b, s, nh, kv, d = x.shape[0], x.shape[1], self.cfg["nh"], self.cfg["kv"], self.cfg["d"]
        residual = x
        y = rmsnorm(x, self.n1)
        q = F.linear(y, self.q).view(b, s, nh, d).transpose(1, 2)
        k = F.linear(y, self.k).view(b, s, kv, d).transpose(1, 2)
        v = F.linear(y, self.v).view(b, s, kv, d).transpose(1, 2)
        c, sn = cos.unsqueeze(1), sin.unsqueeze(1)
        q = q * c + rotate_half(q) * sn
        k = k * c + rotate_half(k) * sn
        k, v = repeat_kv(k, nh // kv), repeat_kv(v, nh // kv)
        if eager:  # transformers eager_attention_forward (no dropout)
            w = torch.matmul(q, k.transpose(2, 3)) * d**-0.5
            w = w + torch.full((s, s), float("-inf"), dtype=x.dtype).triu(1)
            w = F.softmax(w, dim=-1, dtype=torch.float32).to(x.dtype)
            o = torch.matmul(w, v)
            del w
        else:
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        o = o.transpose(1, 2).contiguous().reshape(b, s, nh * d)
        x = residual + F.linear(o, self.o)
        residual = x
        y = rmsnorm(x, self.n2)
        return residual + F.linear(F.silu(F.linear(y, self.g)) * F.linear(y, self.u), self.dn)


class Model(nn.Module):
    def __init__(self, cfg, dtype):
        super().__init__()
        self.cfg = cfg
        self.emb = nn.Embedding(cfg["V"], cfg["h"], dtype=dtype)
        self.layers = nn.ModuleList([Layer(cfg, dtype) for _ in range(cfg["L"])])
        self.nf = nn.Parameter(torch.ones(cfg["h"], dtype=dtype))
        self.lm = nn.Parameter(torch.randn(cfg["V"], cfg["h"], dtype=dtype) * 0.05)

    def head(self, x, labels):  # final norm, lm_head, transformers ForCausalLMLoss
        logits = F.linear(rmsnorm(x, self.nf), self.lm)
        logits = logits.float()
        labels = F.pad(labels, (0, 1), value=-100)[..., 1:].contiguous()
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100)

    def forward(self, ids, labels, eager, ckpt):
        b, s, d = ids.shape[0], ids.shape[1], self.cfg["d"]
        x = self.emb(ids)
        pos = torch.arange(s, dtype=torch.float32)[None, :, None] * torch.ones(b, 1, d)
        cos, sin = pos.cos().to(x.dtype), pos.sin().to(x.dtype)
        for layer in self.layers:
            if ckpt:
                x = torch.utils.checkpoint.checkpoint(layer, x, cos, sin, eager, use_reentrant=False)
            else:
                x = layer(x, cos, sin, eager)
        return self.head(x, labels)


def saved_bytes(fn, excluded):
    seen = {}

    def pack(t):
        st = t.untyped_storage()
        if st.data_ptr() not in excluded:
            seen[st.data_ptr()] = st.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def measure(cfg, dtype, eager, ckpt):
    torch.manual_seed(0)
    b, s, h, d, V = cfg["b"], cfg["s"], cfg["h"], cfg["d"], cfg["V"]
    m = Model(cfg, dtype)
    ids, labels = torch.randint(0, V, (b, s)), torch.randint(0, V, (b, s))
    # saved tensors of one layer and of the head
    x = torch.randn(b, s, h, dtype=dtype, requires_grad=True)
    cos, sin = torch.randn(b, s, d, dtype=dtype), torch.randn(b, s, d, dtype=dtype)
    excluded = {t.untyped_storage().data_ptr() for t in list(m.parameters()) + [x, cos, sin, labels]}
    layer_saved = saved_bytes(lambda: m.layers[0](x, cos, sin, eager), excluded)
    head_saved = saved_bytes(lambda: m.head(x, labels), excluded)
    # peak of one forward + backward, parameter grads dropped as soon as they are accumulated
    for p in m.parameters():
        p.register_post_accumulate_grad_hook(lambda p: setattr(p, "grad", None))
    mt = MemTracker()
    mt.track_external(m)
    with mt:
        m(ids, labels, eager, ckpt).backward()
    peak = 0
    for cats in mt.get_tracker_snapshot("peak").values():
        peak += sum(v for k, v in cats.items() if str(k).split(".")[-1] in ("ACT", "TEMP"))
    return layer_saved, head_saved, peak


def main():
    configs = [
        dict(b=2, s=8, h=16, nh=4, kv=2, d=4, I=40, V=128, L=2),      # tiny-test shape, GQA
        dict(b=1, s=32, h=64, nh=4, kv=4, d=16, I=96, V=300, L=2),    # no GQA, b = 1
        dict(b=3, s=16, h=32, nh=4, kv=1, d=16, I=48, V=50, L=2),     # head_dim != h / nh, MQA
        dict(b=2, s=128, h=64, nh=4, kv=2, d=16, I=160, V=16, L=3),   # layers dominate
        dict(b=2, s=64, h=64, nh=4, kv=2, d=16, I=160, V=1000, L=3),  # logits dominate
    ]
    out = {"torch_version": torch.__version__, "device": "cpu", "cases": []}
    for cfg in configs:
        for dtype, name in ((torch.bfloat16, "bf16"), (torch.float32, "fp32")):
            for eager in (False, True):
                for ckpt in (False, True):
                    layer, head, peak = measure(cfg, dtype, eager, ckpt)
                    out["cases"].append(dict(cfg, precision=name, attention="eager" if eager else "sdpa",
                                             checkpointing=ckpt, layer_saved_bytes=layer,
                                             head_saved_bytes=head, peak_bytes=peak))
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "torch_activations.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.normpath(path)} ({len(out['cases'])} cases)", file=sys.stderr)


if __name__ == "__main__":
    main()
