#!/usr/bin/env bash
# GPU check (issue 6 item 8), for a lent GPU machine: torch preinstalled, no network, < 8 minutes.
#   1. configures against that machine's own torch (python3 -c 'import torch;
#      print(torch.utils.cmake_prefix_path)'), builds the zeroplan binary only;
#   2. runs a small fidelity matrix with world size 1: on CUDA when `zeroplan run` has --device
#      (plan --runtime zeroplan on a 1 x H200 cluster -> run -> compare), else the same matrix on the
#      machine's CPU, and says which in summary.json;
#   3. writes everything to $OUT (default ./gpu-check-out): summary.json, fidelity.jsonl (compare
#      --json of each run), table.md, build.log.
# Missing Debian build dependencies (fmt, nlohmann-json, CLI11, Boost.Graph, sentencepiece, pcre2,
# gtest) are taken from .gpu-deps/*.deb when present: run `tools/gpu_check.sh --fetch-deps` on a
# machine with Debian's mirrors first and carry .gpu-deps.
#
#   tools/gpu_check.sh                 # the check (on the GPU machine)
#   tools/gpu_check.sh --dry-run       # print the steps and commands, build and run nothing
#   tools/gpu_check.sh --fetch-deps    # download the .debs into .gpu-deps (apt-get download)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
OUT=${OUT:-$ROOT/gpu-check-out}
BUILD_DIR=${GPU_CHECK_BUILD_DIR:-$ROOT/build-gpu-check}
DEPS_DIR=$ROOT/.gpu-deps
DEPS_PREFIX=/tmp/zeroplan-gpu-deps
BUDGET_S=${GPU_CHECK_BUDGET_S:-450}   # stop starting runs after this (the whole check must stay < 8 min)
DRY_RUN=0
DEBS="libfmt-dev libfmt9 nlohmann-json3-dev libcli11-dev libboost-graph-dev libboost-dev libsentencepiece-dev
libsentencepiece0 libpcre2-dev libpcre2-8-0 libgtest-dev libgmock-dev libbenchmark-dev libbenchmark1"

case "${1:-}" in
  --dry-run) DRY_RUN=1 ;;
  --fetch-deps)
    mkdir -p "$DEPS_DIR" && cd "$DEPS_DIR" || exit 1
    # shellcheck disable=SC2086
    apt-get download $DEBS || exit 1
    echo "downloaded into $DEPS_DIR; carry it to the GPU machine (the check unpacks it into $DEPS_PREFIX)"
    exit 0 ;;
  -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "gpu_check.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
esac

START_S=$SECONDS
mkdir -p "$OUT"
SUMMARY=$OUT/summary.json
note() { echo "[gpu_check $((SECONDS - START_S))s] $*" | tee -a "$OUT/steps.log"; }
finish() {  # status, message
  python3 - "$SUMMARY" "$1" "$2" "$((SECONDS - START_S))" "${MODE:-none}" <<'PYEOF'
import json, sys
path, status, message, seconds, mode = sys.argv[1:6]
json.dump({"status": status, "message": message, "seconds": int(seconds), "mode": mode}, open(path, "w"), indent=2)
PYEOF
  note "$1: $2 (summary: $SUMMARY)"
  exit "$([ "$1" = ok ] && echo 0 || echo 1)"
}
run() {
  echo "+ $*" >>"$OUT/steps.log"
  [ "$DRY_RUN" = 1 ] && { echo "+ $*"; return 0; }
  "$@"
}

# 1. torch and the toolchain
TORCH_PREFIX=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null) ||
  { [ "$DRY_RUN" = 1 ] && TORCH_PREFIX=/dry-run/torch; } || finish fail "python3 cannot import torch"
note "torch cmake prefix: $TORCH_PREFIX"
if [ "$DRY_RUN" = 0 ]; then
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count())' \
    >>"$OUT/steps.log" 2>&1
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >>"$OUT/steps.log" 2>&1 || true
fi
PREFIXES="$TORCH_PREFIX"
if [ -d "$DEPS_DIR" ] && ls "$DEPS_DIR"/*.deb >/dev/null 2>&1; then
  note "unpacking $(find "$DEPS_DIR" -maxdepth 1 -name '*.deb' | wc -l) carried .debs into $DEPS_PREFIX"
  mkdir -p "$DEPS_PREFIX"
  for deb in "$DEPS_DIR"/*.deb; do run dpkg -x "$deb" "$DEPS_PREFIX"; done
  PREFIXES="$PREFIXES;$DEPS_PREFIX/usr"
  export CPATH="$DEPS_PREFIX/usr/include${CPATH:+:$CPATH}"
  export LIBRARY_PATH="$DEPS_PREFIX/usr/lib/x86_64-linux-gnu${LIBRARY_PATH:+:$LIBRARY_PATH}"
  export LD_LIBRARY_PATH="$DEPS_PREFIX/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
GEN=()
command -v ninja >/dev/null 2>&1 && GEN=(-G Ninja)

# 2. configure + build the binary only (all cores; the tests are not needed here)
note "configure"
run cmake -S "$ROOT" -B "$BUILD_DIR" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DZEROPLAN_WITH_TORCH=ON \
  "-DCMAKE_PREFIX_PATH=$PREFIXES" -DTORCH_CUDA_ARCH_LIST=9.0 >"$OUT/build.log" 2>&1 ||
  finish fail "cmake configure failed (tail of $OUT/build.log: $(tail -n 3 "$OUT/build.log" | tr '\n' ' '))"
note "build zeroplan"
run timeout 300 cmake --build "$BUILD_DIR" -j "$(nproc)" --target zeroplan >>"$OUT/build.log" 2>&1 ||
  finish fail "build failed or took over 300 s (tail of $OUT/build.log: $(tail -n 3 "$OUT/build.log" | tr '\n' ' '))"

# 3. the matrix, world size 1
MODE=cpu
RUNTIME=auto
if [ "$DRY_RUN" = 1 ] || "$BUILD_DIR/zeroplan" run --help 2>/dev/null | grep -- '--device' >/dev/null; then  # not -q: see validate_machine.sh
  MODE=cuda
  RUNTIME=zeroplan  # a GPU plan sizes DeepSpeed by default; this one sizes zeroplan's executor
else
  note "zeroplan run has no --device option: the executor trains on the CPU only, so this matrix runs on the CPU"
fi
left=$((BUDGET_S - (SECONDS - START_S)))
[ "$left" -gt 30 ] || finish fail "no time left for the matrix after the build ($((SECONDS - START_S)) s)"
note "fidelity matrix on $MODE ($left s left)"
FID_ARGS=(--build-dir "$BUILD_DIR" --ranks 1 --stages 0 --offloads none --ckpt "off on" --micro-batches "1 4"
          --seqs "128 512" --precisions "fp32 bf16" --steps 2 --threads "$(nproc)" --device "$MODE"
          --runtime "$RUNTIME" --out "$OUT/fidelity")
[ "$DRY_RUN" = 1 ] && FID_ARGS+=(--dry-run)
rc=0
timeout "$left" "$ROOT/tools/fidelity.sh" "${FID_ARGS[@]}" >"$OUT/fidelity.log" 2>&1 || rc=$?
[ "$DRY_RUN" = 1 ] && { cat "$OUT/fidelity.log"; finish ok "dry run: nothing built or run"; }
cp "$OUT/fidelity/results.jsonl" "$OUT/fidelity.jsonl" 2>/dev/null
cp "$OUT/fidelity/table.md" "$OUT/table.md" 2>/dev/null
rm -rf "$OUT/fidelity"  # only a few files come back from the machine
case "$rc" in
  0) finish ok "matrix within tolerance ($MODE)" ;;
  4) finish ok "matrix ran; some totals beyond tolerance ($MODE), see table.md" ;;
  124) finish fail "matrix stopped at the time budget ($MODE); partial results in fidelity.jsonl" ;;
  *) finish fail "fidelity.sh exited $rc ($MODE), see fidelity.log" ;;
esac
