#!/usr/bin/env bash
# Side by side on CPU, 2 ranks over Gloo: zeroplan `run --nproc-per-node 2` vs DeepSpeed ZeRO 1/2/3
# and PyTorch DDP / FSDP2 (fully_shard), all training tiny-llama-25m (fp32 or bf16 with fp32 master
# weights: DeepSpeed's bf16, DDP under autocast, FSDP2 MixedPrecisionPolicy; AdamW, clip 1.0) on the
# same token ids (configs/data/sample-alpaca.jsonl through configs/tokenizers/tiny-sp.model, full
# rows of --seq-len tokens), the same global batch (2 x --micro-batch rows) and the same DeepSpeed
# config file per stage (DeepSpeed reads it; zeroplan reads it with --ds-config) and the same
# initial weights (transformers' seed-0 init, saved as safetensors for `zeroplan run --model-dir`).
#   bench/ds_vs_zeroplan.sh [--micro-batch 2] [--seq-len 256] [--steps 6] [--warmup 2] [--threads 1]
#                           [--stages "1 2 3"] [--precision fp32|bf16] [--repeat 1] [--build-dir build]
#                           [--out bench/results/ds_vs_zeroplan[_bf16].md]
# First run: creates .venv-bench (DeepSpeed + transformers from PyPI; torch is .venv's, through a
# .pth file) and JIT-builds DeepSpeed's shm comm op once. Needs tools/setup.sh (torch in .venv)
# and a LibTorch build of zeroplan (tools/build.sh); rows zeroplan cannot run yet say "not yet".
# tokens/s: global tokens of the steps after --warmup / their summed step times (rank 0's clock).
# peak RSS: VmHWM of each rank process, polled from outside (bench/ds_bench/rank_peak_rss.py).
# --repeat N runs the whole sequence N times (systems interleaved) and reports the best tokens/s
# and the largest peak RSS of each system: less noise from other jobs on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."

COMMAND="bench/ds_vs_zeroplan.sh $*"  # as invoked, for the results file
MB=2 SEQ=256 STEPS=6 WARMUP=2 THREADS=1 STAGES="1 2 3" PRECISION=fp32 REPEAT=1
BUILD_DIR=${ZEROPLAN_BUILD_DIR:-build}
OUT_MD=
while (($#)); do
  case "$1" in
    --micro-batch) MB=$2; shift 2 ;;
    --seq-len) SEQ=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --stages) STAGES=$2; shift 2 ;;
    --precision) PRECISION=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --build-dir) BUILD_DIR=$2; shift 2 ;;
    --out) OUT_MD=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "ds_vs_zeroplan.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
case "$PRECISION" in fp32|bf16) ;; *) echo "ds_vs_zeroplan.sh: --precision fp32|bf16" >&2; exit 2 ;; esac
SUFFIX=""; [ "$PRECISION" = fp32 ] || SUFFIX=_$PRECISION
[ -n "$OUT_MD" ] || OUT_MD=bench/results/ds_vs_zeroplan$SUFFIX.md
((STEPS > WARMUP)) || { echo "ds_vs_zeroplan.sh: --steps must exceed --warmup" >&2; exit 2; }
WORLD=2
MODEL=configs/models/tiny-llama-25m.json
TOKENIZER=configs/tokenizers/tiny-sp.model
DATA=configs/data/sample-alpaca.jsonl
ZP=$BUILD_DIR/zeroplan
NICE="nice -n 10"  # the machine is shared with builds

# --- 1. the benchmark's own virtual environment --------------------------------------------------
DEEPSPEED_VERSION=0.19.8 TRANSFORMERS_VERSION=5.23.0 ACCELERATE_VERSION=1.15.0
VENV=.venv-bench
PY=$VENV/bin/python
export DS_ACCELERATOR=cpu  # DeepSpeed's CPU accelerator (its comm backend is gloo when oneCCL is absent)
.venv/bin/python -c "import torch" 2>/dev/null ||
  { echo "ds_vs_zeroplan.sh: torch missing in .venv; run tools/setup.sh" >&2; exit 2; }
if ! "$PY" -c "import deepspeed, transformers, accelerate, sentencepiece" 2>/dev/null; then
  echo "setup: creating $VENV (DeepSpeed $DEEPSPEED_VERSION, transformers $TRANSFORMERS_VERSION from PyPI)"
  [ -x "$PY" ] || /usr/bin/python3 -m venv "$VENV"
  # Reuse .venv's torch (and whatever else it has) instead of a second 2+ GB torch: .venv's
  # site-packages go on sys.path after the bench venv's own (a .pth file), and pip sees them.
  SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  .venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' >"$SITE/zeroplan-dotvenv.pth"
  # DS_BUILD_OPS=0: no C++ op is compiled at install (DeepSpeed JIT-builds what it uses at run
  # time); --no-build-isolation: its setup.py imports torch, which only this environment has.
  DS_BUILD_OPS=0 DS_ACCELERATOR=cpu $NICE "$VENV/bin/pip" install -q --disable-pip-version-check \
    --no-build-isolation wheel "deepspeed==$DEEPSPEED_VERSION" "transformers==$TRANSFORMERS_VERSION" \
    "accelerate==$ACCELERATE_VERSION" sentencepiece  # accelerate: transformers' HfDeepSpeedConfig (ZeRO-3 loading)
fi
export TORCH_EXTENSIONS_DIR=$PWD/$VENV/torch-extensions   # JIT-built ops stay with the venv
export OMP_NUM_THREADS=$THREADS
# DeepSpeed's TorchBackend JIT-builds its shm comm op (used only by inference_all_reduce) at
# init_distributed; build it once here so no timed run pays for it.
$NICE "$PY" -c 'from deepspeed.comm.torch import build_shm_op; build_shm_op()' >/dev/null 2>&1 ||
  echo "note: DeepSpeed's shm comm op did not build (DeepSpeed then uses torch.distributed alone)"

# --- 2. data and configs -------------------------------------------------------------------------
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
$NICE "$PY" bench/ds_bench/prepare_data.py --data "$DATA" --tokenizer "$TOKENIZER" --seq-len "$SEQ" \
  --rows $((STEPS * MB * WORLD)) --init-model "$MODEL" --out "$WORK" >/dev/null 2>&1
for s in 0 1 2 3; do
  # DeepSpeed's defaults for every ZeRO key not given (buckets 5e8 elements, overlap_comm on for
  # stage 3 only); torch_adam: torch.optim.AdamW on the flat fp32 partitions instead of a JIT-built
  # C++ Adam (zeroplan accepts and ignores the key).
  cat >"$WORK/ds_config_stage$s.json" <<EOF
{"train_micro_batch_size_per_gpu": $MB, "gradient_accumulation_steps": 1, "train_batch_size": $((MB * WORLD)),
 "optimizer": {"type": "AdamW", "params": {"lr": 1e-4, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0, "torch_adam": true}},
 "gradient_clipping": 1.0, "bf16": {"enabled": $([ "$PRECISION" = bf16 ] && echo true || echo false)}, "zero_optimization": {"stage": $s},
 "steps_per_print": 1000000000, "wall_clock_breakdown": false}
EOF
done

# --- 3. the runs -----------------------------------------------------------------------------------
RES=$WORK/results
mkdir -p "$RES"
PORT=29631
run_torch() {  # NAME ARGS... : one torchrun job of train_torch.py
  local name=$1; shift
  PORT=$((PORT + 1))
  echo "run: $name" >&2
  if $NICE "$PY" bench/ds_bench/rank_peak_rss.py --out "$RES/$name.peaks.json" -- \
      "$PY" -m torch.distributed.run --nproc-per-node $WORLD --master-port $PORT \
      bench/ds_bench/train_torch.py --config "$MODEL" --ids "$WORK/ids.pt" --init-dir "$WORK/init" --micro-batch "$MB" \
      --steps "$STEPS" --threads "$THREADS" --precision "$PRECISION" "$@" >"$RES/$name.out" 2>"$RES/$name.err"; then
    grep '^{"step"' "$RES/$name.out" >"$RES/$name.steps" || true
    echo ok >"$RES/$name.status"
  else
    echo "failed: $(grep -E 'Error|error' "$RES/$name.err" | tail -1 | cut -c1-160)" >"$RES/$name.status"
  fi
}
run_zeroplan() {  # STAGE REPEAT
  local s=$1 name=zeroplan-$1.r$2
  echo "run: $name" >&2
  if [ ! -x "$ZP" ]; then echo "not yet: $ZP not built" >"$RES/$name.status"; return; fi
  local help; help=$("$ZP" run --help 2>/dev/null || true)
  if [[ "$help" != *--nproc-per-node* ]]; then
    echo "not yet: this build of zeroplan run has no --nproc-per-node" >"$RES/$name.status"; return
  fi
  PORT=$((PORT + 1))
  local rc=0
  $NICE "$PY" bench/ds_bench/rank_peak_rss.py --out "$RES/$name.peaks.json" -- \
    "$ZP" run --model-dir "$WORK/init" --seed 0 --tokenizer "$TOKENIZER" --data "$WORK/bench.jsonl" \
    --max-seq-len "$SEQ" --train-on-prompt --no-shuffle --steps "$STEPS" --threads "$THREADS" \
    --nproc-per-node $WORLD --master-port $PORT --ds-config "$WORK/ds_config_stage$s.json" \
    --out "$WORK/zp-run-$s-$2" >"$RES/$name.out" 2>"$RES/$name.err" || rc=$?
  if ((rc == 0)); then
    cp "$WORK/zp-run-$s-$2/metrics.jsonl" "$RES/$name.steps"
    echo ok >"$RES/$name.status"
  elif ((rc == 2)); then  # InputError: a stage or key this build cannot run yet
    echo "not yet: $(tail -1 "$RES/$name.err" | cut -c1-160)" >"$RES/$name.status"
  else
    echo "failed (exit $rc): $(tail -1 "$RES/$name.err" | cut -c1-160)" >"$RES/$name.status"
  fi
}

# Stage 0 always has DDP and zeroplan (DeepSpeed's ZeRO-0 too when --stages lists 0).
ALL_STAGES=$(echo 0 $STAGES | tr ' ' '\n' | awk '!seen[$0]++' | tr '\n' ' ')
for r in $(seq "$REPEAT"); do
  for s in $ALL_STAGES; do
    [ "$s" = 0 ] && run_torch ddp.r$r --system ddp
    if [ "$s" != 0 ] || [[ " $STAGES " == *" 0 "* ]]; then
      run_torch deepspeed-$s.r$r --system deepspeed --ds-config "$WORK/ds_config_stage$s.json"
    fi
    [ "$s" = 3 ] && run_torch fsdp2.r$r --system fsdp2
    run_zeroplan "$s" "$r"
  done
done

# --- 4. the table ----------------------------------------------------------------------------------
VERSIONS=$("$PY" -c 'import torch, deepspeed, transformers; print(f"torch {torch.__version__}, deepspeed {deepspeed.__version__}, transformers {transformers.__version__}")' 2>/dev/null)
mkdir -p "$(dirname "$OUT_MD")"
"$PY" bench/ds_bench/report.py --results "$RES" --stages "$ALL_STAGES" --warmup "$WARMUP" --world $WORLD --repeat "$REPEAT" \
  --command "$COMMAND" --setup "tiny-llama-25m $PRECISION, $WORLD ranks x $THREADS thread(s), Gloo on loopback, micro-batch $MB x seq $SEQ x $WORLD ranks = $((MB * SEQ * WORLD)) tokens/step, $STEPS steps (tokens/s over steps $((WARMUP + 1))-$STEPS, best of $REPEAT run(s); peak RSS the largest); $VERSIONS; zeroplan $ZP (tree at $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes'))" \
  --out "$OUT_MD"
