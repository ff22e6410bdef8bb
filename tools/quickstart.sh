#!/usr/bin/env bash
# Installs, builds, and sizes the default run: llama-2-7b on the default cluster (1 node x 4 RTX 4090).
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/setup.sh
./tools/build.sh
echo
./build/zeroplan plan --model llama-2-7b --seq-len 2048 --global-batch 64 --precision fp16
