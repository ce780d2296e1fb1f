"""Jobs of the /api/v1 systems (image, context, etl): list, detail, quick status, cancel, delete.

The shapes are context-api.md's ("Job Management"); they serve every /api/v1 kind. A job's state is its
Prefect flow run's; each kind adds its own detail (result, per-step or per-batch progress) through the
`view` it registers in `api.job_kinds`. Statuses: pending, in_progress, completed, failed (a cancelled job
is `failed` with stage `cancelled`, as the document's cancel response shows).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from prefect.client.schemas.objects import FlowRun
from starlette.concurrency import run_in_threadpool

from api import dispatch, job_kinds
from api.deps import CurrentOwner
from api.errors import context_code
from api.jobs import FINAL_STATUSES, forget_job, get_job, list_jobs, mark_cancel_requested, stop_run
from inferloop.core import db, storage
from inferloop.core.errors import InferloopError

router = APIRouter(tags=["jobs (v1)"])

V1_STATUS = {"pending": "pending", "running": "in_progress", "completed": "completed", "failed": "failed",
             "cancelled": "failed"}
STAGE = {"pending": "queued", "running": "running", "completed": "completed", "failed": "failed",
         "cancelled": "cancelled"}
# v1 filter value -> the platform statuses it covers
FILTERS = {"pending": ["pending"], "in_progress": ["running"], "completed": ["completed"],
           "failed": ["failed", "cancelled"], "cancelled": ["cancelled"]}


def _iso(dt) -> str | None:
    return db.as_utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def _updated(job: db.Job, fr: FlowRun | None) -> str | None:
    if fr is not None and fr.state is not None and fr.state.timestamp:
        return _iso(fr.state.timestamp)
    return _iso(job.finished_at or job.created_at)


def stage_of(job: db.Job, status: str) -> str:
    """The job's stage: its kind's own (e.g. context's sample_generated, corpus_generated) or its status's."""
    stage = job_kinds.get(job.kind).stage
    return stage(job, status) if stage is not None else STAGE[status]


def _summary(job: db.Job, status: str, fr: FlowRun | None) -> dict[str, Any]:
    return {"job_id": job.id, "kind": job.kind, "status": V1_STATUS[status], "stage": stage_of(job, status),
            "created_at": _iso(job.created_at), "updated_at": _updated(job, fr)}


@router.get("/jobs", summary="List jobs with pagination")
async def list_v1_jobs(owner: CurrentOwner, skip: int = 0, limit: int = 20, status: str | None = None,
                       kind: str | None = None):
    if skip < 0:
        raise InferloopError("INVALID_REQUEST", "skip must be 0 or more", "skip")
    if not 1 <= limit <= 100:
        raise InferloopError("INVALID_REQUEST", "limit must be between 1 and 100", "limit")
    if status is not None and status not in FILTERS:
        raise InferloopError("INVALID_REQUEST", f"status must be one of {', '.join(FILTERS)}", "status")
    kinds = job_kinds.kinds_of("v1")
    if kind is not None and kind not in kinds:
        raise InferloopError("INVALID_REQUEST", f"kind must be one of {', '.join(kinds) or '(none yet)'}", "kind")
    wanted = [kind] if kind else kinds
    statuses = FILTERS[status] if status else [None]
    if len(statuses) == 1:
        listed, total = await list_jobs(owner, wanted, statuses[0], skip, limit)
    else:  # failed = failed + cancelled: both final, so both pages come from the store alone
        parts = [await list_jobs(owner, wanted, st, 0, skip + limit) for st in statuses]
        merged = sorted((x for page, _ in parts for x in page), key=lambda x: db.as_utc(x.job.created_at),
                        reverse=True)
        listed, total = merged[skip:skip + limit], sum(t for _, t in parts)
    return {"jobs": [_summary(x.job, x.status, x.run) for x in listed], "total": total, "skip": skip,
            "limit": limit}


async def _job_and_run(job_id: str, owner: str) -> tuple[db.Job, FlowRun | None, str]:
    job = await run_in_threadpool(get_job, job_id, owner)
    if job_kinds.get(job.kind).api != "v1":
        raise InferloopError("NOT_FOUND", f"job '{job_id}' was not found", status=404)
    if not job.flow_run_id:
        return job, None, job.final_status or "pending"
    fr = await dispatch.read(job.flow_run_id)
    return job, fr, dispatch.public_status(fr)


async def _percent(job: db.Job, fr: FlowRun | None, status: str) -> float:
    if status == "completed":
        return 100.0
    if fr is None:
        return 0.0
    return round(float(await dispatch.progress(fr.id) or 0.0), 1)


@router.get("/jobs/{job_id}", summary="Detailed information about a job")
async def job_detail(job_id: str, owner: CurrentOwner):
    job, fr, status = await _job_and_run(job_id, owner)
    body: dict[str, Any] = {**_summary(job, status, fr), "prefect_flow_run_id": job.flow_run_id,
                            "progress": {"percent_complete": await _percent(job, fr, status)},
                            "errors": [], "warnings": []}
    if status == "cancelled":
        body["errors"].append("Job cancelled by user")
    elif status == "failed" and fr is not None:
        from api.jobs import failure_error

        err = await run_in_threadpool(failure_error, job.flow_run_id, fr)
        body["errors"].append({"code": context_code(err), "message": err.message})
    view = job_kinds.get(job.kind).view
    if view is not None:
        extra = await view(job, fr, status)
        if "progress" in extra:
            extra["progress"] = {**body["progress"], **extra["progress"]}
        body.update(extra)
    return body


@router.get("/jobs/{job_id}/status", summary="Quick status check for a job")
async def job_quick_status(job_id: str, owner: CurrentOwner):
    job, fr, status = await _job_and_run(job_id, owner)
    return {"job_id": job.id, "status": V1_STATUS[status], "stage": stage_of(job, status),
            "percent_complete": await _percent(job, fr, status)}


@router.post("/jobs/{job_id}/cancel", summary="Cancel a running job")
async def cancel_v1_job(job_id: str, owner: CurrentOwner):
    job, fr, status = await _job_and_run(job_id, owner)
    if status in FINAL_STATUSES or fr is None:
        raise InferloopError("CONFLICT", f"job '{job_id}' is already {V1_STATUS[status]}", status=409)
    await run_in_threadpool(mark_cancel_requested, job.id)
    await dispatch.cancel(fr)  # deferred while the worker starts it: the watcher finishes it
    return {"job_id": job.id, "status": "failed", "message": "Job cancelled by user"}


@router.delete("/jobs/{job_id}", summary="Delete a job and its associated data")
async def delete_v1_job(job_id: str, owner: CurrentOwner):
    job, fr, status = await _job_and_run(job_id, owner)
    if fr is not None and status not in FINAL_STATUSES:
        await stop_run(job, fr)
    on_delete = job_kinds.get(job.kind).on_delete
    if on_delete is not None:
        await on_delete(job)
    if job.flow_run_id:
        await run_in_threadpool(storage.remove, storage.run_dir(job.flow_run_id))
    await run_in_threadpool(forget_job, job.id)
    return {"message": "Job deleted successfully"}
