"""Compare the run-time estimate that decides a sync endpoint's early 202 (tasks/tabular/estimates.py) with
measured runs through the platform: submit (POST /generate/async) to completed (GET /jobs/{id}), on slices of
UCI Adult (the same wheel-shipped file as generate_vs_raw_sdv.py), for GaussianCopula, CTGAN and TVAE.

    PYTHONPATH=. "$(scripts/setup.sh)/bin/python" benchmarks/estimate_calibration.py

Starts its own embedded platform (fresh INFERLOOP_HOME, free ports). Prints, per case, the estimate, the
measured time and their ratio, then the seconds per training step the measured neural runs imply.
"""

from __future__ import annotations

import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
from bench_platform import API_KEY, embedded_platform, isolated_settings
from generate_vs_raw_sdv import adult_table

# (label, sdv_model, epochs, rows): the README quick start is ctgan, 50 epochs, on ~8,800 rows
CASES = [("gaussian_copula 8.8k", "gaussian_copula", None, 8_800),
         ("gaussian_copula 32.5k", "gaussian_copula", None, 32_561),
         ("ctgan 50 epochs 8.8k (quick start)", "ctgan", 50, 8_800),
         ("ctgan 10 epochs 32.5k", "ctgan", 10, 32_561),
         ("tvae 50 epochs 8.8k", "tvae", 50, 8_800)]


def run_job(client: httpx.Client, upload: str, model: str, epochs: int | None, rows: int) -> float:
    params = {"sdv_model": model, **({"epochs": epochs} if epochs else {})}
    t0 = time.perf_counter()
    r = client.post("/api/tabular/generate/async", json={"data_url": upload, "algorithm": "sdv", "num_rows": rows,
                                                          "seed": 1, "parameters": params})
    r.raise_for_status()
    job = r.json()["job_id"]
    while True:
        status = client.get(f"/api/tabular/jobs/{job}").json()["status"]
        if status in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.25)
    if status != "completed":
        raise RuntimeError(f"{model} job {job} ended {status}")
    return time.perf_counter() - t0


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="inferloop-estimates-"))
    settings = isolated_settings(work / "home")
    from tasks.tabular.estimates import RUN_OVERHEAD_S, estimate_seconds, step_seconds
    from tasks.tabular.synthesizers import resolve

    table = adult_table()
    results = []
    with embedded_platform(settings) as base, httpx.Client(base_url=base, headers={"X-API-Key": API_KEY},
                                                            timeout=600) as client:
        uploads = {}
        for _, _, _, rows in CASES:
            if rows not in uploads:
                csv = work / f"adult-{rows}.csv"
                table.head(rows).to_csv(csv, index=False)
                with csv.open("rb") as f:
                    uploads[rows] = client.post("/api/tabular/uploads", files={"file": (csv.name, f)}).json()[
                        "data_url"]
        run_job(client, uploads[8_800], "gaussian_copula", None, 100)  # warm-up: the first run pays imports
        for label, model, epochs, rows in CASES:
            key, params = resolve("sdv", {"sdv_model": model, **({"epochs": epochs} if epochs else {})})
            estimate = estimate_seconds(key, params, rows, table.shape[1], rows)
            measured = run_job(client, uploads[rows], model, epochs, rows)
            results.append((label, key, params, rows, estimate, measured))
            print(f"{label:36s} estimate {estimate:6.0f} s  measured {measured:6.1f} s  "
                  f"ratio {estimate / measured:4.2f}", flush=True)
    print(f"\nRUN_OVERHEAD_S {RUN_OVERHEAD_S}")
    for label, key, params, rows, estimate, measured in results:
        if key != "sdv:gaussian_copula":
            steps = int(params.get("epochs", 300)) * max(1, math.ceil(rows / int(params.get("batch_size", 500))))
            print(f"{label:36s} {steps} steps: {(measured - RUN_OVERHEAD_S) / steps:.4f} s per step "
                  f"(all of the run but the fixed cost; the estimate uses {step_seconds(key)})")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
