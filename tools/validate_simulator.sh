#!/usr/bin/env bash
# Reproduces the simulator's validation figures in README "Simulating":
#   1. ZeRO communication volume per GPU per optimizer step, stage 3 / stage 2 at gas = 1 (paper: 1.5)
#   2. all-reduce busbw vs message size on 8 x H200 against the published nccl-tests curve
#   3. scale: one step of llama-2-70b on 64 x 8 and 1024 x 8 H100 (targets < 50 ms and < 1 s)
#   4. this machine (LibTorch build): `zeroplan calibrate` fits Gloo alpha-beta on a few sizes, then a
#      separate sweep measures all_reduce / reduce_scatter / all_gather on 2 and 4 ranks over 4 KiB-256 MiB
#      and the simulator's prediction is compared with every point (fitted sizes marked), plus "fit on
#      2 ranks only, predict 4"
#   5. this machine: step time of `zeroplan run` (single process; multi-rank when `run --nproc-per-node`
#      exists) vs `zeroplan simulate` with the calibrated profile
# Usage: tools/validate_simulator.sh [--machine-only | --model-only]
#   (ZEROPLAN_BUILD_DIR=build-foo to use another build directory; VALIDATE_OUT=DIR keeps the measurements)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${ZEROPLAN_BUILD_DIR:-build}
ZP="$BUILD_DIR/zeroplan"
PY=${PYTHON:-python3}
MODE=${1:-all}
if [ "$MODE" != "--machine-only" ]; then
if [ ! -x "$ZP" ] || [ ! -x "$BUILD_DIR/bench/simulate_bench" ]; then
  cmake --build "$BUILD_DIR" -j2 --target zeroplan simulate_bench
fi

echo "== 1. ZeRO communication volume per GPU per step, stage 3 / stage 2 (gas = 1; ZeRO paper: 1.5)"
printf "%-14s %-18s %14s %14s %8s %8s\n" model cluster "stage2 bytes" "stage3 bytes" ratio "vs 1.5"
for model in llama-2-7b llama-2-70b; do
  for cluster in 1x8-h100-80gb 4x8-h100-80gb; do
    common=(--model "$model" --cluster "$cluster" --seq-len 2048 --offload-optimizer none --offload-param none
            --micro-batch 1 --grad-accum 1 --json)
    s2=$("$ZP" simulate "${common[@]}" --zero-stage 2 | $PY -c 'import json,sys; print(json.load(sys.stdin)["comm_bytes_per_gpu"]["total"])')
    s3=$("$ZP" simulate "${common[@]}" --zero-stage 3 | $PY -c 'import json,sys; print(json.load(sys.stdin)["comm_bytes_per_gpu"]["total"])')
    $PY -c "
s2, s3 = $s2, $s3
r = s3 / s2
print('%-14s %-18s %14d %14d %8.4f %+7.2f%% %s' % ('$model', '$cluster', s2, s3, r, 100 * (r / 1.5 - 1), 'ok' if abs(r / 1.5 - 1) <= 0.02 else 'FAIL'))"
  done
done

echo
echo "== 2. all_reduce busbw on 8 x H200 (simulated) vs nccl-tests (ml-engineering all-reduce-8xH200.md, NVLS on)"
printf "%10s %12s %12s %8s %s\n" size simulated measured error algorithm
for pair in 1MiB:39.9 8MiB:155.5 32MiB:275.8 128MiB:401.9 512MiB:450.3 16GiB:482.3; do
  size=${pair%%:*}; measured=${pair##*:}
  "$ZP" simulate collective --op all_reduce --bytes "$size" --cluster 1x8-h200-141gb --json |
    $PY -c "
import json, sys
d = json.load(sys.stdin)
print('%10s %12.1f %12.1f %+7.1f%% %s/%s' % ('$size', d['busbw_GBps'], $measured, 100 * (d['busbw_GBps'] / $measured - 1), d['algorithm'], d['protocol']))"
done

echo
echo "== 3. scale: one step of llama-2-70b, ZeRO-3, on 64x8 and 1024x8 H100 (targets < 50 ms, < 1 s)"
"$BUILD_DIR/bench/simulate_bench" --benchmark_filter='BM_SimulateStepFromScratch|BM_EstimateCached' 2>/dev/null |
  grep -E '^(BM_|Benchmark|-)'

fi  # model sections
[ "$MODE" = "--model-only" ] && exit 0
exec tools/validate_machine.sh
