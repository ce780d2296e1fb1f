#!/usr/bin/env bash
# Installs what the project needs (scripts/setup.sh) and starts the platform on embedded defaults:
# Prefect server (SQLite, UI) + process work pool + worker + zygote + API on port 8000. Ctrl-C, SIGTERM or
# SIGHUP stops them all (within INFERLOOP_SHUTDOWN_SECONDS, default 10).
# Extra arguments go to `inferloop-tabular serve` (e.g. --port 8080).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$("$ROOT/scripts/setup.sh")"
cd "$ROOT"
exec "$VENV/bin/inferloop-tabular" serve "$@"
