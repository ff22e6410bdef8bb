#!/usr/bin/env bash
# Training throughput and peak memory: zeroplan (LibTorch, C++) vs Hugging Face transformers + a plain
# PyTorch loop, side by side on the same model (configs/models/tiny-llama-25m.json, ~25M params),
# batch shape, precision (fp32) and threads. Both train on full rows (no padding): zeroplan on
# bench data whose examples all exceed --seq-len (truncated, --train-on-prompt), the baseline on random
# ids of the same shape; the cost of a step does not depend on the token values.
#   bench/train_vs_hf.sh [--micro-batch 4] [--seq-len 256] [--steps 12] [--warmup 2] [--threads N]
# Needs: a build with LibTorch (tools/build.sh) and transformers in .venv (tools/setup.sh --reference).
# tokens/s is the median over the steps after --warmup; peak RSS is /usr/bin/time's maximum resident set.
set -euo pipefail
cd "$(dirname "$0")/.."

MB=4 SEQ=256 STEPS=12 WARMUP=2 THREADS=$(nproc)
MODEL=configs/models/tiny-llama-25m.json
TOKENIZER=configs/tokenizers/tiny-sp.model
BUILD_DIR=${ZEROPLAN_BUILD_DIR:-build}
while (($#)); do
  case "$1" in
    --micro-batch) MB=$2; shift 2 ;;
    --seq-len) SEQ=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --build-dir) BUILD_DIR=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "train_vs_hf.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
PY=.venv/bin/python
ZP=$BUILD_DIR/zeroplan
[ -x "$ZP" ] || { echo "train_vs_hf.sh: $ZP not found; run tools/build.sh (with LibTorch)" >&2; exit 2; }
"$PY" -c "import transformers" 2>/dev/null ||
  { echo "train_vs_hf.sh: transformers missing in .venv; run tools/setup.sh --reference" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "train_vs_hf.sh: /usr/bin/time missing (apt-get install time)" >&2; exit 2; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# Bench data: every example far longer than SEQ tokens, so every row is exactly SEQ tokens.
"$PY" - "$WORK/bench.jsonl" "$SEQ" <<'PYEOF'
import json, random, sys
path, seq = sys.argv[1], int(sys.argv[2])
rng = random.Random(0)
words = "the of and a to in is you that it he was for on are as with his they at be this have from".split()
with open(path, "w") as f:
    for i in range(256):
        text = " ".join(rng.choice(words) + str(rng.randint(0, 99)) for _ in range(seq * 2))
        f.write(json.dumps({"instruction": text, "output": "ok"}) + "\n")
PYEOF

median_tok_s() {  # metrics.jsonl-like lines on stdin -> median tokens/s over steps > WARMUP
  "$PY" -c '
import json, statistics, sys
warm = int(sys.argv[1])
rows = [json.loads(l) for l in sys.stdin if l.startswith("{")]
rows = [r for r in rows if r["step"] > warm]
print(round(statistics.median(r["tokens"] / r["step_time_s"] for r in rows)))' "$WARMUP"
}

echo "model $MODEL, micro-batch $MB x seq $SEQ = $((MB * SEQ)) tokens/step, fp32, $THREADS threads, $STEPS steps (median after $WARMUP)"

/usr/bin/time -f "%M" -o "$WORK/zp.rss" "$ZP" run --model "$MODEL" --init random --tokenizer "$TOKENIZER" \
  --data "$WORK/bench.jsonl" --max-seq-len "$SEQ" --micro-batch "$MB" --steps "$STEPS" --threads "$THREADS" \
  --train-on-prompt --lr 1e-4 --out "$WORK/zp-run" >"$WORK/zp.out" 2>"$WORK/zp.err" ||
  { cat "$WORK/zp.err" >&2; exit 1; }
ZP_TOK=$(median_tok_s <"$WORK/zp-run/metrics.jsonl")
ZP_RSS=$(( $(cat "$WORK/zp.rss") / 1024 ))

/usr/bin/time -f "%M" -o "$WORK/hf.rss" "$PY" bench/hf_train_loop.py --config "$MODEL" --micro-batch "$MB" \
  --seq-len "$SEQ" --steps "$STEPS" --threads "$THREADS" >"$WORK/hf.out" 2>"$WORK/hf.err" ||
  { cat "$WORK/hf.err" >&2; exit 1; }
HF_TOK=$(median_tok_s <"$WORK/hf.out")
HF_RSS=$(( $(cat "$WORK/hf.rss") / 1024 ))

printf '%-34s %12s %14s\n' "" "tokens/s" "peak RSS MiB"
printf '%-34s %12s %14s\n' "zeroplan run (LibTorch C++)" "$ZP_TOK" "$ZP_RSS"
printf '%-34s %12s %14s\n' "transformers + PyTorch loop" "$HF_TOK" "$HF_RSS"
"$PY" -c "import sys; print(f'speed-up {int(sys.argv[1]) / int(sys.argv[2]):.2f}x, memory {int(sys.argv[3]) / int(sys.argv[4]):.2f}x')" \
  "$ZP_TOK" "$HF_TOK" "$ZP_RSS" "$HF_RSS"
