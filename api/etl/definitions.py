"""An ETL pipeline's definition: the checks that run before anything is created (connectors, SQL against the
real schema, transform, expectations), its views (definition, code, DAG), and the owner's pipeline with its
Prefect deployment. Used by the pipeline and run routers."""


from __future__ import annotations

import re
from typing import Any

import sqlglot.expressions as exp
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.etl import service as etl_service
from api.etl.deps import iso
from inferloop.core import db
from inferloop.core.errors import InferloopError
from inferloop.core.settings import Settings
from tasks.etl import connectors as conns
from tasks.etl import sqlguard, store
from tasks.etl import transform as transform_step
from tasks.etl import validate as validate_step

ENVIRONMENT = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,31}$")
SAMPLE_ROWS = 100


# --- the pipeline's definition ---------------------------------------------------------------------------

class Definition(BaseModel):
    """What a pipeline runs (the deployment's parameters, as the API shows them)."""

    source: str
    target: str
    sql: str | None = None
    table: str | None = None
    target_table: str
    load_mode: str = "replace"
    transform: dict | None = None
    validations: list[dict] | None = None
    on_validation_failure: str = "fail"
    chunk_rows: int | None = None


def check_definition(owner: str, d: Definition, settings: Settings, *, sample: bool = True,
                     optimize: bool = False) -> tuple[dict, list[str], list[str]]:
    """(deployment parameters, warnings, output columns) after every check; 400 on the first problem."""
    src_row = store.get_connector(d.source, owner)
    dst_row = store.get_connector(d.target, owner)
    if src_row.role == "target":
        raise InferloopError("INVALID_REQUEST", f"connector {src_row.id} is configured as a target only", "source")
    if dst_row.role == "source":
        raise InferloopError("INVALID_REQUEST", f"connector {dst_row.id} is configured as a source only", "target")
    conns.check_ident(d.target_table, "target_table")
    if d.load_mode not in conns.LOAD_MODES:
        raise InferloopError("INVALID_REQUEST", f"load_mode must be one of {', '.join(conns.LOAD_MODES)}",
                             "load_mode")
    if dst_row.type in ("csv", "parquet") and d.load_mode != "replace":
        raise InferloopError("INVALID_REQUEST", "file targets are rewritten on every run: load_mode must be "
                             "'replace'", "load_mode")
    if d.on_validation_failure not in validate_step.ON_FAILURE:
        raise InferloopError("INVALID_REQUEST", "on_validation_failure must be 'fail' or 'warn'",
                             "on_validation_failure")
    if d.chunk_rows is not None and not 1_000 <= d.chunk_rows <= 1_000_000:
        raise InferloopError("INVALID_REQUEST", "chunk_rows must be between 1000 and 1000000", "chunk_rows")
    if src_row.id == dst_row.id and d.table == d.target_table:
        raise InferloopError("INVALID_REQUEST", "the target table is the source table", "target_table")
    spec = transform_step.check(d.transform)
    expectations = validate_step.check(d.validations)
    src = store.connector_of(src_row, settings)
    if bool(d.sql) == bool(d.table):
        raise InferloopError("INVALID_REQUEST", "give either sql (one SELECT) or table", "sql")
    if d.sql:
        sql = sqlguard.checked_select(d.sql, src.dialect, src.sqlglot_schema(), src.label)
    else:
        src.columns(d.table)
        sql = None
    warnings: list[str] = []
    columns: list[str] = []
    if sample:
        columns = sample_columns(src, sql or src.select_sql(d.table), spec, warnings)
    if not expectations and columns:
        expectations = [{"expectation": "columns_exist", "columns": columns}]
        if "id" in columns:
            expectations.append({"expectation": "not_null", "column": "id"})
    chunk = d.chunk_rows
    if optimize and chunk is None and columns:
        chunk = max(10_000, min(250_000, 2_000_000 // max(1, len(columns))))
        warnings.append(f"optimize: {chunk} rows per chunk for {len(columns)} column(s)")
    params = {"source": {"connector_id": src_row.id}, "target": {"connector_id": dst_row.id}, "sql": sql,
              "table": d.table if not sql else None, "target_table": d.target_table, "load_mode": d.load_mode,
              "transform": spec, "validations": expectations, "on_validation_failure": d.on_validation_failure,
              "chunk_rows": chunk}
    return params, warnings, columns


def sample_columns(src: conns.Connector, sql: str, spec: dict | None, warnings: list[str]) -> list[str]:
    """Run the query on a sample (placeholders as NULL) and the transform on it: the output columns."""
    import polars as pl
    import sqlglot

    tree = sqlglot.parse_one(sql, read=src.dialect)
    tree = tree.transform(lambda n: exp.Null() if isinstance(n, exp.Placeholder) else n)
    sample_sql = exp.select("*").from_(tree.subquery("etl_sample")).limit(SAMPLE_ROWS).sql(src.dialect)
    data = src.read_table(sample_sql, SAMPLE_ROWS)
    frame = pl.from_arrow(data) if data.num_columns else pl.DataFrame()
    if frame.height == 0:
        warnings.append("the source query returned no rows in a sample")
    out = transform_step.dry_run(frame, spec)
    return out.columns


def pipeline_view(row: store.EtlPipeline, dep) -> dict:
    params = dict(dep.parameters or {}) if dep is not None else {}
    schedules = [etl_service.schedule_view(s) for s in (dep.schedules or [])] if dep is not None else []
    schedule = schedules[0] if schedules else None
    if row.deployed_at is None:
        status = "draft"
    else:
        status = "paused" if schedule is not None and not schedule["active"] else "deployed"
    return {
        "pipeline_id": row.id, "name": row.name, "description": row.description, "project_id": row.project_id,
        "status": status, "environment": row.environment,
        "source": (params.get("source") or {}).get("connector_id"),
        "target": (params.get("target") or {}).get("connector_id"),
        "sql": params.get("sql"), "table": params.get("table"), "target_table": params.get("target_table"),
        "load_mode": params.get("load_mode"), "transform": params.get("transform"),
        "validations": params.get("validations"), "on_validation_failure": params.get("on_validation_failure"),
        "chunk_rows": params.get("chunk_rows"), "schedule": schedule,
        "deployment": {"id": row.deployment_id, "name": etl_service.deployment_name(row.id),
                       "paused": bool(dep.paused) if dep is not None else None} if row.deployment_id else None,
        "created_at": iso(row.created_at), "updated_at": iso(row.updated_at), "deployed_at": iso(row.deployed_at),
    }


def code_for(params: dict) -> str:
    """Python that runs the same pipeline as a plain flow call."""
    args = {k: v for k, v in params.items() if v is not None and k != "pipeline_id"}
    lines = [f"    {k}={v!r}," for k, v in args.items()]
    return ("from flows.etl.pipeline import etl_pipeline\n\n"
            "# extract -> transform -> validate (Great Expectations) -> load, in chunks\n"
            "manifest = etl_pipeline(\n" + "\n".join(lines) + "\n)\nprint(manifest[\"rows\"])\n")


def dag_for(pipeline_id: str, params: dict, cron: str | None) -> dict:
    return {
        "flow": etl_service.FLOW, "deployment": etl_service.deployment_name(pipeline_id),
        "entrypoint": "flows/etl/pipeline.py:etl_pipeline",
        "tasks": [
            {"id": "extract", "connector": params["source"]["connector_id"],
             "query": params.get("sql") or f"SELECT * FROM {params.get('table')}", "depends_on": []},
            {"id": "transform", "spec": params.get("transform"), "depends_on": ["extract"]},
            {"id": "validate", "engine": "great_expectations", "expectations": params.get("validations") or [],
             "on_failure": params.get("on_validation_failure"), "depends_on": ["transform"]},
            {"id": "load", "connector": params["target"]["connector_id"], "table": params["target_table"],
             "mode": params["load_mode"], "depends_on": ["validate"]},
        ],
        "schedule": {"cron": cron, "timezone": etl_service.TIMEZONE} if cron else None,
    }


async def create_pipeline(owner: str, name: str, description: str, params: dict, cron: str | None,
                          project_id: str | None) -> tuple[store.EtlPipeline, Any]:
    pid = store.new_id("pipe")
    params = {**params, "pipeline_id": pid}
    dep_id = await etl_service.create(pid, params, description, [f"owner:{owner}"], cron=cron, active=False)
    row = store.EtlPipeline(id=pid, owner=owner, name=name[:256], description=description[:2000],
                            project_id=project_id, deployment_id=dep_id,
                            source_connector_id=params["source"]["connector_id"],
                            target_connector_id=params["target"]["connector_id"], created_at=db.utcnow(),
                            updated_at=db.utcnow())
    try:
        await run_in_threadpool(store.add_pipeline, row)
    except Exception:
        await etl_service.delete(dep_id)
        raise
    return row, await etl_service.read(dep_id)


async def owned_pipeline(pipeline_id: str, owner: str) -> tuple[store.EtlPipeline, Any]:
    row = await run_in_threadpool(store.get_pipeline, pipeline_id, owner)
    return row, await etl_service.read(row.deployment_id)
