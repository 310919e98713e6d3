#!/usr/bin/env bash
# The whole test suite, on a fresh machine too: installs what is missing (Debian's Chromium,
# the npm packages, a Python virtual environment), then ruff (lint + format), ESLint (the
# JavaScript, eslint.config.js) and pytest.
#   bash tests/run.sh [pytest arguments]
#   SCENESEG_SITE=dist bash tests/run.sh -m "not slow"   # the quick loop (docs/development.md)
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v chromium >/dev/null 2>&1; then
  echo "tests/run.sh: installing Debian's chromium"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

if [ ! -f node_modules/pyodide/package.json ] || [ ! -f node_modules/onnxruntime-web/package.json ] \
   || [ ! -f node_modules/eslint/package.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

stamp=.venv/.sceneseg-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  # torch (reference interpolation only): pinned to the CPU build this project's machines carry.
  .venv/bin/pip install -q "torch==2.13.0"
  .venv/bin/pip install -q -e ".[test]"
  touch "$stamp"
fi

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TRANSFORMERS_VERBOSITY=error
.venv/bin/ruff check .
.venv/bin/ruff format --check .
node_modules/.bin/eslint .
# The suite's own time, last in the log (CI's too), whether it passed or not.
echo "tests/run.sh: pytest started $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(nproc) cores"
start=$SECONDS
status=0
.venv/bin/python -m pytest "$@" || status=$?
took=$((SECONDS - start))
printf 'tests/run.sh: pytest took %dm%02ds (%d s), exit status %d\n' \
  $((took / 60)) $((took % 60)) "$took" "$status"
exit "$status"
