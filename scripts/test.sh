#!/usr/bin/env bash
# Installs what the project needs (scripts/setup.sh) and runs the test suite.
# Extra arguments go to pytest, e.g. scripts/test.sh tests/api -k download
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$("$ROOT/scripts/setup.sh")"
cd "$ROOT"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
