#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs the test suite.
#   ./tools/test.sh             the default suite (everything but tests labelled slow or gpu)
#   ZEROPLAN_TEST_ALL=1 ./tools/test.sh   also the slow suites
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/setup.sh
./tools/build.sh
BUILD_DIR=${ZEROPLAN_BUILD_DIR:-build}
label_args=(-LE "slow|gpu")
[ "${ZEROPLAN_TEST_ALL:-0}" = 1 ] && label_args=(-LE gpu)
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" "${label_args[@]}"
