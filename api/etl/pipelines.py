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

Errors answer in etl-api.md's envelope (api.errors, module prefix api.etl.pipelines). Every check (connectors,
SQL against the real schema, transform, expectations, cron) runs before anything is created.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.deps import SettingsDep
from api.etl import service as etl_service
from api.etl.data import Schemas, understand
from api.etl.deps import EtlOwner, PageDep, paginate
from inferloop.core import db
from inferloop.core.errors import InferloopError, not_found
from inferloop.core.settings import Settings
from tasks.etl import nl, store

from api.etl.definitions import (ENVIRONMENT, Definition, check_definition, code_for, create_pipeline, dag_for,
                                 owned_pipeline, pipeline_view)

router = APIRouter(tags=["etl: pipelines"])


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
