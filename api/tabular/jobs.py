"""Async generation and jobs: POST /generate/async, GET /jobs, GET /jobs/{id}, POST /jobs/{id}/cancel.

A job's state is its Prefect flow run's state; nothing about it lives only in this process.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api import dispatch
from api.tabular import ydata
from api.tabular.data_urls import resolve_data_url
from api.deps import CurrentOwner, CurrentPrincipal, SettingsDep
from api import job_kinds
from api.jobs import (FINAL_STATUSES, LIVE_STATUSES, completed_generation, failure_error, get_job, list_jobs,
                      mark_cancel_requested, read_manifest)
from api.tabular.models_service import model_job_result
from api.tabular.generate import constraint_options, start_generation
from inferloop.core import db
from tasks.tabular.constraint_specs import inline_or_stored_constraints
from inferloop.core.errors import InferloopError
from tasks.tabular.estimates import estimate_seconds
from tasks.tabular.export_stream import FORMATS
from inferloop.core.ratelimit import check_generation
from inferloop.core.webhooks import check_webhook_url
from tasks.tabular.request_checks import check_num_rows, check_seed
from tasks.tabular.synthesizers import resolve

router = APIRouter(tags=["jobs"])


class AsyncGenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_url: str = Field(description="s3://bucket/key, upload://<upload_id>, a path under an allowed root, "
                                      "or a public https:// URL")
    algorithm: str = "sdv"
    num_rows: int | None = None
    seed: int | None = None
    format: str = "csv"
    callback_url: str | None = None
    callback_secret: str | None = Field(None, description="signs deliveries to callback_url")
    parameters: dict[str, Any] = Field(default_factory=dict)
    constraint_id: str | None = Field(None, description="a stored constraint set (POST /constraints)")
    constraints: list[Any] | None = Field(None, description="inline constraints, as in POST /constraints")


@router.post("/generate/async", status_code=202, summary="Start a generation job and return at once")
async def generate_async(body: AsyncGenerateRequest, principal: CurrentPrincipal, settings: SettingsDep):
    owner = principal.owner
    if body.num_rows is not None:
        check_num_rows(body.num_rows, settings.max_rows)
    check_seed(body.seed)
    if body.format not in FORMATS:
        raise InferloopError("INVALID_REQUEST", f"format must be one of {', '.join(FORMATS)}", "format")
    if body.callback_url:
        check_webhook_url(body.callback_url, settings, "callback_url")
    model_key, params = resolve(body.algorithm, dict(body.parameters))
    await ydata.require(body.algorithm, settings)
    specs = await run_in_threadpool(inline_or_stored_constraints, body.constraints, body.constraint_id, owner)
    uri, fmt, known = await run_in_threadpool(resolve_data_url, body.data_url, owner, settings)
    await run_in_threadpool(check_generation, principal, settings, body.num_rows or known.get("rows") or 0)
    job_id = db.new_id("job")
    estimate = estimate_seconds(model_key, params, known.get("rows"), known.get("columns"), body.num_rows)
    await start_generation(job_id, owner, uri, fmt, body.algorithm, body.num_rows, body.seed, params,
                           body.format, sync=False, callback_url=body.callback_url,
                           callback_secret=body.callback_secret, constraints=specs,
                           extra_options={"estimated_time": estimate,
                                          **constraint_options(body.constraint_id, specs)})
    return {"job_id": job_id, "status": "pending", "estimated_time": estimate,
            "status_url": f"/api/tabular/jobs/{job_id}"}


def _iso(dt: datetime | None) -> str | None:
    return db.as_utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


@router.get("/jobs", summary="The caller's jobs, newest first, with paging and filters")
async def list_my_jobs(owner: CurrentOwner, page: int = 1, per_page: int = 20, status: str | None = None,
                       kind: str | None = None):
    if page < 1:
        raise InferloopError("INVALID_REQUEST", "page must be 1 or more", "page")
    if not 1 <= per_page <= 100:
        raise InferloopError("INVALID_REQUEST", "per_page must be between 1 and 100", "per_page")
    if status is not None and status not in (*LIVE_STATUSES, *FINAL_STATUSES):
        raise InferloopError("INVALID_REQUEST", "status must be one of "
                             f"{', '.join((*LIVE_STATUSES, *FINAL_STATUSES))}", "status")
    kinds = job_kinds.kinds_of("tabular")
    if kind is not None and kind not in kinds:
        raise InferloopError("INVALID_REQUEST", f"kind must be one of {', '.join(kinds)}", "kind")
    listed, total = await list_jobs(owner, [kind] if kind else kinds, status, (page - 1) * per_page, per_page)
    jobs = [{"job_id": x.job.id, "kind": x.job.kind, "status": x.status, "algorithm": x.job.algorithm,
             "model_id": x.job.model_id, "created_at": _iso(x.job.created_at),
             "finished_at": _iso(x.job.finished_at or (x.run.end_time if x.run and x.status in FINAL_STATUSES
                                                       else None)),
             "status_url": f"/api/tabular/jobs/{x.job.id}"} for x in listed]
    return {"jobs": jobs, "pagination": {"page": page, "per_page": per_page, "total": total,
                                         "pages": (total + per_page - 1) // per_page}}


@router.get("/jobs/{job_id}", summary="Job status, progress, logs and, when done, its result")
async def job_status(job_id: str, request: Request, owner: CurrentOwner, log_limit: int = 100):
    job = await run_in_threadpool(get_job, job_id, owner)
    if not job.flow_run_id:
        raise InferloopError("NOT_FOUND", f"generation '{job_id}' was not found", status=404)
    fr = await dispatch.read(job.flow_run_id)
    status = dispatch.public_status(fr)
    progress = await dispatch.progress(fr.id)
    if status == "completed":
        progress = 100.0
    created = db.as_utc(job.created_at)
    body: dict[str, Any] = {
        "job_id": job.id, "status": status, "progress": int(progress or 0),
        "algorithm": job.algorithm, "created_at": _iso(created),
        "started_at": _iso(fr.start_time), "completed_at": _iso(fr.end_time) if fr.state.is_final() else None,
        "estimated_completion": _estimated_completion(fr, progress, created, job),
        "prefect_state": fr.state.name, "prefect_flow_run_id": str(fr.id),
        "cancel_requested": job.cancel_requested_at is not None,
        "logs": await dispatch.logs(fr.id, limit=max(1, min(log_limit, 1000))),
    }
    if status == "completed" and job.kind == "multitable":
        from api.tabular.multitable_results import job_result

        body["result"] = await run_in_threadpool(job_result, job)
    elif status == "completed" and job.kind in ("train", "sample"):
        body["model_id"] = job.model_id
        body["result"] = await run_in_threadpool(model_job_result, job)
    elif status == "completed" and job.kind != "generate":
        from api.sync_jobs import result_uri
        from inferloop.core import storage

        body["result"] = await run_in_threadpool(storage.read_json, result_uri(job.flow_run_id))
    elif status == "completed":
        result = await run_in_threadpool(completed_generation, request, job.id, job.flow_run_id, job.algorithm,
                                         job.options.get("format", "csv"))
        body["result"] = {"rows": result["metadata"]["generated_rows"], **result["metadata"],
                          "download_url": result["data_url"], "download_formats": result["download_formats"]}
        manifest = await run_in_threadpool(read_manifest, job.flow_run_id) or {}
        if (manifest.get("model_metadata") or {}).get("differential_privacy"):
            body["result"]["differential_privacy"] = manifest["model_metadata"]["differential_privacy"]
    elif status in ("failed", "cancelled"):
        err = await run_in_threadpool(failure_error, job.flow_run_id, fr)
        body["error"] = {"code": "CANCELLED" if status == "cancelled" else err.code,
                         "message": fr.state.message or err.message if status == "cancelled" else err.message}
    return body


def _estimated_completion(fr, progress: float | None, created: datetime, job: db.Job) -> str | None:
    """From the observed rate once running; from the estimate before."""
    if fr.state.is_final():
        return None
    now = datetime.now(timezone.utc)
    if fr.start_time and progress and progress > 5:
        elapsed = (now - fr.start_time).total_seconds()
        return _iso(now + timedelta(seconds=elapsed * (100 - progress) / progress))
    estimate = job.options.get("estimated_time")
    if estimate is None:
        return None
    return _iso(max(now, created + timedelta(seconds=estimate)))


@router.post("/jobs/{job_id}/cancel", status_code=202, summary="Cancel a pending or running job")
async def cancel_job(job_id: str, owner: CurrentOwner):
    job = await run_in_threadpool(get_job, job_id, owner)
    fr = await dispatch.read(job.flow_run_id)
    if fr.state.is_final():
        raise InferloopError("CONFLICT", f"job '{job_id}' is already {dispatch.public_status(fr)}", status=409)
    await run_in_threadpool(mark_cancel_requested, job_id)
    state = await dispatch.cancel(fr)   # deferred (None) while the run is starting: the watcher finishes it
    return {"job_id": job_id, "status": "cancelled" if state == "Cancelled" else "cancelling"}
