"""Context corpus generation at 1M records over 3 related entities: records/s, peak memory, SQL load time.

The entities are the retail shop of the offline analyzer (customers -> orders -> order_items, with the
rules "an order's total is the sum of its lines", "a line's total is quantity x unit price" and "ship date
after order date"), from the context below. Three measurements:

1. engine: the vectorised generator alone, in a fresh subprocess: 1M records in batches of `--batch-size`,
   each batch generated, checked rule by rule on every row and written as Parquet, then keys checked
   across all batches (what a corpus flow does, without Prefect); records/s and the process's peak RSS;
2. platform: the same corpus through the API of an embedded platform (Prefect server, process work pool,
   worker): POST /api/v1/generate/corpus, polled to the end; records/s as the flow measured it (parent
   run: plan, batch child runs, cross-batch key check) and submit->completed wall time; the flow run
   process's peak RSS (it records it in its manifest);
3. SQL: POST /api/v1/jobs/{id}/export (postgresql) time and size, and the time `psql -f` takes to load the
   script into PostgreSQL 127.0.0.1:5432 db `test` (a throw-away schema), with a row count check; the same
   for MariaDB 127.0.0.1:3306 (`mysql` client) when it is there.

Run from the checkout with the project's environment:

    PYTHONPATH=. "$(scripts/setup.sh)"/bin/python benchmarks/context_benchmark.py   # --records 1000000 --batch-size 250000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONTEXT = ("Online store with customers, their orders and order lines. The order total is the sum of its lines. "
           "Ship date after order date. Each order has 1 to 4 lines.")

ENGINE = r"""
import json, resource, sys, tempfile, time
import polars as pl
from tasks.context.analyzer import LexiconAnalyzer
from tasks.context.generate import generate_tables
from tasks.context.plan import plan_corpus
from tasks.context.validate import batch_report, corpus_integrity
records, batch_size, context = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
out = tempfile.mkdtemp()
t0 = time.perf_counter()
spec = LexiconAnalyzer().analyze(context)["spec"]
plan = plan_corpus(spec, records, batch_size, batch_size, 1000)
parts = {}
for b, (counts, offsets) in enumerate(zip(plan["batches"], plan["offsets"])):
    frames = generate_tables(spec, counts, offsets, plan["totals"], 42, b)
    assert batch_report(spec, frames, keys=False)["valid"]
    for name, df in frames.items():
        path = f"{out}/{name}-{b}.parquet"
        df.write_parquet(path, compression="lz4")
        parts.setdefault(name, []).append(path)
assert corpus_integrity(spec, parts)["valid"]
dt = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_SELF)
cpu = ru.ru_utime + ru.ru_stime
print(json.dumps({"records": records, "totals": plan["totals"], "batches": len(plan["batches"]), "seconds": round(dt, 2),
                  "records_per_second": round(records / dt), "cpu_seconds": round(cpu, 2),
                  "records_per_cpu_second": round(records / cpu),
                  "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""


def load_avg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def engine(records: int, batch_size: int) -> dict:
    done = subprocess.run([sys.executable, "-c", ENGINE, str(records), str(batch_size), CONTEXT], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def load_postgresql(script: Path, records: dict) -> dict:
    if shutil.which("psql") is None:
        return {"skipped": "psql is not installed"}
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    base = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-v", "ON_ERROR_STOP=1", "-q"]
    ok = subprocess.run([*base, "-c", f'CREATE SCHEMA "{schema}"'], capture_output=True, text=True)
    if ok.returncode != 0:
        return {"skipped": f"PostgreSQL not reachable: {ok.stderr.strip()}"}
    try:
        t = time.perf_counter()
        run = subprocess.run([*base, "-f", str(script)], capture_output=True, text=True,
                             env={**os.environ, "PGOPTIONS": f"-c search_path={schema}"})
        seconds = time.perf_counter() - t
        if run.returncode != 0:
            raise RuntimeError(run.stderr[-2000:])
        counts = {}
        for table in records:
            q = subprocess.run([*base, "-At", "-c", f'select count(*) from "{schema}"."{table}"'], capture_output=True,
                               text=True)
            counts[table] = int(q.stdout.strip())
        assert counts == records, (counts, records)
        return {"load_seconds": round(seconds, 2), "rows_per_second": round(sum(records.values()) / seconds)}
    finally:
        subprocess.run([*base, "-c", f'DROP SCHEMA "{schema}" CASCADE'], capture_output=True)


def load_mysql(script: Path, records: dict) -> dict:
    if shutil.which("mysql") is None:
        return {"skipped": "the mysql client is not installed"}
    db = f"bench_{uuid.uuid4().hex[:8]}"
    base = ["mysql", "-h", "127.0.0.1", "-u", "root", "--default-character-set=utf8mb4"]
    ok = subprocess.run([*base, "-e", f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4"], capture_output=True, text=True)
    if ok.returncode != 0:
        return {"skipped": f"MariaDB not reachable: {ok.stderr.strip()}"}
    try:
        t = time.perf_counter()
        with open(script, "rb") as f:
            run = subprocess.run([*base, db], stdin=f, capture_output=True)
        seconds = time.perf_counter() - t
        if run.returncode != 0:
            raise RuntimeError(run.stderr[-2000:])
        q = subprocess.run([*base, "-N", "-e", f"select count(*) from `{db}`.`order_items`"], capture_output=True,
                           text=True)
        assert int(q.stdout.strip()) == records["order_items"]
        return {"load_seconds": round(seconds, 2), "rows_per_second": round(sum(records.values()) / seconds)}
    finally:
        subprocess.run([*base, "-e", f"DROP DATABASE `{db}`"], capture_output=True)


def platform(records: int, batch_size: int) -> dict:
    import httpx

    from bench_platform import API_KEY, embedded_platform, isolated_settings

    home = Path(tempfile.mkdtemp(prefix="inferloop-context-bench-"))
    settings = isolated_settings(home)
    out: dict = {}
    h = {"X-API-Key": API_KEY}
    try:
        with embedded_platform(settings) as api:
            client = httpx.Client(base_url=f"{api}/api/v1", headers=h, timeout=1800)
            warm = client.post("/generate/corpus", json={"context": CONTEXT, "corpus_size": 1000, "seed": 1})
            _wait(client, warm.json()["job_id"])  # a first run pays the worker's imports once
            t = time.perf_counter()
            r = client.post("/generate/corpus", json={"context": CONTEXT, "corpus_size": records,
                                                      "batch_size": batch_size, "seed": 42})
            r.raise_for_status()
            job_id = r.json()["job_id"]
            _wait(client, job_id)
            wall = time.perf_counter() - t
            job = client.get(f"/jobs/{job_id}").json()
            res = job["result"]
            out["platform"] = {"records": records, "batches": res["batches"], "flow_seconds": res["generation_time_ms"] / 1000,
                               "records_per_second_flow": res["rows_per_second"],
                               "submit_to_completed_seconds": round(wall, 2),
                               "records_per_second_wall": round(records / wall),
                               "flow_peak_rss_mib": res["peak_rss_mb"], "flow_cpu_seconds": res["cpu_seconds"],
                               "records_per_cpu_second_flow": round(records / res["cpu_seconds"])}
            t = time.perf_counter()
            e = client.post(f"/jobs/{job_id}/export", json={"format": "sql", "options": {"sql_dialect": "postgresql"}})
            e.raise_for_status()
            export_seconds = time.perf_counter() - t
            exports = client.get(f"/jobs/{job_id}").json()["result"]["exports"]["sql-postgresql"]
            script = _export_file(job_id, "sql-postgresql")
            out["sql_postgresql"] = {"export_seconds": round(export_seconds, 2),
                                     "script_mib": round(script.stat().st_size / 2**20, 1),
                                     **load_postgresql(script, {k: v["rows"] for k, v in exports["files"].items()
                                                                if k != "_all"})}
            e = client.post(f"/jobs/{job_id}/export", json={"format": "sql", "options": {"sql_dialect": "mysql"}})
            e.raise_for_status()
            my = client.get(f"/jobs/{job_id}").json()["result"]["exports"]["sql-mysql"]
            out["sql_mysql"] = load_mysql(_export_file(job_id, "sql-mysql"),
                                          {k: v["rows"] for k, v in my["files"].items() if k != "_all"})
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return out


def _wait(client, job_id: str, timeout: float = 1800) -> None:
    end = time.monotonic() + timeout
    while True:
        s = client.get(f"/jobs/{job_id}/status").json()
        if s["status"] == "completed":
            return
        if s["status"] == "failed":
            raise RuntimeError(client.get(f"/jobs/{job_id}").json())
        if time.monotonic() > end:
            raise TimeoutError(s)
        time.sleep(0.25)


def _export_file(job_id: str, key: str) -> Path:
    """The combined script of an export (same machine: read where the export run wrote it)."""
    from inferloop.core import db

    with db.session_scope() as s:
        job = s.get(db.Job, job_id)
        uri = job.options["exports"][key]["files"]["_all"]["uri"]
    return Path(uri)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--batch-size", type=int, default=250_000)
    ap.add_argument("--skip-platform", action="store_true")
    args = ap.parse_args()
    result = {"machine": {"cores": os.cpu_count(), "load_before": load_avg()}}
    result["engine"] = engine(args.records, args.batch_size)
    if not args.skip_platform:
        result.update(platform(args.records, args.batch_size))
    result["machine"]["load_after"] = load_avg()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
