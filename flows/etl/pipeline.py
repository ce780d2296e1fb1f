"""Flow `etl_pipeline`: extract -> transform -> validate (Great Expectations) -> load, in chunks.

A pipeline of the ETL API is one Prefect deployment of this flow (`etl_pipeline/<pipeline_id>`) with its
parameters; it also runs as a plain Python call with inline connectors:

    etl_pipeline(source={"type": "postgresql", "configuration": {"host": "127.0.0.1", "database": "test"}},
                 target={"connector_id": "conn_..."}, table="orders", target_table="orders_copy")

Rows are staged as Parquet parts in the run's folder between steps (constant memory), validated before
anything reaches the target, and the target table is replaced in one transaction (or appended to). The
manifest (row counts per step, timings, validation results) is returned, written to manifest.json and shown
in the Prefect UI as artifacts.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from flows.outputs import run_outputs, write_result
from flows.progress import Progress
from inferloop.core import storage
from inferloop.core.errors import InferloopError
from inferloop.core.settings import get_settings
from tasks.etl import connectors, sqlguard, store
from tasks.etl import transform as transform_step
from tasks.etl import validate as validate_step
from tasks.etl.extract import extract
from tasks.etl.load import load


@flow(name="etl_pipeline", persist_result=True, log_prints=True)
def etl_pipeline(source: dict | str, target: dict | str, target_table: str, sql: str | None = None,
                 table: str | None = None, load_mode: str = "replace", transform: dict | None = None,
                 validations: list[dict] | None = None, on_validation_failure: str = "fail",
                 params: dict | None = None, chunk_rows: int | None = None, pipeline_id: str | None = None,
                 run_id: str | None = None) -> dict:
    """Move the rows of `sql` (or all of `table`) from source to target_table, checked on the way."""
    if pipeline_id and not run_id and flow_run.id:  # a scheduled run: it becomes a job (webhooks, listing)
        run_id = store.ensure_run_job(str(flow_run.id), pipeline_id)
    with run_outputs() as out:
        return _run(out, source, target, target_table, sql, table, load_mode, transform, validations,
                    on_validation_failure, params, chunk_rows, pipeline_id, run_id)


def _run(out, source, target, target_table, sql, table, load_mode, transform, validations, on_failure, params,
         chunk_rows, pipeline_id, run_id) -> dict:
    settings = get_settings()
    started_at = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    chunk = int(chunk_rows or settings.etl_chunk_rows)
    owner = store.get_pipeline(pipeline_id, None).owner if pipeline_id else None
    src = store.resolve(source, owner, settings)
    dst = store.resolve(target, owner, settings)
    connectors.check_ident(target_table, "target_table")
    if load_mode not in connectors.LOAD_MODES:
        raise InferloopError("INVALID_REQUEST", f"load_mode must be one of {', '.join(connectors.LOAD_MODES)}",
                             "load_mode")
    if on_failure not in validate_step.ON_FAILURE:
        raise InferloopError("INVALID_REQUEST", "on_validation_failure must be fail or warn", "on_validation_failure")
    spec = transform_step.check(transform)
    expectations = validate_step.check(validations)
    if sql:  # checked again at run time: the source's schema may have changed since the pipeline was made
        query = sqlguard.checked_select(sql, src.dialect, src.sqlglot_schema(), src.label, params=params or {})
    elif table:
        src.columns(table)
        query = src.select_sql(table)
    else:
        raise InferloopError("INVALID_REQUEST", "give the pipeline a sql query or a source table", "sql")

    validate_step.preload(expectations)  # overlaps the slow import with the extract
    progress = Progress("etl_pipeline")
    progress.set(2, f"extracting from {src.label}", force=True)
    ex = extract(src, query, f"{out}/stage/extract", chunk,
                 report=lambda n: progress.set(min(38.0, 2 + n / 50_000), f"extracted {n} rows"))
    progress.set(40, f"extracted {ex['rows']} rows", force=True)
    tr = transform_step.transform(ex["parts"], spec, f"{out}/stage/transform", chunk)
    progress.set(50, f"transformed: {tr['rows']} rows", force=True)
    va = validate_step.validate(tr["parts"], expectations, tr["rows"], chunk)
    progress.set(60, f"validation {va['status']}", force=True)
    _artifacts(pipeline_id, ex, tr, va, None)
    if va["status"] == "failed" and on_failure == "fail":
        names = "; ".join(f"{f['expectation']}({f.get('column') or ''}): {f.get('unexpected_count')} unexpected"
                          for f in va["failed"])
        raise InferloopError("DATA_VALIDATION_FAILED", f"data validation failed, nothing was loaded: {names}",
                             "validations", status=422, extra={"validation": _short(va)})
    total = max(1, tr["rows"])
    ld = load(dst, tr["parts"], target_table, load_mode, chunk,
              report=lambda n: progress.set(60 + 39 * n / total, f"loaded {n} rows"))
    _artifacts(pipeline_id, ex, tr, va, ld)
    storage.remove(f"{out}/stage")
    seconds = time.perf_counter() - t0
    manifest = {
        "pipeline_id": pipeline_id, "run_id": run_id, "flow_run_id": str(flow_run.id) if flow_run.id else None,
        "source": src.label, "target": dst.label, "target_table": target_table, "load_mode": load_mode,
        "sql": query, "rows": {"extracted": ex["rows"], "transformed": tr["rows"], "validated": tr["rows"],
                               "loaded": ld["rows"]},
        "columns": tr.get("columns") or ex["columns"], "validation": _short(va),
        "timings": {"extract": ex["seconds"], "transform": tr["seconds"], "validate": va["seconds"],
                    "load": ld["seconds"], "total": round(seconds, 3)},
        "rows_per_second": round(ld["rows"] / seconds, 1) if seconds > 0 else None,
        "load_warnings": ld["warnings"], "chunk_rows": chunk,
        "started_at": started_at.isoformat(), "finished_at": datetime.now(timezone.utc).isoformat(),
    }
    write_result(out, manifest, "manifest.json")
    progress.set(100, "done", force=True)
    return manifest


def _short(va: dict) -> dict:
    return {k: va[k] for k in ("status", "evaluated", "successful", "failed", "engine") if k in va}


def _artifacts(pipeline_id, ex, tr, va, ld) -> None:
    """Row counts per step and the validation results, visible in the Prefect UI."""
    key = f"etl-{(pipeline_id or 'adhoc').replace('_', '-').lower()}"
    rows = [{"step": "extract", "rows": ex["rows"], "seconds": ex["seconds"]},
            {"step": "transform", "rows": tr["rows"], "seconds": tr["seconds"]},
            {"step": "validate", "rows": tr["rows"], "seconds": va["seconds"], "status": va["status"]}]
    if ld is not None:
        rows.append({"step": "load", "rows": ld["rows"], "seconds": ld["seconds"], "table": ld["table"]})
    try:
        create_table_artifact(table=rows, key=f"{key}-rows", description="ETL row counts per step")
        if ld is None:
            lines = [f"| {r['expectation']} | {r.get('column') or ''} | {'✅' if r['success'] else '❌'} | "
                     f"{r.get('unexpected_count')} |" for r in va.get("results", [])]
            create_markdown_artifact(
                key=f"{key}-validation", description="Great Expectations results",
                markdown="### Validation: " + va["status"] + "\n\n| expectation | column | ok | unexpected |\n"
                         "|---|---|---|---|\n" + "\n".join(lines))
    except Exception as exc:  # artifacts never break the run
        print(f"artifacts unavailable: {exc!r}")
