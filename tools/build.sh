#!/usr/bin/env bash
# Configures and builds zeroplan into build/ (the binary is build/zeroplan). Assumes tools/setup.sh ran.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${ZEROPLAN_BUILD_DIR:-build}
JOBS=${ZEROPLAN_JOBS:-$(nproc)}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
fi
cmake --build "$BUILD_DIR" -j "$JOBS"
