"""Submit -> running and submit -> completed of a tiny generation job, beside a bare flow on the same pool.

Run from the checkout with the project's environment:

    PYTHONPATH=. "$(scripts/setup.sh)/bin/python" benchmarks/job_latency.py

It starts its own embedded platform (Prefect server, process work pool, worker, deployments of
prefect.yaml, API in a thread) in a temporary INFERLOOP_HOME on free ports. It uploads a 50 x 3 table
once, then repeats, interleaved: one `POST /generate/async` (sdv gaussian_copula, num_rows 10) polled
through `GET /jobs/{id}` every 50 ms, and one flow run of `trivial_flow.py:trivial` (no tasks),
deployed onto the same work pool with the same `command` job variable as the project's deployments,
created with `create_flow_run_from_deployment` and polled with `read_flow_run` every 50 ms. Times are
also read from each run's Prefect state history (`read_flow_run_states`). After those, it times the first
record of `GET /stream/{model_id}?rate=max` (a GaussianCopula fitted on the same table, registered as a ready
model) --streams times. Ctrl-C stops everything.

`--worker warm` runs with the zygote (INFERLOOP_WARM_WORKER=true, the default: runs and streams fork from a
process that has Prefect, pandas, SDV and torch imported); `--worker cold` without it (the launcher then execs
`python -m prefect.engine`, today's process worker); `--worker both` (default) runs the two one after the
other, each in a fresh process with its own platform, and prints them side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
POLL = 0.05  # seconds between status polls (--poll)
TIMEOUT = 300.0
SETTLE = 2.0  # seconds between runs: the previous flow process exits and frees the worker's slot


def tiny_csv(rows: int = 50) -> bytes:
    """A 50 x 3 table (int, float, category) as csv bytes."""
    lines = ["age,income,city"] + [f"{20 + i % 40},{1000 + 37.5 * i:.2f},{'ABC'[i % 3]}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def state_times(client: Any, flow_run_id: Any, t_submit: float) -> dict[str, float]:
    """Seconds from submit to the first state of each type (SCHEDULED, PENDING, RUNNING, COMPLETED)."""
    at: dict[str, float] = {}
    for state in sorted(client.read_flow_run_states(flow_run_id), key=lambda s: s.timestamp):
        at.setdefault(state.type.value, state.timestamp.timestamp() - t_submit)
    return at


def platform_once(http: Any, prefect: Any, data_url: str, poll: float = POLL) -> dict[str, Any]:
    """One async generation job: observed running/completed times, state times and the flow's own timings."""
    from inferloop.core import storage

    body = {"data_url": data_url, "algorithm": "sdv", "num_rows": 10, "seed": 1,
            "parameters": {"sdv_model": "gaussian_copula"}}
    t_wall, t0 = time.time(), time.perf_counter()
    r = http.post("/api/tabular/generate/async", json=body)
    r.raise_for_status()
    job_id = r.json()["job_id"]
    obs: dict[str, float] = {"accepted": time.perf_counter() - t0}
    polls: list[float] = []
    while "completed" not in obs:
        t = time.perf_counter()
        job = http.get(f"/api/tabular/jobs/{job_id}", params={"log_limit": 1}).raise_for_status().json()
        elapsed = time.perf_counter() - t0
        polls.append(time.perf_counter() - t)
        if job["status"] in ("failed", "cancelled") or elapsed > TIMEOUT:
            raise RuntimeError(f"job {job_id}: {job['status']} after {elapsed:.1f} s: {job.get('error')}")
        if job["status"] in ("running", "completed"):
            obs.setdefault(job["status"], elapsed)
        time.sleep(poll)
    run_id = job["prefect_flow_run_id"]
    manifest = storage.read_json(f"{storage.run_dir(run_id)}/manifest.json")
    return {**obs, "poll": statistics.mean(polls), "states": state_times(prefect, run_id, t_wall),
            "flow": {**manifest["timings"], "body": manifest["generation_time"]}}


def bare_once(prefect: Any, deployment_id: Any, poll: float = POLL) -> dict[str, Any]:
    """One run of the trivial deployment: observed Running/Completed times and state times."""
    t_wall, t0 = time.time(), time.perf_counter()
    fr = prefect.create_flow_run_from_deployment(deployment_id, tags=["benchmark"])
    obs: dict[str, float] = {"accepted": time.perf_counter() - t0}
    polls: list[float] = []
    while "completed" not in obs:
        t = time.perf_counter()
        state = prefect.read_flow_run(fr.id).state
        elapsed = time.perf_counter() - t0
        polls.append(time.perf_counter() - t)
        if (state.is_final() and not state.is_completed()) or elapsed > TIMEOUT:
            raise RuntimeError(f"flow run {fr.id}: {state.type.value} after {elapsed:.1f} s: {state.message}")
        if state.is_running():
            obs.setdefault("running", elapsed)
        if state.is_completed():
            obs.setdefault("completed", elapsed)
        time.sleep(poll)
    return {**obs, "poll": statistics.mean(polls), "states": state_times(prefect, fr.id, t_wall)}


def deploy_trivial(settings: Any, prefect: Any) -> tuple[Any, str]:
    """Deploy trivial_flow.py onto the project's pool with the `command` of the project's deployments."""
    from prefect import flow

    command = prefect.read_deployment_by_name(settings.deployment_name("generate")).job_variables["command"]
    with contextlib.redirect_stdout(io.StringIO()):  # deploy() prints a table of deployments
        deployment_id = flow.from_source(source=str(BENCH_DIR), entrypoint="trivial_flow.py:trivial").deploy(
            name="trivial-baseline", work_pool_name=settings.work_pool, job_variables={"command": command},
            build=False, push=False, print_next_steps=False, ignore_warnings=True)
    return deployment_id, command


def register_model(data: bytes) -> str:
    """Fit a GaussianCopula on the table and register it as a ready model (as stream_rate.py does)."""
    import pandas as pd

    from stream_rate import register_model as register

    return register(pd.read_csv(io.BytesIO(data)), "latency-gc", 1)[0]


def first_record(http: Any, model_id: str) -> float:
    """Seconds from the request of a 1 s rate=max stream to its first `record` event."""
    t0 = time.perf_counter()
    with http.stream("GET", f"/api/tabular/stream/{model_id}", params={"rate": "max", "duration": 1}) as r:
        r.raise_for_status()
        first = None
        for chunk in r.iter_raw():
            if first is None and b"event: record" in chunk:
                first = time.perf_counter() - t0
    return first if first is not None else float("nan")


def import_seconds(module: str, reps: int = 3) -> float:
    """Median wall time of a fresh interpreter that imports `module` (cwd: the checkout)."""
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], cwd=BENCH_DIR.parent, check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def span(values: list[float | None]) -> str:
    """'median (min–max)' of the values that were seen, with n when some were not."""
    seen = [v for v in values if v is not None]
    if not seen:
        return "not seen"
    note = "" if len(seen) == len(values) else f" n={len(seen)}"
    return f"{statistics.median(seen):6.2f} s ({min(seen):.2f}–{max(seen):.2f}){note}"


def diff(a: list[float | None], b: list[float | None]) -> str:
    """Difference of the medians, a - b."""
    a2, b2 = [v for v in a if v is not None], [v for v in b if v is not None]
    return f"{statistics.median(a2) - statistics.median(b2):+6.2f} s" if a2 and b2 else "–"


def since(runs: list[dict[str, Any]], start: str | None, end: str) -> list[float | None]:
    """Per run: state `end` minus state `start` (or minus submit when start is None)."""
    out: list[float | None] = []
    for r in runs:
        at = r["states"]
        out.append(at[end] - (at[start] if start else 0.0) if end in at and (start is None or start in at) else None)
    return out


def report(plat: list[dict[str, Any]], bare: list[dict[str, Any]], imports: dict[str, float], poll: float) -> str:
    """Markdown tables: both paths side by side, the state breakdown, and the flow body's own steps."""
    ms = f"{poll * 1000:.0f} ms poll"
    rows = [
        (f"submit → `running` observed ({ms})", [r.get("running") for r in plat],
         [r.get("running") for r in bare]),
        ("submit → Running (Prefect state time)", since(plat, None, "RUNNING"), since(bare, None, "RUNNING")),
        (f"submit → `completed` observed ({ms})", [r["completed"] for r in plat], [r["completed"] for r in bare]),
        ("submit → Completed (Prefect state time)", since(plat, None, "COMPLETED"),
         since(bare, None, "COMPLETED")),
        ("· submit → run created (Scheduled)", since(plat, None, "SCHEDULED"), since(bare, None, "SCHEDULED")),
        ("· Scheduled → Pending (worker poll, 1 s)", since(plat, "SCHEDULED", "PENDING"),
         since(bare, "SCHEDULED", "PENDING")),
        ("· Pending → Running (process start, imports)", since(plat, "PENDING", "RUNNING"),
         since(bare, "PENDING", "RUNNING")),
        ("· Running → Completed (flow body, engine)", since(plat, "RUNNING", "COMPLETED"),
         since(bare, "RUNNING", "COMPLETED")),
        ("· Completed → `completed` observed", [r["completed"] - r["states"]["COMPLETED"] for r in plat],
         [r["completed"] - r["states"]["COMPLETED"] for r in bare]),
        ("one status poll: request round trip (mean)", [r["poll"] for r in plat], [r["poll"] for r in bare]),
    ]
    w = max(len(r[0]) for r in rows)
    out = [f"{len(plat)} runs of each, interleaved; status polled every {poll * 1000:.0f} ms", "",
           f"| {'median (min–max)':<{w}} | {'generate job (API)':<27} | "
           f"{'bare flow (same pool)':<27} | {'difference':<10} |",
           f"|{'-' * (w + 2)}|{'-' * 29}|{'-' * 29}|{'-' * 12}|"]
    out += [f"| {label:<{w}} | {span(a):<27} | {span(b):<27} | {diff(a, b):<10} |" for label, a, b in rows]
    out += ["", "generate flow body, from its manifest (median (min–max)):", ""]
    out += [f"- {k}: {span([r['flow'][k] for r in plat]).strip()}" for k in plat[0]["flow"]]
    out += ["", "fresh interpreter + import (median of 3): "
            + ", ".join(f"`{m}` {s:.2f} s" for m, s in imports.items())]
    return "\n".join(out)


def side_by_side(results: dict[str, dict[str, Any]]) -> str:
    """One table: the medians of each worker mode next to each other."""
    def med(values: list[float | None]) -> str:
        seen = [v for v in values if v is not None]
        return f"{statistics.median(seen):.2f} s ({min(seen):.2f}–{max(seen):.2f})" if seen else "–"

    rows = [("generate job: submit → `running` observed", lambda r: [p.get("running") for p in r["plat"]]),
            ("generate job: submit → Running (state time)", lambda r: since(r["plat"], None, "RUNNING")),
            ("generate job: submit → `completed` observed", lambda r: [p["completed"] for p in r["plat"]]),
            ("generate job: train step (manifest)", lambda r: [p["flow"].get("train") for p in r["plat"]]),
            ("bare flow: submit → Completed (state time)", lambda r: since(r["bare"], None, "COMPLETED")),
            ("stream: request → first record", lambda r: r["streams"])]
    modes = list(results)
    out = [f"| median (min–max) | {' | '.join(f'{m} worker' for m in modes)} |",
           "|---|" + "---|" * len(modes)]
    out += [f"| {label} | {' | '.join(med(get(results[m])) for m in modes)} |" for label, get in rows]
    return "\n".join(out)


def main() -> None:
    """Start the platform, time both paths interleaved, print the tables, stop everything."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs of each path first")
    ap.add_argument("--poll", type=float, default=POLL, help="seconds between status polls")
    ap.add_argument("--streams", type=int, default=5, help="streams timed to their first record")
    ap.add_argument("--worker", choices=("warm", "cold", "both"), default="both",
                    help="zygote on (warm), off (cold: today's process worker), or each in turn")
    ap.add_argument("--json-out", help=argparse.SUPPRESS)  # used by --worker both
    args = ap.parse_args()
    if args.worker == "both":
        results = {}
        for mode in ("cold", "warm"):
            with tempfile.NamedTemporaryFile(suffix=".json") as out:
                cmd = [sys.executable, __file__, "--worker", mode, "--json-out", out.name, "--reps", str(args.reps),
                       "--warmup", str(args.warmup), "--poll", str(args.poll), "--streams", str(args.streams)]
                print(f"== {mode} worker ==", flush=True)
                subprocess.run(cmd, check=True)
                results[mode] = json.loads(Path(out.name).read_text())
        print("\n== side by side ==\n")
        print(side_by_side(results))
        return
    os.environ["INFERLOOP_WARM_WORKER"] = "true" if args.worker == "warm" else "false"

    work = Path(tempfile.mkdtemp(prefix="inferloop-latency-"))
    sys.path.insert(0, str(BENCH_DIR))
    from bench_platform import API_KEY, embedded_platform, isolated_settings

    settings = isolated_settings(work / "home")  # env applied before Prefect is imported
    ok = False
    try:
        t = time.perf_counter()
        with embedded_platform(settings) as base:
            import httpx
            from prefect import get_client

            with httpx.Client(base_url=base, headers={"X-API-Key": API_KEY}, timeout=60) as http, \
                    get_client(sync_client=True) as prefect:
                deployment_id, command = deploy_trivial(settings, prefect)
                up = http.post("/api/tabular/uploads", files={"file": ("tiny.csv", tiny_csv(), "text/csv")})
                data_url = up.raise_for_status().json()["data_url"]
                print(f"platform ready in {time.perf_counter() - t:.1f} s; pool {settings.work_pool!r}, "
                      f"command {command!r}", flush=True)
                plat, bare = [], []
                for i in range(args.warmup + args.reps):
                    p = platform_once(http, prefect, data_url, args.poll)
                    time.sleep(SETTLE)
                    b = bare_once(prefect, deployment_id, args.poll)
                    time.sleep(SETTLE)
                    tag = "warm-up" if i < args.warmup else f"{i - args.warmup + 1}/{args.reps}"
                    print(f"{tag}: job running {p.get('running', float('nan')):.2f} s, completed "
                          f"{p['completed']:.2f} s | bare running {b.get('running', float('nan')):.2f} s, "
                          f"completed {b['completed']:.2f} s", flush=True)
                    if i >= args.warmup:
                        plat.append(p)
                        bare.append(b)
                model_id = register_model(tiny_csv())
                first_record(http, model_id)  # warm-up
                streams = []
                for _ in range(args.streams):
                    time.sleep(SETTLE / 2)
                    streams.append(first_record(http, model_id))
                print("stream first record: " + ", ".join(f"{v:.2f} s" for v in streams), flush=True)
        load = os.getloadavg()
        imports = {m: import_seconds(m) for m in ("prefect", "flows.tabular.generate", "torch", "sdv.single_table")}
        print()
        print(report(plat, bare, imports, args.poll))
        print(f"stream: request → first record {span(streams).strip()}")
        print(f"load average at the end of the timed runs (1/5/15 min): {load[0]:.2f} / {load[1]:.2f} / "
              f"{load[2]:.2f} on {os.cpu_count()} CPUs")
        if args.json_out:
            Path(args.json_out).write_text(json.dumps({"plat": plat, "bare": bare, "streams": streams,
                                                       "load": load}))
        ok = True
    except KeyboardInterrupt:
        print("interrupted; platform stopped", file=sys.stderr)
        raise SystemExit(130)
    finally:
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work} (logs under home/logs)", file=sys.stderr)


if __name__ == "__main__":
    main()
