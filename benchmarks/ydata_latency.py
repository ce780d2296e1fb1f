"""A small algorithm=ydata job end to end, with the ydata pool's zygote (warm) and without it (cold).

Run from the checkout with the project's environment, where the ydata environment is built
(`INFERLOOP_YDATA=1 scripts/setup.sh`):

    PYTHONPATH=. "$(scripts/setup.sh)/bin/python" benchmarks/ydata_latency.py      # --reps 5 --mode both

Each mode starts its own embedded platform (Prefect server, both work pools and workers, the API in a thread)
in a temporary INFERLOOP_HOME, in a fresh process: `warm` with INFERLOOP_WARM_WORKER=true (the default: ydata
runs fork from the ydata zygote, their quality score from the main zygote), `cold` with it false (a fresh ydata
interpreter per run and a fresh main interpreter for its quality score). It uploads a 200 x 6 table, then times
`POST /api/tabular/generate` (sync; algorithm=ydata, ctgan, 3 epochs, 120 rows, seed 42) --reps times after
one untimed run, and reads the flow's own step timings from each run's manifest.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
FORM = {"algorithm": "ydata", "epochs": "3", "batch_size": "100", "noise_dim": "32", "num_rows": "120",
        "seed": "42"}


def one_mode(mode: str, reps: int) -> dict:
    os.environ["INFERLOOP_WARM_WORKER"] = "true" if mode == "warm" else "false"
    work = Path(tempfile.mkdtemp(prefix="inferloop-ydata-latency-"))
    sys.path.insert(0, str(BENCH_DIR))
    sys.path.insert(0, str(BENCH_DIR.parent))
    from bench_platform import API_KEY, embedded_platform, isolated_settings

    settings = isolated_settings(work / "home")
    try:
        with embedded_platform(settings) as base:
            import httpx

            from api.jobs import read_manifest
            from inferloop.core import db
            from tests.tabular_data import customers

            csv = customers(200).to_csv(index=False).encode()
            times, steps = [], []
            with httpx.Client(base_url=base, headers={"X-API-Key": API_KEY}, timeout=900) as http:
                if "ydata" not in http.get("/ready").json().get("models_loaded", []):
                    raise SystemExit("the ydata environment is not built: INFERLOOP_YDATA=1 scripts/setup.sh")
                for i in range(reps + 1):
                    t = time.perf_counter()
                    r = http.post("/api/tabular/generate", data=FORM, files={"file": ("t.csv", csv, "text/csv")})
                    elapsed = time.perf_counter() - t
                    r.raise_for_status()
                    with db.session_scope() as s:
                        manifest = read_manifest(s.get(db.Job, r.json()["id"]).flow_run_id)
                    print(f"{mode} {'warm-up' if i == 0 else f'{i}/{reps}'}: {elapsed:.2f} s "
                          f"{manifest.get('timings', {})}", flush=True)
                    if i:
                        times.append(elapsed)
                        steps.append(manifest.get("timings", {}))
        return {"times": times, "steps": steps, "load": os.getloadavg()}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def median_steps(steps: list[dict]) -> dict:
    keys = sorted({k for s in steps for k in s})
    return {k: round(statistics.median(s[k] for s in steps if k in s), 2) for k in keys}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--mode", choices=("warm", "cold", "both"), default="both")
    ap.add_argument("--json-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.mode != "both":
        result = one_mode(args.mode, args.reps)
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(result))
        return
    results = {}
    for mode in ("cold", "warm"):
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            subprocess.run([sys.executable, __file__, "--mode", mode, "--reps", str(args.reps),
                            "--json-out", out.name], check=True)
            results[mode] = json.loads(Path(out.name).read_text())
    print("\n| mode | sync request, median (min-max) | flow steps, medians (s) | load average at the end |")
    print("|---|---|---|---|")
    for mode, res in results.items():
        t = res["times"]
        print(f"| {mode} | {statistics.median(t):.2f} s ({min(t):.2f}-{max(t):.2f}) | "
              f"{median_steps(res['steps'])} | {res['load'][0]:.2f} |")


if __name__ == "__main__":
    main()
