#!/usr/bin/env python3
"""The table of bench/ds_vs_zeroplan.sh from its results folder: for each run NAME.rK (K = repeat),
NAME.status ("ok", "not yet: ...", "failed: ..."), NAME.steps (JSON lines with step, tokens,
step_time_s: rank 0's lines of train_torch.py or zeroplan's metrics.jsonl) and NAME.peaks.json
(rank_peak_rss.py). tokens/s = sum of tokens / sum of step_time_s over the steps after --warmup,
the best of the repeats; peak RSS per rank = the largest of the repeats.
Ratios are against DeepSpeed at the same stage (stage 0: against DDP). Prints the table and writes
it, with the command and setup, as Markdown."""
import argparse
import datetime
import json
import os

SYSTEMS = {  # stage -> [(run name, label)], the baseline first
    "0": [("ddp", "PyTorch DDP"), ("deepspeed-0", "DeepSpeed ZeRO-0"), ("zeroplan-0", "zeroplan")],
    "1": [("deepspeed-1", "DeepSpeed ZeRO-1"), ("zeroplan-1", "zeroplan")],
    "2": [("deepspeed-2", "DeepSpeed ZeRO-2"), ("zeroplan-2", "zeroplan")],
    "3": [("deepspeed-3", "DeepSpeed ZeRO-3"), ("fsdp2", "PyTorch FSDP2"), ("zeroplan-3", "zeroplan")],
}


def load_one(results, name, warmup, world):
    status_path = os.path.join(results, name + ".status")
    if not os.path.exists(status_path):
        return None
    with open(status_path) as f:
        status = f.read().strip()
    run = {"status": status}
    if status != "ok":
        return run
    with open(os.path.join(results, name + ".steps")) as f:
        steps = [json.loads(line) for line in f if line.startswith("{")]
    timed = [s for s in steps if s["step"] > warmup]
    run["tok_s"] = sum(s["tokens"] for s in timed) / sum(s["step_time_s"] for s in timed) if timed else None
    run["tokens_per_step"] = steps[-1]["tokens"] if steps else None
    run["losses"] = [round(s["loss"], 4) for s in steps]
    with open(os.path.join(results, name + ".peaks.json")) as f:
        peaks = json.load(f)
    run["rss_mib"] = [peaks["ranks"].get(str(r), 0) / 1024 for r in range(world)]
    run["load"] = (peaks["loadavg_before"].split()[0], peaks["loadavg_after"].split()[0])
    run["wall_s"] = peaks["wall_s"]
    return run


def load(results, name, warmup, world, repeat):
    runs = [r for r in (load_one(results, f"{name}.r{k}", warmup, world) for k in range(1, repeat + 1)) if r]
    ok = [r for r in runs if r["status"] == "ok"]
    if not ok:
        return runs[0] if runs else None
    best = dict(max(ok, key=lambda r: r["tok_s"] or 0))
    best["rss_mib"] = [max(r["rss_mib"][i] for r in ok) for i in range(world)]
    best["runs"] = f"{len(ok)}/{len(runs)}"
    best["all_tok_s"] = [round(r["tok_s"]) for r in ok if r["tok_s"]]
    return best


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--results", required=True)
    p.add_argument("--stages", required=True)
    p.add_argument("--warmup", type=int, required=True)
    p.add_argument("--world", type=int, required=True)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--command", required=True)
    p.add_argument("--setup", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()

    header = ("| stage | system | tokens/s | peak RSS per rank (MiB) | tokens/s vs baseline | max-rank RSS vs baseline "
              "| load 1-min (start/end) | wall s |")
    lines = [header, "|---" * (header.count("|") - 1) + "|"]
    notes = []
    for stage in dict.fromkeys(args.stages.split()):
        base = None
        for name, label in SYSTEMS[stage]:
            run = load(args.results, name, args.warmup, args.world, args.repeat)
            if run is None:
                continue
            if run["status"] != "ok":
                lines.append(f"| {stage} | {label} | {run['status']} | | | | | |")
                continue
            rss = " / ".join(f"{m:.0f}" for m in run["rss_mib"])
            if base is None:
                base = run
                ratio_t = ratio_m = "1.00 (baseline)"
            else:
                ratio_t = f"{run['tok_s'] / base['tok_s']:.2f}x" if run["tok_s"] and base["tok_s"] else "?"
                ratio_m = f"{max(run['rss_mib']) / max(base['rss_mib']):.2f}x"
            tok = f"{run['tok_s']:.0f}" if run["tok_s"] else "?"
            lines.append(f"| {stage} | {label} | {tok} | {rss} | {ratio_t} | {ratio_m} | "
                         f"{run['load'][0]} / {run['load'][1]} | {run['wall_s']:.0f} |")
            notes.append(f"{name}: tokens/step {run['tokens_per_step']}, tokens/s of each run {run['all_tok_s']}, "
                         f"losses (best run) {run['losses']}")
    table = "\n".join(lines)
    print(table)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    with open(args.out, "w") as f:
        f.write(f"# zeroplan vs DeepSpeed / PyTorch on CPU ({stamp})\n\n")
        f.write(f"```\n{args.command}\n```\n\n{args.setup}\n\n{table}\n\n")
        f.write("Loss of the global batch per step (same token ids and initial weights on every side: equal "
                "losses show that every system trains the same model on the same data):\n\n")
        f.write("\n".join(f"- {n}" for n in notes) + "\n")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
