#!/usr/bin/env bash
# Creates (or reuses) the project's virtual environment and prints its path on stdout.
# The venv lives outside the checkout, keyed by the hash of the requirement files and this
# script, so a fresh clone on the same machine reuses it and a changed pin builds a new one.
# torch is installed first and pinned (a local CPU wheel; unpinned it would pull a CUDA build).
# `--ydata` (or INFERLOOP_YDATA=1) also builds the separate ydata environment (scripts/setup-ydata.sh)
# that algorithm=ydata runs in; without it nothing of ydata is built.
set -euo pipefail
YDATA="${INFERLOOP_YDATA:-0}"
for arg in "$@"; do
  case "$arg" in
    --ydata) YDATA=1 ;;
    *) echo "setup: unknown argument $arg (known: --ydata)" >&2; exit 2 ;;
  esac
done
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-python3}"
HASH="$(cat "$ROOT/requirements.txt" "$ROOT/requirements-test.txt" "$ROOT/scripts/setup.sh" | sha256sum | cut -c1-12)"
VENV="${INFERLOOP_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/inferloop/venv-$HASH}"
LOG="$(mktemp)"

pip_quiet() {  # run pip, show its output only when it fails
  if ! "$VENV/bin/pip" "$@" >"$LOG" 2>&1; then
    grep -v "is ignored: it is neither a file nor a directory" "$LOG" >&2
    echo "setup: pip $* failed" >&2
    exit 1
  fi
}

if [ ! -f "$VENV/.complete" ]; then
  echo "setup: building $VENV (takes a few minutes the first time)" >&2
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  pip_quiet install --upgrade pip "setuptools>=68" wheel
  pip_quiet install torch==2.13.0
  pip_quiet install -r "$ROOT/requirements.txt" -r "$ROOT/requirements-test.txt"
  # mostlyai-engine pulls torchvision/torchaudio wheels built for another torch; with the local CPU torch
  # `import transformers` then fails on `operator torchvision::nms does not exist`. Nothing here uses them.
  pip_quiet uninstall -y torchvision torchaudio
  touch "$VENV/.complete"
fi
# the project itself (editable: the inferloop-tabular command) and its Python client (clients/python, its own
# distribution), leaving the pinned dependencies alone
pip_quiet install --no-deps --no-build-isolation -e "$ROOT" -e "$ROOT/clients/python"
rm -f "$LOG"
if [ "$YDATA" = 1 ]; then
  echo "setup: ydata environment $("$ROOT/scripts/setup-ydata.sh")" >&2
fi
echo "$VENV"
