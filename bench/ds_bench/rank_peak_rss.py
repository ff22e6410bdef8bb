#!/usr/bin/env python3
"""Runs a multi-rank command and measures each rank's peak resident set the same way for every
system: VmHWM of /proc/<pid>/status, polled every --interval-s seconds over the command's process
tree. A rank process is a descendant whose environment has RANK=r and whose parent's has none (the
workers of torchrun or of `zeroplan run --nproc-per-node`; compilers or helpers they start inherit
RANK and are skipped). VmHWM only grows (unless the process resets it through clear_refs), so the
maximum over the samples is the peak up to the last sample before the rank exits.
  rank_peak_rss.py --out peaks.json [--interval-s 0.1] -- COMMAND ARGS...
Writes {"ranks": {"0": peak_kib, ...}, "returncode": rc, "wall_s": s, "loadavg_before": "...",
"loadavg_after": "..."}, exits with the command's exit code."""
import argparse
import json
import os
import subprocess
import time


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def children_map():
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        stat = read(f"/proc/{name}/stat")
        if stat is None:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def env_rank(pid):
    environ = read(f"/proc/{pid}/environ")
    if environ is None:
        return None
    for item in environ.split(b"\0"):
        if item.startswith(b"RANK="):
            return item[5:].decode()
    return None


def vm_hwm_kib(pid):
    status = read(f"/proc/{pid}/status")
    if status is None:
        return None
    for line in status.splitlines():
        if line.startswith(b"VmHWM:"):
            return int(line.split()[1])
    return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--interval-s", type=float, default=0.1)
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args()
    cmd = args.command[1:] if args.command and args.command[0] == "--" else args.command
    with open("/proc/loadavg") as f:
        load_before = f.read().strip()
    start = time.monotonic()
    proc = subprocess.Popen(cmd)
    rank_of = {}   # pid -> RANK value or None (fixed once set: the environment of an exec'd process)
    parent = {}    # pid -> parent pid, for descendants
    peak = {}      # pid -> max VmHWM seen (KiB)
    last_scan = 0.0
    while proc.poll() is None:
        now = time.monotonic()
        if now - last_scan > 0.5:  # new processes appear rarely: rescan the tree twice a second
            last_scan = now
            kids = children_map()
            stack = [proc.pid]
            while stack:
                pid = stack.pop()
                for kid in kids.get(pid, []):
                    parent[kid] = pid
                    # Between fork and exec a child still shows its parent's environment:
                    # read it again on every scan until RANK appears.
                    if rank_of.get(kid) is None:
                        rank_of[kid] = env_rank(kid)
                    stack.append(kid)
        for pid, rank in rank_of.items():
            if rank is not None and rank_of.get(parent.get(pid)) is None:
                kib = vm_hwm_kib(pid)
                if kib is not None:
                    peak[pid] = max(peak.get(pid, 0), kib)
        time.sleep(args.interval_s)
    wall_s = time.monotonic() - start
    with open("/proc/loadavg") as f:
        load_after = f.read().strip()
    ranks = {}
    for pid, kib in peak.items():
        r = rank_of[pid]
        ranks[r] = max(ranks.get(r, 0), kib)
    with open(args.out, "w") as f:
        json.dump({"ranks": dict(sorted(ranks.items())), "returncode": proc.returncode, "wall_s": round(wall_s, 1),
                   "loadavg_before": load_before, "loadavg_after": load_after}, f)
    raise SystemExit(proc.returncode)


if __name__ == "__main__":
    main()
