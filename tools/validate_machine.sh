#!/usr/bin/env bash
# Sections 4-5 of tools/validate_simulator.sh (run by it; also alone): the simulator against this machine.
#   4. Gloo collectives. `zeroplan calibrate --fit-sizes FIT` measures all_reduce / reduce_scatter /
#      all_gather on 2 and 4 ranks at every size of SWEEP and fits alpha-beta per (op, ranks) and size regime on
#      the FIT sizes only (simulator/gloo_cost.h: powers of 4; the powers of 2 between are held out); each point is compared with `zeroplan simulate collective --cluster
#      local-cpu --gpus-per-node W --hardware-profile sweep.json`. Errors are reported for the held-out sizes
#      (not in FIT) and for all; then with a profile holding only the 2-rank fits (the 4-rank rows are then
#      predicted by the contention rule, never fitted). Fit and held-out points come from the same run, so
#      the load of a shared machine drifts less between them. (fit.json, a plain calibrate, feeds section 5.)
#   5. Step time. `zeroplan run` (tiny-llama-25m, random init, packed rows) per configuration; the median
#      step_time_s after the first step vs `zeroplan simulate` of the same configuration with the profile
#      (matmul probed at that configuration's shapes, the training micro-step measured on 1 and on 2 ranks at
#      once -- `calibrate --probes train`, the simulator's compute rate --, AdamW rate, Gloo fits).
# Usage: tools/validate_machine.sh   (ZEROPLAN_BUILD_DIR, VALIDATE_OUT=DIR keeps the files, QUICK=1: fewer points,
#        SECTIONS=5: step time only)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${ZEROPLAN_BUILD_DIR:-build}
ZP="$BUILD_DIR/zeroplan"
PY=${PYTHON:-python3}
if ! "$ZP" calibrate --help >/dev/null 2>&1; then
  echo "sections 4-5 need a LibTorch build of zeroplan (\`zeroplan calibrate\`); skipped"
  exit 0
fi
OUT=${VALIDATE_OUT:-$(mktemp -d /tmp/zeroplan-validate-XXXXXX)}
mkdir -p "$OUT"
# Fit on the powers of 4 (calibrate's default grid, extended to 256 MiB); hold out the powers of 2 between them.
FIT=4KiB,16KiB,64KiB,256KiB,1MiB,4MiB,16MiB,64MiB,256MiB
SWEEP=4KiB,8KiB,16KiB,32KiB,64KiB,128KiB,256KiB,512KiB,1MiB,2MiB,4MiB,8MiB,16MiB,32MiB,64MiB,128MiB,256MiB
STEPS=12
if [ "${QUICK:-0}" = 1 ]; then FIT=4KiB,64KiB,1MiB,16MiB,64MiB; SWEEP=4KiB,16KiB,64KiB,256KiB,1MiB,4MiB,16MiB,64MiB; STEPS=4; fi
SEQ=128

if [ "${SECTIONS:-4,5}" != 5 ]; then  # SECTIONS=5: step time only
echo "== 4. Gloo collectives on this machine: simulated vs measured (load: $(cut -d' ' -f1-3 /proc/loadavg))"
echo "\$ $ZP calibrate --nproc 2,4 --sizes $FIT --model tiny-llama-25m --seq-len $SEQ --precision fp32 --out $OUT/fit.json"
"$ZP" calibrate --nproc 2,4 --sizes "$FIT" --model tiny-llama-25m --seq-len $SEQ --precision fp32 --out "$OUT/fit.json" \
  2> "$OUT/calibrate.log"
echo "\$ $ZP calibrate --probes collectives --nproc 2,4 --sizes $SWEEP --fit-sizes $FIT --out $OUT/sweep.json"
"$ZP" calibrate --probes collectives --nproc 2,4 --sizes "$SWEEP" --fit-sizes "$FIT" --out "$OUT/sweep.json" \
  2> "$OUT/sweep.log"
echo "(load after the sweep: $(cut -d' ' -f1-3 /proc/loadavg))"

# fit2.json: the same profile with only the 2-rank fits (4 ranks are then extrapolated).
$PY - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
p = json.load(open(f"{out}/sweep.json"))
p["collective_fits"] = [f for f in p["collective_fits"] if f["ranks"] == 2]
p["collectives"] = [c for c in p["collectives"] if c["ranks"] == 2]
json.dump(p, open(f"{out}/sweep2.json", "w"), indent=1)
EOF

$PY - "$ZP" "$OUT" "$FIT" <<'EOF'
import json, statistics, subprocess, sys
zp, out, fit = sys.argv[1], sys.argv[2], sys.argv[3]
units = {"KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
fit_bytes = [int(s[:-3]) * units[s[-3:]] for s in fit.split(",")]
sweep = json.load(open(f"{out}/sweep.json"))
def simulate(profile, op, ranks, sizes):
    r = subprocess.run([zp, "simulate", "collective", "--cluster", "local-cpu", "--gpus-per-node", str(ranks),
                        "--hardware-profile", profile, "--op", op, "--bytes", ",".join(f"{int(b)}B" for b in sizes),
                        "--json"], check=True, capture_output=True, text=True)
    d = json.loads(r.stdout)
    d = d if isinstance(d, list) else [d]
    assert all(x["source"] == "gloo fit" for x in d), d
    return [x["time_s"] for x in d]
def fmt_size(b):
    for u in ("GiB", "MiB", "KiB"):
        if b >= units[u]: return "%g %s" % (b / units[u], u)
    return f"{b} B"
rows = []
for c in sweep["collectives"]:
    sizes = [p["bytes"] for p in c["points"]]
    sim_all = simulate(f"{out}/sweep.json", c["op"], c["ranks"], sizes)
    sim_two = simulate(f"{out}/sweep2.json", c["op"], c["ranks"], sizes)
    for p, s_all, s_two in zip(c["points"], sim_all, sim_two):
        b, t = p["bytes"], p["time_s"]
        fitted = any(0 <= f - b < 4 * c["ranks"] for f in fit_bytes)
        rows.append((c["op"], c["ranks"], b, t, s_all, s_two, fitted))
print("%-15s %5s %9s %12s %12s %8s %12s %8s  %s" % ("op", "ranks", "size", "measured", "simulated", "error",
      "2-rank fit", "error", "size in fit"))
for op, w, b, t, s, s2, fitted in rows:
    print("%-15s %5d %9s %10.1f us %10.1f us %+7.1f%% %10.1f us %+7.1f%%  %s" % (op, w, fmt_size(b), t * 1e6, s * 1e6,
          100 * (s / t - 1), s2 * 1e6, 100 * (s2 / t - 1), "fitted" if fitted else "held out"))
def summary(label, errs):
    errs = [abs(e) for e in errs]
    if errs:
        print("%-62s median %5.1f%%  max %5.1f%%  (%d points)" % (label, 100 * statistics.median(errs), 100 * max(errs), len(errs)))
for w in (2, 4):
    summary(f"{w} ranks, held-out sizes, fits per (op, ranks)", [s / t - 1 for op, r, b, t, s, s2, f in rows if r == w and not f])
    summary(f"{w} ranks, all sizes, fits per (op, ranks)", [s / t - 1 for op, r, b, t, s, s2, f in rows if r == w])
summary("4 ranks, all sizes, predicted from the 2-rank fits only", [s2 / t - 1 for op, r, b, t, s, s2, f in rows if r == 4])
summary("all points, held-out sizes, fits per (op, ranks)", [s / t - 1 for op, r, b, t, s, s2, f in rows if not f])
EOF
fi  # section 4

echo
echo "== 5. step time: zeroplan run vs zeroplan simulate with the calibrated profile (load: $(cut -d' ' -f1-3 /proc/loadavg))"
# Every row exactly SEQ tokens: examples longer than SEQ, truncated, labels on every token (--train-on-prompt),
# so the run computes the shape the simulator is given (no padding, logits at every position).
$PY - "$OUT/long.jsonl" <<'PYEOF'
import json, sys
words = "the model reads a long passage about rivers mountains and numbers".split()
with open(sys.argv[1], "w") as f:
    for i in range(64):
        text = " ".join(f"{words[(i + k) % len(words)]} {k * 7 + i}" for k in range(200))
        f.write(json.dumps({"instruction": f"Summarise passage {i}.", "input": text, "output": text[:200]}) + "\n")
PYEOF
MULTI=0
# grep without -q reads the whole help: with -q it exits at the match and, under pipefail, the SIGPIPE that
# zeroplan then gets would fail the test at random.
if "$ZP" run --help 2>/dev/null | grep -- "--nproc-per-node" >/dev/null; then MULTI=1; fi
if [ ! -f "$OUT/fit.json" ]; then  # SECTIONS=5: the Gloo fits and AdamW rate section 4 would have measured
  "$ZP" calibrate --probes adamw,memory,collectives --nproc 2 --sizes "$FIT" --out "$OUT/fit.json" 2> "$OUT/calibrate.log"
fi
# The training micro-step (forward + fused loss + backward of the run's own model) on 1 rank and on 2 ranks
# at once, as the runs below use the host (calibrate --probes train); measured right before the runs.
# --reps 20, 12 steps per run: this host has slow spells (the 2-rank probe read 184-265 ms within 20 minutes);
# the fastest of more samples comes closer to the floor both sides estimate.
echo "\$ $ZP calibrate --probes matmul,train --nproc 2 --reps 20 --model tiny-llama-25m --seq-len $SEQ --micro-batch 1 --precision fp32 --out $OUT/mm.json"
"$ZP" calibrate --probes matmul,train --nproc 2 --reps 20 --model tiny-llama-25m --seq-len $SEQ --micro-batch 1 --precision fp32 \
  --out "$OUT/mm.json" 2> "$OUT/mm.log"
grep "calibrate: train" "$OUT/mm.log" || true
$PY - "$OUT/fit.json" "$OUT/mm.json" "$OUT/profile.json" <<'PYEOF'
import json, sys
p = json.load(open(sys.argv[1])); m = json.load(open(sys.argv[2]))
p["matmul_tflops"] = m["matmul_tflops"]; p["calibrated_for"] = m["calibrated_for"]
p["training_step"] = m["training_step"]
json.dump(p, open(sys.argv[3], "w"), indent=1)
PYEOF
printf "%-36s %7s %11s %11s %11s %8s %8s\n" configuration tokens fastest median simulated error "err(med)"
ERRS=()
CONFIGS=${CONFIGS:-"1,1,0 2,1,0 4,1,0 1,2,0 2,2,0 2,2,1 2,2,2 2,2,3"}
for cfg in $CONFIGS; do
  IFS=, read -r GAS NP STAGE <<< "$cfg"
  [ "$NP" -gt 1 ] && [ "$MULTI" = 0 ] && continue
  RUN="$OUT/run-gas$GAS-np$NP-s$STAGE"
  rm -rf "$RUN"
  RUN_FLAGS=(--model tiny-llama-25m --init random --tokenizer configs/tokenizers/tiny-sp.model --data "$OUT/long.jsonl"
             --max-seq-len $SEQ --train-on-prompt --micro-batch 1 --grad-accum "$GAS" --steps $STEPS --out "$RUN")
  if [ "$NP" -gt 1 ]; then RUN_FLAGS+=(--nproc-per-node "$NP" --zero-stage "$STAGE" --overlap-comm false); fi
  if ! "$ZP" run "${RUN_FLAGS[@]}" >"$RUN.log" 2>&1; then
    echo "gas $GAS ranks $NP stage $STAGE: run failed: $(tail -1 "$RUN.log")"
    continue
  fi
  read -r tokens fastest median <<< "$($PY -c "
import json, statistics
rows = [json.loads(l) for l in open('$RUN/metrics.jsonl')][1:]
t = [r['step_time_s'] for r in rows]
print(rows[0]['tokens'], min(t), statistics.median(t))")"
  simulated=$("$ZP" simulate --model tiny-llama-25m --cluster local-cpu --gpus-per-node "$NP" --seq-len $SEQ \
      --precision fp32 --zero-stage "$STAGE" --offload-optimizer none --offload-param none --micro-batch 1 \
      --grad-accum "$GAS" --overlap-comm off --hardware-profile "$OUT/profile.json" --json |
    $PY -c 'import json,sys; print(json.load(sys.stdin)["step"]["total_s"])')
  read -r err errmed <<< "$($PY -c "print('%+.1f %+.1f' % (100 * ($simulated / $fastest - 1), 100 * ($simulated / $median - 1)))")"
  ERRS+=("$err")
  printf "%-36s %7s %9.3f s %9.3f s %9.3f s %7s%% %7s%%\n" "gas $GAS ranks $NP stage $STAGE seq $SEQ" "$tokens" \
    "$fastest" "$median" "$simulated" "$err" "$errmed"
done
if [ ${#ERRS[@]} -gt 0 ]; then
  $PY -c "
import statistics
e = [abs(float(x)) for x in '${ERRS[*]}'.split()]
print('step time vs the fastest step: median |error| %.1f%%, max %.1f%% over %d configurations' % (statistics.median(e), max(e), len(e)))"
  echo "(load at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
fi
if [ "$MULTI" = 0 ]; then echo "(multi-rank rows skipped: this zeroplan run has no --nproc-per-node yet)"; fi
echo "files: $OUT"
