#!/usr/bin/env bash
# Installs every dependency zeroplan needs, idempotently.
#   ./tools/setup.sh            Debian packages + the pinned LibTorch (PyPI torch) in .venv
#   ./tools/setup.sh --no-torch Debian packages only (planner/simulator/reports build without LibTorch)
#   ./tools/setup.sh --reference also the Python reference packages in .venv (fixture scripts under tools/)
#   ./tools/setup.sh --browser  also Debian's chromium (large): the slow test that renders the HTML report
# Torch comes from PyPI (torch==2.11.0, the version on the GPU machines) into a project-local
# virtual environment; CMake finds it via torch.utils.cmake_prefix_path.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.11.0
want_torch=1
want_reference=0
want_browser=0
for arg in "$@"; do
  case "$arg" in
    --no-torch) want_torch=0 ;;
    --reference) want_reference=1 ;;
    --browser) want_browser=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done

DEBIAN_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libfmt-dev nlohmann-json3-dev libboost-graph-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libsentencepiece-dev libpcre2-dev libicu-dev
  python3-venv
)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ((want_torch)); then
  # Debian's python3 (not a pyenv shim) so the venv is the same on every machine of this kind.
  PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
  if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    "$PY" -m venv .venv
  fi
  if ! .venv/bin/python -c "import torch,sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
    echo "setup: installing torch==$TORCH_VERSION from PyPI into .venv (large download, once)"
    .venv/bin/pip install -q --disable-pip-version-check "torch==$TORCH_VERSION" numpy
  fi
fi
# Reference packages (only for regenerating fixtures): tokenizers/sentencepiece train and encode the
# tokenizer fixtures (tools/make_tokenizer_fixtures.py).
REFERENCE_PYPI=(tokenizers==0.23.3 sentencepiece==0.2.3)
# transformers + safetensors make the model reference fixtures (tools/make_reference.py).
REFERENCE_PYPI+=(transformers==5.23.0 safetensors==0.8.0)
if ((want_reference)); then
  PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  echo "setup: installing reference packages into .venv: ${REFERENCE_PYPI[*]}"
  .venv/bin/pip install -q --disable-pip-version-check "${REFERENCE_PYPI[@]}"
fi
# Headless Chromium renders `zeroplan compare --html` pages to PNG (tests/reports, label slow).
if ((want_browser)) && ! command -v chromium >/dev/null 2>&1; then
  echo "setup: installing chromium (Debian)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
echo "setup: done"
