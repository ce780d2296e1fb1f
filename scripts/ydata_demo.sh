#!/usr/bin/env bash
# Shows algorithm=ydata working without the platform: builds both environments (scripts/setup.sh --ydata),
# then calls the `generate` flow as a plain Python function in the ydata environment (Prefect runs it on a
# temporary local server) on a small table it makes, and prints the manifest: model, epochs reported,
# quality score (computed by the main environment's interpreter). Takes a few minutes the first time.
#   scripts/ydata_demo.sh [epochs]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
EPOCHS="${1:-5}"
MAIN="$("$ROOT/scripts/setup.sh")"
YDATA="$("$ROOT/scripts/setup-ydata.sh")"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$ROOT"
export PYTHONPATH="$ROOT" INFERLOOP_HOME="$WORK/home" INFERLOOP_PYTHON="$MAIN/bin/python" \
       PREFECT_HOME="$WORK/prefect" PREFECT_SERVER_ANALYTICS_ENABLED=false TQDM_DISABLE=1 \
       YDATA_SYNTHETIC_NO_ANALYTICS=1 TF_CPP_MIN_LOG_LEVEL=3
"$MAIN/bin/python" -c "from tests.tabular_data import customers; customers(300).to_csv('$WORK/customers.csv', index=False)"
"$YDATA/bin/python" - "$WORK/customers.csv" "$EPOCHS" <<'EOF'
import json, sys
from flows.tabular.generate import generate

manifest = generate(data=sys.argv[1], algorithm="ydata", num_rows=100, seed=42,
                    parameters={"ydata_model": "ctgan", "epochs": int(sys.argv[2]), "batch_size": 100})
keep = ("model_key", "parameters", "original_rows", "generated_rows", "quality_score", "device", "timings")
print(json.dumps({k: manifest[k] for k in keep}, indent=2))
EOF
