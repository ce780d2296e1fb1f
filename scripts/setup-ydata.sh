#!/usr/bin/env bash
# Creates (or reuses) the ydata environment (algorithm=ydata: ydata-synthetic 2.0.1 on TensorFlow 2.15,
# numpy < 2) and prints its path on stdout. Run by `scripts/setup.sh --ydata` / `INFERLOOP_YDATA=1
# scripts/setup.sh`; never by default. Like the main environment it lives outside the checkout, keyed by
# the hash of requirements-ydata.txt and this script (inferloop/runtime/ydata_env.py finds it the same way), so
# `inferloop-tabular serve` detects it and starts the ydata work pool's worker from it.
# TensorFlow 2.15 supports Python 3.9-3.11: INFERLOOP_YDATA_BUILD_PYTHON names the interpreter to build
# from, else the first of python3.11, python3.10, python3.9, python3 that is one of those versions.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
HASH="$(cat "$ROOT/requirements-ydata.txt" "$ROOT/scripts/setup-ydata.sh" | sha256sum | cut -c1-12)"
VENV="${INFERLOOP_YDATA_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/inferloop/ydata-venv-$HASH}"
LOG="$(mktemp)"

supported() {  # is "$1" a Python 3.9-3.11 interpreter?
  "$1" -c 'import sys; sys.exit(0 if (3, 9) <= sys.version_info[:2] <= (3, 11) else 1)' >/dev/null 2>&1
}

pip_quiet() {  # run pip, show its output only when it fails
  if ! "$VENV/bin/pip" "$@" >"$LOG" 2>&1; then
    grep -v "is ignored: it is neither a file nor a directory" "$LOG" >&2
    echo "setup-ydata: pip $* failed" >&2
    exit 1
  fi
}

if [ ! -f "$VENV/.complete" ]; then
  PY="${INFERLOOP_YDATA_BUILD_PYTHON:-}"
  if [ -z "$PY" ]; then
    for candidate in python3.11 python3.10 python3.9 python3; do
      if command -v "$candidate" >/dev/null && supported "$candidate"; then PY="$candidate"; break; fi
    done
  fi
  if [ -z "$PY" ] || ! supported "$PY"; then
    echo "setup-ydata: TensorFlow 2.15 needs Python 3.9, 3.10 or 3.11; none found" \
         "(set INFERLOOP_YDATA_BUILD_PYTHON to one)" >&2
    exit 1
  fi
  echo "setup-ydata: building $VENV from $("$PY" -c 'import sys; print(sys.executable)') (about 2 minutes)" >&2
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  pip_quiet install --upgrade pip "setuptools>=68" wheel
  pip_quiet install -r "$ROOT/requirements-ydata.txt"
  # what the ydata work pool runs must import here (the flows it deploys, the stream sampler, and
  # ydata-synthetic, whose 2.0.1 __init__ needs a shim: tasks/tabular/synthesizers/ydata.py): fails the build
  # here rather than at the first run
  if ! (cd "$ROOT" && PYTHONPATH="$ROOT" YDATA_SYNTHETIC_NO_ANALYTICS=1 TF_CPP_MIN_LOG_LEVEL=3 \
        "$VENV/bin/python" -c "import flows.tabular.generate, flows.tabular.train_model, flows.tabular.sample_model, flows.tabular.batch
import tasks.tabular.stream_sampler
from tasks.tabular.synthesizers.ydata import import_ydata; import_ydata()") >"$LOG" 2>&1; then
    cat "$LOG" >&2
    echo "setup-ydata: ydata-synthetic does not import in $VENV" >&2
    exit 1
  fi
  touch "$VENV/.complete"
fi
rm -f "$LOG"
echo "$VENV"
