"""The ETL pipeline API (etl-api.md, prefix /api/v1): pipelines as Prefect deployments of `etl_pipeline`.

    POST   /pipelines:generate                   a pipeline from a description (deterministic parser, offline)
    POST   /pipelines                            configure one explicitly (source, target, sql or table, ...)
    GET    /pipelines                            page/per_page with X-Total-Count, X-Page, X-Per-Page, Link
    GET    /pipelines/{id}        PATCH /pipelines/{id}        DELETE /pipelines/{id}
    POST   /pipelines/{id}:deploy                environment + cron -> a real Prefect schedule (active)
    POST   /pipelines/{id}:pause | :resume       the schedule's active flag
    DELETE /pipelines/{id}/schedule              remove the schedule
    POST   /pipelines/{id}:run                   a flow run (async, or waited for)
    GET    /pipelines/{id}/status                the latest (or ?run_id=) run: Prefect state, task, progress
    GET    /pipelines/{id}/runs                  the pipeline's runs, newest first

Errors answer in etl-api.md's envelope (api.errors, module prefix api.routers.etl). Every check (connectors,
SQL against the real schema, transform, expectations, cron) runs before anything is created.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Literal

import sqlglot.expressions as exp
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api import dispatch, job_kinds
from api.deps import SettingsDep
from api.jobs import failure_error, read_manifest
from api.routers import etl_auth, etl_connectors, etl_data, etl_ops, etl_service
from api.routers.etl_data import Schemas, understand
from api.routers.etl_deps import EtlOwner, PageDep, iso, paginate
from inferloop import db, webhooks
from inferloop.errors import InferloopError, not_found
from inferloop.settings import Settings
from tasks.etl import connectors as conns
from tasks.etl import nl, sqlguard, store
from tasks.etl import transform as transform_step
from tasks.etl import validate as validate_step

router = APIRouter(tags=["etl: pipelines"])

EVENTS = ("pipeline.completed", "pipeline.failed")
RUN_STATUS = {"pending": "pending", "running": "running", "completed": "success", "failed": "failed",
              "cancelled": "cancelled"}
CURRENT_TASK = {"extract": "extracting_data", "transform": "transforming_data", "validate": "validating_data",
                "load": "loading_data"}
ENVIRONMENT = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,31}$")
SAMPLE_ROWS = 100


def etl_router() -> APIRouter:
    """Every ETL route, included once in api/v1.py."""
    r = APIRouter()
    for sub in (etl_auth.router, router, etl_connectors.router, etl_data.router, etl_ops.router):
        r.include_router(sub)
    return r


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
    return ("from flows.etl_pipeline import etl_pipeline\n\n"
            "# extract -> transform -> validate (Great Expectations) -> load, in chunks\n"
            "manifest = etl_pipeline(\n" + "\n".join(lines) + "\n)\nprint(manifest[\"rows\"])\n")


def dag_for(pipeline_id: str, params: dict, cron: str | None) -> dict:
    return {
        "flow": etl_service.FLOW, "deployment": etl_service.deployment_name(pipeline_id),
        "entrypoint": "flows/etl_pipeline.py:etl_pipeline",
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


# --- generate / configure ---------------------------------------------------------------------------------

class GenerateOptions(BaseModel):
    optimize: bool = False
    validate_: bool = Field(True, alias="validate", description="run the query and transform on a sample first")


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = Field(max_length=2000)
    project_id: str | None = Field(None, max_length=64)
    options: GenerateOptions = Field(default_factory=GenerateOptions)
    source: str | None = Field(None, description="connector id, when the description does not name one")
    target: str | None = Field(None, description="connector id, when the description does not name one")


def plan_from_description(owner: str, body: GenerateRequest, settings: Settings) -> tuple[nl.Understood, Definition]:
    s = Schemas(owner, settings)
    infos = {i.id: i for i in s.infos()}
    for field, ref in (("source", body.source), ("target", body.target)):
        if ref and ref not in infos:
            raise not_found("connector", ref)
    u = understand(body.description, s, allow_target=True, field="description",
                   default_source=infos.get(body.source) if body.source else None)
    target = u.target or (infos.get(body.target) if body.target else None)
    if target is None:
        raise InferloopError("INVALID_REQUEST", "say where the data goes: 'to <connector id, name or type>'",
                             "description")
    main = u.plan.tables[0] if u.plan.tables else "data"
    target_table = u.plan.target_table or (f"{main}_summary" if u.plan.aggregates else main)
    d = Definition(source=u.source.id, target=target.id, sql=u.sql, target_table=target_table,
                   load_mode=u.plan.load_mode or "replace")
    return u, d


@router.post("/pipelines:generate", status_code=201, summary="Generate a pipeline from a description")
async def generate(body: GenerateRequest, owner: EtlOwner, settings: SettingsDep):
    def work():
        u, d = plan_from_description(owner, body, settings)
        params, warnings, _cols = check_definition(owner, d, settings, sample=body.options.validate_,
                                                   optimize=body.options.optimize)
        return u, d, params, warnings
    u, d, params, warnings = await run_in_threadpool(work)
    main = u.plan.tables[0] if u.plan.tables else d.target_table
    name = u.plan.name or f"{main}_{'summary' if u.plan.aggregates else 'data'}_sync"
    when = f", cron '{u.plan.cron}' UTC" if u.plan.cron else ""
    summary = f"{u.source.type} {main} to {u.target.type if u.target else 'target'} {d.target_table} " \
              f"({d.load_mode}{when})"
    row, dep = await create_pipeline(owner, name, summary, params, u.plan.cron, body.project_id)
    params = dict(dep.parameters)
    return {"pipeline_id": row.id, "name": row.name, "description": summary, "prompt": body.description,
            "code": code_for(params), "dag_definition": dag_for(row.id, params, u.plan.cron),
            "validation": {"status": "passed", "warnings": warnings, "checked_with": "sqlglot against the "
                           "source schema" + (" and a sample run" if body.options.validate_ else "")},
            "understood": u.plan.understood, "explanation": u.explanation,
            "pipeline": pipeline_view(row, dep)}


class PipelineCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=256)
    description: str = Field("", max_length=2000)
    project_id: str | None = Field(None, max_length=64)
    source: str
    target: str
    sql: str | None = Field(None, max_length=100_000)
    table: str | None = Field(None, max_length=256)
    target_table: str = Field(max_length=63)
    load_mode: Literal["replace", "append"] = "replace"
    transform: dict | None = None
    validations: list[dict] | None = None
    on_validation_failure: Literal["fail", "warn"] = "fail"
    chunk_rows: int | None = None
    schedule: str | None = Field(None, max_length=120, description="cron (UTC); active once deployed")


@router.post("/pipelines", status_code=201, summary="Configure a pipeline explicitly")
async def create(body: PipelineCreate, owner: EtlOwner, settings: SettingsDep):
    d = Definition(**body.model_dump(include=set(Definition.model_fields)))
    if body.schedule is not None:
        nl.check_cron(body.schedule)
    params, warnings, _ = await run_in_threadpool(check_definition, owner, d, settings)
    row, dep = await create_pipeline(owner, body.name, body.description, params, body.schedule, body.project_id)
    return {**pipeline_view(row, dep), "code": code_for(dict(dep.parameters)),
            "dag_definition": dag_for(row.id, dict(dep.parameters), body.schedule),
            "validation": {"status": "passed", "warnings": warnings}}


class PipelinePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=256)
    description: str | None = Field(None, max_length=2000)
    sql: str | None = Field(None, max_length=100_000)
    table: str | None = Field(None, max_length=256)
    target_table: str | None = Field(None, max_length=63)
    load_mode: Literal["replace", "append"] | None = None
    transform: dict | None = None
    validations: list[dict] | None = None
    on_validation_failure: Literal["fail", "warn"] | None = None
    chunk_rows: int | None = None


@router.patch("/pipelines/{pipeline_id}", summary="Configure a pipeline: change what it runs")
async def patch(pipeline_id: str, body: PipelinePatch, owner: EtlOwner, settings: SettingsDep):
    row, dep = await owned_pipeline(pipeline_id, owner)
    current = dict(dep.parameters)
    changes = body.model_dump(exclude_unset=True)
    merged = {"source": current["source"]["connector_id"], "target": current["target"]["connector_id"],
              **{k: current.get(k) for k in Definition.model_fields if k not in ("source", "target")}}
    if "sql" in changes and changes["sql"]:
        merged["table"] = None
    if "table" in changes and changes["table"]:
        merged["sql"] = None
    merged.update({k: v for k, v in changes.items() if k in Definition.model_fields})
    if "validations" not in changes and ("sql" in changes or "table" in changes or "transform" in changes):
        merged["validations"] = None  # derived again from the new output columns
    params, warnings, _ = await run_in_threadpool(check_definition, owner, Definition(**merged), settings)
    await etl_service.update(row.deployment_id, parameters={**params, "pipeline_id": row.id},
                             description=changes.get("description"))
    values = {k: changes[k] for k in ("name", "description") if changes.get(k) is not None}
    row = await run_in_threadpool(lambda: store.update_pipeline(row.id, **values))
    return {**pipeline_view(row, await etl_service.read(row.deployment_id)),
            "validation": {"status": "passed", "warnings": warnings}}


# --- read, list, delete -------------------------------------------------------------------------------------

@router.get("/pipelines", summary="The caller's pipelines (paginated)")
async def list_pipelines(request: Request, response: Response, owner: EtlOwner, page: PageDep):
    rows, total = await run_in_threadpool(store.list_pipelines, owner, page.offset, page.per_page)
    deps = await etl_service.read_many([r.deployment_id for r in rows if r.deployment_id])
    return {"pipelines": [pipeline_view(r, deps.get(r.deployment_id or "")) for r in rows],
            **paginate(request, response, page, total)}


@router.get("/pipelines/{pipeline_id}", summary="One pipeline: definition, schedule, deployment")
async def get_pipeline(pipeline_id: str, owner: EtlOwner):
    row, dep = await owned_pipeline(pipeline_id, owner)
    return {**pipeline_view(row, dep), "code": code_for(dict(dep.parameters))}


@router.delete("/pipelines/{pipeline_id}", summary="Delete a pipeline (its deployment and schedule)")
async def delete_pipeline(pipeline_id: str, owner: EtlOwner):
    row = await run_in_threadpool(store.get_pipeline, pipeline_id, owner)
    if row.deployment_id:
        await etl_service.delete(row.deployment_id)
    await run_in_threadpool(store.delete_pipeline, row.id)
    return {"message": "Pipeline deleted", "pipeline_id": row.id}


# --- deploy, schedules ---------------------------------------------------------------------------------------

class DeployRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    environment: str = Field("production", max_length=32)
    schedule: str | None = Field(None, max_length=120, description="cron (UTC); default: the generated one")


@router.post("/pipelines/{pipeline_id}:deploy", summary="Deploy: an active Prefect schedule for the cron")
async def deploy(pipeline_id: str, owner: EtlOwner, body: DeployRequest | None = None):
    body = body or DeployRequest()
    if not ENVIRONMENT.match(body.environment):
        raise InferloopError("INVALID_REQUEST", "environment must be 1-32 lowercase letters, digits, '-' or '_'",
                             "environment")
    cron = nl.check_cron(body.schedule) if body.schedule is not None else None
    row, dep = await owned_pipeline(pipeline_id, owner)
    if cron is None and dep.schedules:
        cron = getattr(dep.schedules[0].schedule, "cron", None)
    schedule = await etl_service.set_schedule(row.deployment_id, cron, True) if cron else None
    tags = [t for t in (dep.tags or []) if not t.startswith("env:")] + [f"env:{body.environment}"]
    await etl_service.update(row.deployment_id, tags=tags)
    row = await run_in_threadpool(lambda: store.update_pipeline(row.id, environment=body.environment,
                                                                deployed_at=db.utcnow()))
    view = pipeline_view(row, await etl_service.read(row.deployment_id))
    return {**view, "schedule": schedule or view["schedule"],
            "message": f"deployed to {body.environment}" + (f" on cron '{cron}' (UTC)" if cron else
                                                             " (runs on demand: no schedule)")}


async def _set_active(pipeline_id: str, owner: str, active: bool) -> dict:
    row, dep = await owned_pipeline(pipeline_id, owner)
    if not dep.schedules:
        raise InferloopError("CONFLICT", f"pipeline '{pipeline_id}' has no schedule; deploy it with one",
                             status=409)
    if row.deployed_at is None and active:
        raise InferloopError("CONFLICT", f"pipeline '{pipeline_id}' is not deployed yet; use :deploy", status=409)
    await etl_service.set_active(row.deployment_id, active)
    return pipeline_view(row, await etl_service.read(row.deployment_id))


@router.post("/pipelines/{pipeline_id}:pause", summary="Pause the pipeline's schedule")
async def pause(pipeline_id: str, owner: EtlOwner):
    return await _set_active(pipeline_id, owner, False)


@router.post("/pipelines/{pipeline_id}:resume", summary="Resume the pipeline's schedule")
async def resume(pipeline_id: str, owner: EtlOwner):
    return await _set_active(pipeline_id, owner, True)


@router.delete("/pipelines/{pipeline_id}/schedule", summary="Remove the pipeline's schedule")
async def delete_schedule(pipeline_id: str, owner: EtlOwner):
    row, _dep = await owned_pipeline(pipeline_id, owner)
    removed = await etl_service.delete_schedules(row.deployment_id)
    return {"pipeline_id": row.id, "schedules_removed": removed}


# --- runs ----------------------------------------------------------------------------------------------------

class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    params: dict[str, Any] = Field(default_factory=dict, description="values of the query's :name placeholders")
    async_: bool = Field(True, alias="async")


@router.post("/pipelines/{pipeline_id}:run", summary="Run the pipeline now (a Prefect flow run)")
async def run(pipeline_id: str, owner: EtlOwner, settings: SettingsDep, response: Response,
              body: RunRequest | None = None):
    body = body or RunRequest()
    row, dep = await owned_pipeline(pipeline_id, owner)
    params = dict(dep.parameters)
    warnings = []
    if params.get("sql"):
        src = await run_in_threadpool(store.get_connector, params["source"]["connector_id"], owner)
        dialect = conns.DIALECT[src.type]
        needed = sqlguard.placeholders(params["sql"], dialect)
        missing = [p for p in needed if p not in body.params]
        if missing:
            raise InferloopError("INVALID_REQUEST", f"the query needs params {', '.join(missing)}", "params")
        for v in body.params.values():
            sqlguard.literal(v)
        unused = [k for k in body.params if k not in needed]
        if unused:
            warnings.append(f"params not used by the query: {', '.join(unused)}")
    job = await run_in_threadpool(store.new_run_job, owner, row.id, None, "api")
    try:
        fr = await etl_service.run(row.deployment_id, {"params": body.params or None, "run_id": job.id},
                                   [f"pipeline:{row.id}"])
    except Exception:
        await run_in_threadpool(_forget, job.id)
        raise
    await run_in_threadpool(_link, job.id, str(fr.id))
    job.flow_run_id = str(fr.id)
    if body.async_:
        response.status_code = 202
        return {"run_id": job.id, "pipeline_id": row.id, "status": "pending", "flow_run_id": str(fr.id),
                "status_url": f"/api/v1/pipelines/{row.id}/status?run_id={job.id}", "warnings": warnings}
    fr = await dispatch.wait(fr.id, settings.sync_timeout_seconds)
    if not fr.state.is_final():
        raise InferloopError("TIMEOUT", f"the run did not finish within {settings.sync_timeout_seconds:g} s; "
                             f"poll its status", status=504, extra={"run_id": job.id, "job_id": job.id})
    return await run_status(row, job, fr)


def _link(job_id: str, flow_run_id: str) -> None:
    with db.session_scope() as s:
        s.get(db.Job, job_id).flow_run_id = flow_run_id


def _forget(job_id: str) -> None:
    with db.session_scope() as s:
        job = s.get(db.Job, job_id)
        if job is not None:
            s.delete(job)


async def run_status(row: store.EtlPipeline, job: db.Job, fr) -> dict:
    status = dispatch.public_status(fr)
    out: dict[str, Any] = {"pipeline_id": row.id, "run_id": job.id, "flow_run_id": job.flow_run_id,
                           "status": RUN_STATUS[status], "prefect_state": fr.state.name if fr.state else None,
                           "trigger": (job.options or {}).get("trigger"), "current_task": None,
                           "progress": 100 if status == "completed" else 0,
                           "started_at": iso(fr.start_time), "finished_at": iso(fr.end_time) if fr.end_time else None,
                           "estimated_completion": None}
    if status == "pending":
        out["current_task"] = "waiting_for_worker"
    if status == "running":
        runs = await etl_service.task_runs(str(fr.id))
        running = [t for t in runs if t.state and t.state.is_running()]
        name = (running[0].task_key or running[0].name).split("-")[0] if running else None
        out["current_task"] = CURRENT_TASK.get(name or "", name)
        progress = await dispatch.progress(fr.id) or 0.0
        out["progress"] = round(progress)
        if fr.start_time and progress >= 5:
            elapsed = (datetime.now(timezone.utc) - fr.start_time).total_seconds()
            out["estimated_completion"] = iso(datetime.fromtimestamp(
                fr.start_time.timestamp() + elapsed * 100 / progress, tz=timezone.utc))
    if status == "completed":
        m = await run_in_threadpool(read_manifest, job.flow_run_id) or {}
        out.update(rows=m.get("rows"), validation=m.get("validation"), timings=m.get("timings"),
                   rows_per_second=m.get("rows_per_second"), target_table=m.get("target_table"))
    if status in ("failed", "cancelled"):
        err = await run_in_threadpool(failure_error, job.flow_run_id, fr)
        out["error"] = {"code": err.code, "message": err.message, **({"validation": err.extra["validation"]}
                                                                    if "validation" in err.extra else {})}
    if fr.total_run_time:
        out["duration_seconds"] = round(fr.total_run_time.total_seconds(), 3)
    return out


@router.get("/pipelines/{pipeline_id}/status", summary="Status of the pipeline's latest (or a given) run")
async def status(pipeline_id: str, owner: EtlOwner, run_id: str | None = Query(None, max_length=64)):
    row, dep = await owned_pipeline(pipeline_id, owner)
    jobs = await run_in_threadpool(store.run_jobs, owner, row.id, 50)
    if run_id is not None:
        jobs = [j for j in jobs if j.id == run_id] or [await run_in_threadpool(_job_of, run_id, owner, row.id)]
    jobs = [j for j in jobs if j.flow_run_id]
    schedule = pipeline_view(row, dep)["schedule"]
    if not jobs:
        return {"pipeline_id": row.id, "status": "idle", "current_task": None, "progress": 0, "run_id": None,
                "started_at": None, "estimated_completion": None, "schedule": schedule}
    job = jobs[0]
    out = await run_status(row, job, await dispatch.read(job.flow_run_id))
    if out["status"] == "running" and out["estimated_completion"] is None:
        out["estimated_completion"] = await _eta_from_history(jobs[1:], job)
    return {**out, "schedule": schedule}


def _job_of(run_id: str, owner: str, pipeline_id: str) -> db.Job:
    with db.session_scope() as s:
        job = s.get(db.Job, run_id)
    if job is None or job.owner != owner or (job.options or {}).get("pipeline_id") != pipeline_id:
        raise not_found("run", run_id)
    return job


async def _eta_from_history(previous: list[db.Job], job: db.Job) -> str | None:
    runs = await dispatch.read_many([j.flow_run_id for j in previous[:10] if j.flow_run_id])
    durations = [fr.total_run_time.total_seconds() for fr in runs.values()
                 if fr.state and fr.state.is_completed() and fr.total_run_time]
    fr = await dispatch.read(job.flow_run_id)
    if not durations or not fr.start_time:
        return None
    return iso(datetime.fromtimestamp(fr.start_time.timestamp() + sum(durations) / len(durations), tz=timezone.utc))


@router.get("/pipelines/{pipeline_id}/runs", summary="The pipeline's runs, newest first (paginated)")
async def runs(pipeline_id: str, request: Request, response: Response, owner: EtlOwner, page: PageDep):
    row = await run_in_threadpool(store.get_pipeline, pipeline_id, owner)
    jobs = await run_in_threadpool(store.run_jobs, owner, row.id, page.offset + page.per_page)
    total = len(await run_in_threadpool(store.run_jobs, owner, row.id, 100_000))
    chosen = [j for j in jobs[page.offset:] if j.flow_run_id]
    frs = await dispatch.read_many([j.flow_run_id for j in chosen])
    items = []
    for j in chosen:
        fr = frs.get(j.flow_run_id)
        items.append(await run_status(row, j, fr) if fr is not None else
                     {"run_id": j.id, "status": "unknown", "pipeline_id": row.id})
    return {"runs": items, **paginate(request, response, page, total)}


# --- the run's job kind: webhooks (pipeline.completed / pipeline.failed) and /api/v1/jobs --------------------

def run_event_data(job: db.Job, fr, status: str, base_url: str) -> dict:
    m = read_manifest(job.flow_run_id) or {}
    data: dict[str, Any] = {"pipeline_id": (job.options or {}).get("pipeline_id"), "run_id": job.id,
                            "status": RUN_STATUS[status], "flow_run_id": job.flow_run_id,
                            "duration_seconds": round(fr.total_run_time.total_seconds(), 3) if fr.total_run_time
                            else None}
    if status == "completed":
        data["rows_loaded"] = (m.get("rows") or {}).get("loaded")
        data["target_table"] = m.get("target_table")
    else:
        err = failure_error(job.flow_run_id, fr)
        data["error"] = {"code": "CANCELLED" if status == "cancelled" else err.code,
                         "message": (fr.state.message or "cancelled") if status == "cancelled" else err.message}
    return data


async def run_job_view(job: db.Job, fr, status: str) -> dict:
    out: dict[str, Any] = {"pipeline_id": (job.options or {}).get("pipeline_id"),
                           "trigger": (job.options or {}).get("trigger")}
    if status == "completed":
        m = await run_in_threadpool(read_manifest, job.flow_run_id) or {}
        out["result"] = {"rows": m.get("rows"), "validation": m.get("validation"), "timings": m.get("timings")}
    return out


job_kinds.register(job_kinds.JobKind(
    store.RUN_KIND, api="v1",
    events={"completed": "pipeline.completed", "failed": "pipeline.failed", "cancelled": "pipeline.failed"},
    event_data=run_event_data, view=run_job_view))
webhooks.register_events(*EVENTS)
