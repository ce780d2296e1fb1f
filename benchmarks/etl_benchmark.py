"""ETL throughput: PostgreSQL -> MariaDB, N rows (default 1,000,000), three ways, each in its own process:

  etl_pipeline   the flow's tasks (extract: ADBC COPY into Arrow -> Parquet stage; transform (none);
                 validate: Great Expectations on every chunk; load: LOAD DATA LOCAL INFILE per chunk)
  pandas         a plain script: pd.read_sql (whole table) + DataFrame.to_sql(chunksize=10000)
  pandas_chunks  the same, chunked: pd.read_sql(chunksize=100000) + to_sql per chunk
  dlt            dlt 1.x sql_database (pyarrow backend) -> sqlalchemy destination (MariaDB), when
                 benchmarks/.env/dlt exists (python -m venv benchmarks/.env/dlt &&
                 benchmarks/.env/dlt/bin/pip install "dlt[sql_database,sqlalchemy]" pymysql psycopg2-binary)

Prints rows/s and peak RSS (ru_maxrss of each method's process) and the machine load before and after.
Usage: PYTHONPATH=. python benchmarks/etl_benchmark.py [--rows 1000000] [--methods etl_pipeline,pandas,...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = "postgresql://postgres@127.0.0.1:5432/test"
MY = {"host": "127.0.0.1", "port": 3306, "user": "root"}
SCHEMA, DATABASE, TABLE = "etl_bench", "etl_bench", "orders"
DLT_PY = ROOT / "benchmarks" / ".env" / "dlt" / "bin" / "python"


def prepare(rows: int) -> None:
    import psycopg
    import pymysql

    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
        conn.execute(
            f"CREATE TABLE {SCHEMA}.{TABLE} AS SELECT g::bigint AS id, (g % 50000)::int AS customer_id, "
            "(ARRAY['paid','open','shipped','refunded'])[1 + g % 4] AS status, "
            "round((g % 10000) * 1.37, 2)::numeric(12,2) AS amount, "
            "timestamptz '2024-01-01' + (g || ' seconds')::interval AS created_at, "
            "CASE WHEN g % 10 = 0 THEN NULL ELSE 'note ' || md5(g::text) END AS note "
            f"FROM generate_series(1, {rows}) g")
        conn.execute(f"ALTER TABLE {SCHEMA}.{TABLE} ADD PRIMARY KEY (id)")
        conn.execute(f"ANALYZE {SCHEMA}.{TABLE}")
    conn = pymysql.connect(**MY, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        cur.execute(f"CREATE DATABASE {DATABASE}")
    conn.close()


def target_count(table: str, database: str = DATABASE) -> int:
    import pymysql

    conn = pymysql.connect(**MY, database=database)
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM `{table}`")
        n = cur.fetchone()[0]
    conn.close()
    return n


# --- the methods (each runs in a fresh process) ------------------------------------------------------------

def run_etl_pipeline() -> dict:
    os.environ.setdefault("INFERLOOP_HOME", tempfile.mkdtemp(prefix="etl-bench-"))
    from tasks.etl import connectors as conns
    from tasks.etl import transform as tf
    from tasks.etl import validate as va
    from tasks.etl.extract import extract
    from tasks.etl.load import load

    src = conns.make("postgresql", *conns.normalize_config("postgresql", {"host": "127.0.0.1", "database": "test",
                                                                          "schema": SCHEMA}, {}))
    dst = conns.make("mysql", *conns.normalize_config("mysql", {"host": "127.0.0.1", "database": DATABASE}, {}))
    out = os.environ["INFERLOOP_HOME"] + "/run"
    chunk = 100_000
    t0 = time.perf_counter()
    columns = [c.name for c in src.columns(TABLE)]
    exps = va.check([{"expectation": "columns_exist", "columns": columns},  # what the API derives by default
                     {"expectation": "not_null", "column": "id"}])
    va.preload(exps)  # as the flow does
    ex = extract.fn(src, src.select_sql(TABLE), f"{out}/extract", chunk)
    tr = tf.transform.fn(ex["parts"], None, f"{out}/transform", chunk)
    v = va.validate.fn(tr["parts"], exps, tr["rows"], chunk)
    ld = load.fn(dst, tr["parts"], "orders_etl", "replace", chunk)
    seconds = time.perf_counter() - t0
    assert v["status"] == "passed"
    return {"rows": ld["rows"], "seconds": seconds, "table": "orders_etl",
            "steps": {"extract": ex["seconds"], "validate": v["seconds"], "load": ld["seconds"]}}


def _engines():
    import sqlalchemy as sa

    return (sa.create_engine(PG.replace("postgresql://", "postgresql+psycopg://")),
            sa.create_engine(f"mysql+pymysql://root@127.0.0.1:3306/{DATABASE}"))


def run_pandas() -> dict:
    import pandas as pd

    pg, my = _engines()
    t0 = time.perf_counter()
    df = pd.read_sql(f"SELECT * FROM {SCHEMA}.{TABLE}", pg)
    df.to_sql("orders_pandas", my, if_exists="replace", index=False, chunksize=10_000)
    return {"rows": len(df), "seconds": time.perf_counter() - t0, "table": "orders_pandas"}


def run_pandas_chunks() -> dict:
    import pandas as pd

    pg, my = _engines()
    t0 = time.perf_counter()
    n = 0
    with pg.connect().execution_options(stream_results=True) as conn:
        for i, df in enumerate(pd.read_sql(f"SELECT * FROM {SCHEMA}.{TABLE}", conn, chunksize=100_000)):
            df.to_sql("orders_pandas_chunks", my, if_exists="replace" if i == 0 else "append", index=False,
                      chunksize=10_000)
            n += len(df)
    return {"rows": n, "seconds": time.perf_counter() - t0, "table": "orders_pandas_chunks"}


DLT_SCRIPT = """
import os, time, json, resource, tempfile
os.environ["DLT_DATA_DIR"] = tempfile.mkdtemp(prefix="dlt-bench-")
os.environ["RUNTIME__LOG_LEVEL"] = "WARNING"
import dlt
from dlt.sources.sql_database import sql_database
t0 = time.perf_counter()
src = sql_database("postgresql+psycopg2://postgres@127.0.0.1:5432/test", schema="%(schema)s",
                   table_names=["%(table)s"], backend="pyarrow", chunk_size=100000)
p = dlt.pipeline(pipeline_name="bench", destination=dlt.destinations.sqlalchemy(
    "mysql+pymysql://root@127.0.0.1:3306/%(database)s"), dataset_name="dlt_data", pipelines_dir=os.environ["DLT_DATA_DIR"])
info = p.run(src, write_disposition="replace")
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_dlt() -> dict:
    if not DLT_PY.exists():
        return {"skipped": f"dlt is not installed in {DLT_PY.parent.parent}"}
    script = DLT_SCRIPT % {"schema": SCHEMA, "table": TABLE, "database": DATABASE}
    r = subprocess.run([str(DLT_PY), "-c", script], capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        return {"skipped": f"dlt failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}"}
    out = json.loads(r.stdout.strip().splitlines()[-1])
    # dlt writes into the dataset's schema: with MariaDB (no schemas) that is a database named like the dataset
    out.update(rows=target_count(TABLE, "dlt_data"), table="dlt_data.orders")
    return out


METHODS = {"etl_pipeline": run_etl_pipeline, "pandas": run_pandas, "pandas_chunks": run_pandas_chunks,
           "dlt": run_dlt}


def child(method: str) -> None:
    result = METHODS[method]()
    if "peak_rss_mb" not in result and "skipped" not in result:
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result))


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--methods", default="etl_pipeline,pandas,pandas_chunks,dlt")
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    print(f"machine: {os.cpu_count()} cores, load average before: {loadavg()}")
    t = time.perf_counter()
    prepare(args.rows)
    print(f"prepared {args.rows} rows in PostgreSQL in {time.perf_counter() - t:.1f} s")
    results = {}
    for method in args.methods.split(","):
        if method == "dlt":
            r = run_dlt()
            if "skipped" not in r:
                r["peak_rss_mb"] = r.get("peak_rss_mb")
        else:
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            proc = subprocess.run([sys.executable, __file__, "--child", method], capture_output=True, text=True,
                                  env=env, cwd=ROOT, timeout=7200)
            line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
            r = json.loads(line[-1][7:]) if line else {"skipped": f"failed: {proc.stderr.strip()[-500:]}"}
            if "skipped" not in r:
                r["rows_in_target"] = target_count(r["table"])
        results[method] = r
        if "skipped" in r:
            print(f"{method:14s} skipped: {r['skipped']}")
        else:
            print(f"{method:14s} {r['rows']:>9,} rows in {r['seconds']:7.1f} s = {r['rows'] / r['seconds']:>9,.0f} "
                  f"rows/s, peak RSS {r['peak_rss_mb']:.0f} MiB" + (f"  steps {r['steps']}" if "steps" in r else ""))
    base = results.get("pandas")
    ours = results.get("etl_pipeline")
    if base and ours and "skipped" not in base and "skipped" not in ours:
        print(f"etl_pipeline vs pandas: {base['seconds'] / ours['seconds']:.2f}x faster")
    print(f"load average after: {loadavg()}")


if __name__ == "__main__":
    main()
