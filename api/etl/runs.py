"""Runs of an ETL pipeline (etl-api.md): POST /pipelines/{id}:run, GET /pipelines/{id}/status and /runs, and
the run's job kind (webhooks pipeline.completed / pipeline.failed, /api/v1/jobs)."""


from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api import dispatch, job_kinds
from api.deps import SettingsDep
from api.jobs import failure_error, read_manifest, start_job
from api.etl import service as etl_service
from api.etl.deps import EtlOwner, PageDep, iso, paginate
from inferloop.core import db, webhooks
from inferloop.core.errors import InferloopError, not_found
from tasks.etl import connectors as conns
from tasks.etl import sqlguard, store

from api.etl.definitions import owned_pipeline, pipeline_view

router = APIRouter(tags=["etl: pipelines"])

RUN_STATUS = {"pending": "pending", "running": "running", "completed": "success", "failed": "failed",
              "cancelled": "cancelled"}
CURRENT_TASK = {"extract": "extracting_data", "transform": "transforming_data", "validate": "validating_data",
                "load": "loading_data"}


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
    job = store.run_job(owner, row.id, None, "api")
    fr = await start_job(job.kind, "etl_pipeline", {"params": body.params or None, "run_id": job.id}, owner,
                         job_id=job.id, options=job.options, tags=["etl", f"pipeline:{row.id}"],
                         deployment_id=row.deployment_id, input_uri=job.input_uri, created_at=job.created_at)
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
    job = db.owned(db.Job, run_id, owner, "run")
    if (job.options or {}).get("pipeline_id") != pipeline_id:
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
webhooks.register_events(*store.EVENTS)
