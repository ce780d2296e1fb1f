"""Profile time and peak memory: our profiling (polars, scipy, plotly report) vs ydata-profiling minimal.

Data: a synthetic table made here with a fixed seed (default 1,000,000 rows x 20 columns: numeric columns
drawn from normal, lognormal, uniform, exponential, gamma and Poisson laws, some with nulls and one
correlated with another; categories, booleans, a date column as strings, an id and a high-cardinality
text column), written once to benchmarks/data/ (gitignored).

Each side runs in its own fresh process that reads the same Parquet file, so that peak RSS
(`ru_maxrss`) covers only that side: ours in the project's environment, ydata-profiling in its own
virtual environment under benchmarks/.env/ (gitignored; created by this script with pip on first use).
If ydata-profiling cannot be installed, the script says so and still measures ours.

    PYTHONPATH=. "$(scripts/setup.sh)/bin/python" benchmarks/profile_benchmark.py [--rows N] [--skip-ydata]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "data"
YDATA_ENV = HERE / ".env" / "ydata"
YDATA_PACKAGES = ["ydata-profiling==4.18.4", "pyarrow"]
SEED = 42


def make_table(rows: int, path: Path) -> None:
    """Write the benchmark table (20 columns of mixed kinds) as Parquet."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(SEED)
    normal = rng.normal(50, 10, rows)
    with_nulls = rng.lognormal(10, 0.5, rows)
    with_nulls[rng.random(rows) < 0.05] = np.nan
    df = pd.DataFrame({
        "id": np.arange(rows),
        "normal": normal,
        "correlated": normal * 0.8 + rng.normal(0, 6, rows),
        "lognormal": rng.lognormal(3, 0.6, rows),
        "uniform": rng.uniform(-5, 20, rows),
        "exponential": rng.exponential(4, rows),
        "gamma": rng.gamma(3, 2, rows),
        "age": rng.integers(18, 90, rows),
        "visits": rng.poisson(3, rows),
        "income": with_nulls,
        "score": np.where(rng.random(rows) < 0.02, np.nan, rng.beta(2, 5, rows)),
        "segment": rng.choice(["gold", "silver", "bronze"], rows, p=[0.2, 0.3, 0.5]),
        "country": rng.choice(["FR", "DE", "US", "ES", "IT", "NL", "BE", "PL"], rows),
        "channel": pd.Series(rng.choice(["web", "store", "phone", None], rows, p=[0.5, 0.3, 0.15, 0.05])),
        "product": rng.choice([f"p{i:03d}" for i in range(300)], rows),
        "plan": rng.choice(["free", "pro", "team", "enterprise"], rows),
        "active": rng.random(rows) < 0.7,
        "verified": rng.random(rows) < 0.4,
        "signup": (pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1500, rows), unit="D"))
        .strftime("%Y-%m-%d"),
        "comment": [f"order {i} note {v}" for i, v in enumerate(rng.integers(0, 10**6, rows))],
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)


def child(side: str, path: str) -> None:
    """In a fresh process: read the table, profile it, print one JSON line of timings and peak RSS."""
    import pandas as pd

    df = pd.read_parquet(path)
    loaded_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out: dict = {"side": side, "rows": len(df), "columns": df.shape[1], "rss_after_load_mb": loaded_kb / 1024}
    t0 = time.perf_counter()
    if side == "ours":
        from tasks.tabular.profile_report import render_report
        from tasks.tabular.profiling import correlations, numeric_columns, profile_data

        profile, frame = profile_data(df)
        profile["correlations"] = correlations(frame, numeric_columns(profile))
        out["describe_s"] = time.perf_counter() - t0
        html = render_report(profile, frame)
        out["types"] = {n: c["type"] for n, c in profile["columns"].items()}
        out["distributions"] = {n: c.get("distribution") for n, c in profile["columns"].items()
                                if c["type"] == "numeric"}
    else:
        from ydata_profiling import ProfileReport

        report = ProfileReport(df, minimal=True, progress_bar=False)
        description = report.get_description()
        out["describe_s"] = time.perf_counter() - t0
        html = report.to_html()
        out["types"] = {n: v.get("type") for n, v in description.variables.items()}
    out["total_s"] = time.perf_counter() - t0
    out["report_mb"] = len(html.encode()) / 1e6
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(out))


def ydata_python() -> Path | None:
    """The interpreter of benchmarks/.env/ydata with ydata-profiling installed (created on first use)."""
    python = YDATA_ENV / "bin" / "python"
    if (YDATA_ENV / ".complete").exists():
        return python
    print(f"installing {', '.join(YDATA_PACKAGES)} into {YDATA_ENV} ...", flush=True)
    try:
        subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(YDATA_ENV)],
                       check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *YDATA_PACKAGES], check=True)
        subprocess.run([str(python), "-c", "import ydata_profiling, pyarrow"], check=True,
                       stderr=subprocess.DEVNULL)
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"ydata-profiling could not be installed here ({exc}); measuring ours only")
        return None
    (YDATA_ENV / ".complete").touch()
    return python


def run_side(python: Path | str, side: str, path: Path) -> dict | None:
    """Run one side in a fresh process; its parsed RESULT line, or None (with its error shown)."""
    env = {**os.environ, "PYTHONPATH": str(HERE.parent), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([str(python), __file__, "--child", side, "--data", str(path)], env=env, check=False,
                          capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    print(f"{side} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-ydata", action="store_true")
    parser.add_argument("--child", choices=["ours", "ydata"], help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.data)
        return

    path = DATA_DIR / f"profile_bench_{args.rows}x20_seed{SEED}.parquet"
    if not path.exists():
        t = time.perf_counter()
        make_table(args.rows, path)
        print(f"wrote {path} in {time.perf_counter() - t:.1f} s")
    print(f"data: {args.rows:,} rows x 20 columns ({path.stat().st_size / 1e6:.1f} MB parquet); "
          f"{os.cpu_count()} CPUs")
    results = [run_side(sys.executable, "ours", path)]
    python = None if args.skip_ydata else ydata_python()
    if python is not None:
        results.append(run_side(python, "ydata", path))
    print("\n| tool | describe (s) | with HTML report (s) | peak RSS (MB) | RSS after reading (MB) "
          "| report (MB) |")
    print("|---|---|---|---|---|---|")
    for r in filter(None, results):
        name = "ours (polars + scipy, plotly report)" if r["side"] == "ours" else "ydata-profiling minimal"
        print(f"| {name} | {r['describe_s']:.1f} | {r['total_s']:.1f} | {r['peak_rss_mb']:.0f} | "
              f"{r['rss_after_load_mb']:.0f} | {r['report_mb']:.1f} |")
    for r in filter(None, results):
        print(f"\n{r['side']} types: {json.dumps(r['types'])}")
        if "distributions" in r:
            print(f"{r['side']} fitted distributions: {json.dumps(r['distributions'])}")


if __name__ == "__main__":
    main()
