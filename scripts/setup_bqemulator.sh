#!/usr/bin/env bash
# The BigQuery emulator (the `bqemulator` package) pins a sqlglot that conflicts with fakesnow's, so it lives
# in its own virtualenv, .venv-bq/ (gitignored). Idempotent; the warehouse tests call it (one caller at a time:
# tests/warehouse/emulators.py holds a lock around it). A virtualenv left half-made by an interrupted install is
# made again (--clear).
set -euo pipefail
cd "$(dirname "$0")/.."
UV="$(command -v uv || echo "$HOME/.local/bin/uv")"
if [ ! -x .venv-bq/bin/bqemulator ]; then
    "$UV" venv .venv-bq --python 3.11 -q --clear
    "$UV" pip install -q --python .venv-bq/bin/python bqemulator numpy  # numpy: its built-in UDFs need it
fi
echo "$(pwd)/.venv-bq/bin/python"
