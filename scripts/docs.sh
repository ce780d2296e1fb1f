#!/usr/bin/env bash
# Builds the documentation site (mkdocs.yml, docs/) with `mkdocs build --strict`: a broken link, a missing anchor
# or a page left out of the nav fails. mkdocs and mkdocs-material are not in the platform's environment: they live
# in a small venv of their own, ${XDG_CACHE_HOME:-~/.cache}/inferloop/docs-venv-<hash of docs/requirements.txt>,
# built on first use (about a minute) and reused. The site goes to site/ (gitignored); DOCS_SITE_DIR puts it elsewhere.
# Quiet on success (one line); mkdocs' output and a non-zero exit status on failure.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-python3}"
HASH="$(sha256sum "$ROOT/docs/requirements.txt" | cut -c1-12)"
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/inferloop/docs-venv-$HASH"
SITE="${DOCS_SITE_DIR:-$ROOT/site}"
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT

if [ ! -f "$VENV/.complete" ]; then
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  if ! { "$PY" -m venv "$VENV" && "$VENV/bin/pip" install -q -r "$ROOT/docs/requirements.txt"; } >"$LOG" 2>&1; then
    grep -v "is ignored: it is neither a file nor a directory" "$LOG" >&2
    echo "docs: could not build $VENV" >&2
    exit 1
  fi
  touch "$VENV/.complete"
fi

cd "$ROOT"
START=$SECONDS
if ! NO_MKDOCS_2_WARNING=1 "$VENV/bin/mkdocs" build --strict --clean --site-dir "$SITE" >"$LOG" 2>&1; then
  cat "$LOG" >&2
  echo "docs: mkdocs build --strict failed (see above)" >&2
  exit 1
fi
echo "docs: $(find "$SITE" -name index.html | wc -l) pages built into ${SITE#"$ROOT"/} in $((SECONDS - START)) s (mkdocs build --strict)"
