"""Validation time and peak memory on a 30,000-row table, computed in-process and through POST /validate.

Data (fixed seed, written once to benchmarks/data/, gitignored): 12 columns — normal, lognormal with 5%
nulls, uniform and integer columns, two categoricals, a boolean, a date column as strings, a label that
depends on two numeric columns, an all-null column and a unique free-text column. The synthetic table is
sampled from SDV's GaussianCopula fitted on it (fit time not counted). ml_efficacy predicts `label`.

1. compute: a fresh process runs what the flow runs (load both files, checks, statistical, ml_efficacy,
   privacy, the Great Expectations suite, the HTML report) and reports each step's time and its peak RSS.
2. api: the embedded platform (Prefect server, worker, API) and one POST /validate of both files:
   wall time as the client sees it (upload, flow-run start on the worker, imports, compute, report).

    PYTHONPATH=. "$(scripts/setup.sh)/bin/python" benchmarks/validate_benchmark.py [--rows N] [--skip-api]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "data"
SEED = 7
TARGET = "label"  # depends on x1 and x2: something for the models to learn
DETAILS = {"statistical_similarity": ("details",), "ml_efficacy": ("tstr", "trtr", "classifier_auc",
                                                                  "feature_importance_correlation"),
           "privacy": ("distance_to_closest_record", "dcr_holdout_baseline", "membership_inference_auc",
                       "k_anonymity", "exact_match_fraction")}


def make_tables(rows: int) -> tuple[Path, Path]:
    """The original table and a GaussianCopula sample of it, as CSV (made once per row count)."""
    original, synthetic = DATA_DIR / f"validate-{rows}-original.csv", DATA_DIR / f"validate-{rows}-synthetic.csv"
    if original.exists() and synthetic.exists():
        return original, synthetic
    import numpy as np
    import pandas as pd

    from tasks.tabular.synthesizers import build, resolve

    rng = np.random.default_rng(SEED)
    x1, x2 = rng.normal(0, 1, rows), rng.normal(50, 10, rows)
    income = rng.lognormal(10, 0.5, rows).round(2)
    income[rng.random(rows) < 0.05] = np.nan
    df = pd.DataFrame({
        "x1": x1.round(4), "x2": x2.round(3), "income": income, "uniform": rng.uniform(-5, 20, rows).round(3),
        "age": rng.integers(18, 90, rows),
        "segment": rng.choice(["gold", "silver", "bronze"], rows, p=[0.2, 0.3, 0.5]).astype(str),
        "region": rng.choice([f"r{i}" for i in range(12)], rows).astype(str),
        "active": rng.random(rows) < 0.7,
        "signup": (pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1500, rows), "D"))
        .strftime("%Y-%m-%d"),
        "label": np.where(x1 + (x2 - 50) / 10 + rng.normal(0, 0.5, rows) > 0, "yes", "no"),
        "empty": np.nan,
        "note": [f"customer note {i} {rng.integers(1e9)}" for i in range(rows)],
    })
    DATA_DIR.mkdir(exist_ok=True)
    df.to_csv(original, index=False)
    key, params = resolve("sdv", {"sdv_model": "gaussian_copula"})
    model = build(key, params)
    model.fit(df, seed=SEED)
    model.sample(rows, seed=SEED).to_csv(synthetic, index=False)
    return original, synthetic


def compute(original: str, synthetic: str) -> dict:
    """Run the flow's steps as plain functions in this process; step times (s) and peak RSS (MB)."""
    times: dict[str, float] = {}

    def timed(name, fn, *args, **kwargs):
        t = time.perf_counter()
        out = fn(*args, **kwargs)
        times[name] = round(time.perf_counter() - t, 2)
        return out

    t0 = time.perf_counter()
    from tasks.tabular.expectations import run_expectations
    from tasks.tabular.quality import check_inputs, ml_efficacy, privacy_risk, statistical_similarity
    from tasks.tabular.validation_report import render_report
    from tasks.tabular.tables import read_table

    times["imports"] = round(time.perf_counter() - t0, 2)
    t1 = time.perf_counter()
    real = timed("load_original", read_table, original)
    syn = timed("load_synthetic", read_table, synthetic)
    check_inputs(real, syn, ["statistical", "ml_efficacy", "privacy"], TARGET)
    result = {"metrics": {"statistical_similarity": timed("statistical", statistical_similarity, real, syn),
                          "ml_efficacy": timed("ml_efficacy", ml_efficacy, real, syn, TARGET),
                          "privacy": timed("privacy", privacy_risk, real, syn)}}
    result["expectations"] = timed("expectations", run_expectations, real, syn)
    scores = [v["score"] for v in result["metrics"].values() if v["score"] is not None]
    result["overall_score"] = round(sum(scores) / len(scores), 4)
    page = timed("report", render_report, real, syn, result)
    times["total_after_imports"] = round(time.perf_counter() - t1, 2)
    return {"times_s": times, "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "report_mb": round(len(page.encode()) / 1e6, 1), "rows": [len(real), len(syn)],
            "scores": {k: v["score"] for k, v in result["metrics"].items()} | {"overall": result["overall_score"]},
            "details": {k: _brief(result["metrics"][m].get(k)) for m, keys in DETAILS.items() for k in keys},
            "expectations_met": f"{result['expectations']['successful']}/{result['expectations']['evaluated']}"}


def _brief(value):
    """Statistical details without the per-column table."""
    return {k: v for k, v in value.items() if k != "columns"} if isinstance(value, dict) else value


def through_api(original: Path, synthetic: Path) -> dict:
    """One POST /validate on the embedded platform; client wall time and the flow's own timings."""
    import httpx

    from benchmarks.bench_platform import API_KEY, embedded_platform, isolated_settings

    settings = isolated_settings(Path(tempfile.mkdtemp(prefix="inferloop-bench-")))
    with embedded_platform(settings) as api:
        t = time.perf_counter()
        with original.open("rb") as f1, synthetic.open("rb") as f2:
            r = httpx.post(f"{api}/api/tabular/validate", files={"original": f1, "synthetic": f2},
                           data={"target_column": TARGET}, headers={"X-API-Key": API_KEY}, timeout=900)
        wall = time.perf_counter() - t
    r.raise_for_status()
    body = r.json()
    return {"wall_s": round(wall, 2), "overall_score": body["overall_score"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--skip-api", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(compute(*args.child)))
        return
    original, synthetic = make_tables(args.rows)
    out = subprocess.run([sys.executable, __file__, "--child", str(original), str(synthetic)],
                         capture_output=True, text=True, check=True)
    figures = {"rows": args.rows, "compute": json.loads(out.stdout.strip().splitlines()[-1])}
    if not args.skip_api:
        figures["api"] = through_api(original, synthetic)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
