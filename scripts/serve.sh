#!/usr/bin/env bash
# Installs what the project needs (scripts/setup.sh) and starts the platform on embedded defaults:
# Prefect server (SQLite, UI) + process work pool + worker + API on port 8000. Ctrl-C stops them all.
# Extra arguments go to `inferloop-tabular serve` (e.g. --port 8080).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$("$ROOT/scripts/setup.sh")"
cd "$ROOT"
exec "$VENV/bin/inferloop-tabular" serve "$@"
