#!/usr/bin/env bash
# Every method's paper recipe on one H100/H200 in at most ~8 minutes: iterations/s, peak memory, MFU in
# fp32 / bf16 / bf16 + channels_last + compile, at the recipe's batch size and at 16; rows appended to
# docs/benchmarks.md. `--dry-run`: the same code on CPU in about a minute (tested). Details: benchmarks/gpu.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[[ -x "${PY}" ]] || PY=python
exec timeout 540 "${PY}" benchmarks/gpu.py "$@"
