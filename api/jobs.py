"""Job lookups and the documented shapes built from a run's stored manifest."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from prefect.client.schemas.objects import FlowRun, StateType
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from api import dispatch
from inferloop.core import db, storage
from inferloop.core.errors import InferloopError
from tasks.tabular.export_stream import FORMATS


def get_job(job_id: str, owner: str) -> db.Job:
    """The owner's job, or NOT_FOUND (another owner's job answers exactly like an unknown one)."""
    return db.owned(db.Job, job_id, owner, "generation")


def link_run(job_id: str, flow_run_id: str) -> None:
    """Point the job at the flow run that does its work (a job keeping a history of its runs in
    options["runs"], as the context jobs do, gets the run appended there too)."""
    with db.session_scope() as s:
        job = s.get(db.Job, job_id)
        job.flow_run_id = flow_run_id
        if isinstance((job.options or {}).get("runs"), list):
            job.options = with_run(job.options, job.kind, flow_run_id)


def with_run(options: dict[str, Any] | None, kind: str, flow_run_id: str) -> dict[str, Any]:
    """A job's options with one more entry in its run history (options["runs"])."""
    opts = dict(options or {})
    run = {"kind": kind, "flow_run_id": flow_run_id, "at": db.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")}
    opts["runs"] = [*opts.get("runs", []), run]
    return opts


def forget_job(job_id: str) -> None:
    """Remove a job's record (its data is removed by the caller)."""
    with db.session_scope() as s:
        job = s.get(db.Job, job_id)
        if job is not None:
            s.delete(job)


def _record(*rows: Any) -> None:
    with db.session_scope() as s:
        s.add_all(rows)


def _unrecord(*rows: Any) -> None:
    with db.session_scope() as s:
        for row in rows:
            found = s.get(type(row), row.id)
            if found is not None:
                s.delete(found)
                s.flush()


async def start_job(kind: str, flow_name: str, parameters: dict[str, Any], owner: str, *, job_id: str,
                    options: dict[str, Any] | None = None, tags: Sequence[str] = (), variant: str | None = None,
                    deployment_id: str | None = None, records: Sequence[Any] = (), **columns: Any) -> FlowRun:
    """The one way to start a job: record it (with `records` that belong to it, e.g. its model), create the
    flow run of `flow_name`'s deployment (or of `deployment_id`), link the two. If the run cannot be created
    nothing stays recorded and the error is raised. `columns` are further db.Job fields (algorithm, input_uri,
    model_id, callback_url, ...). The run is tagged `api`, `tags` and `job:<job_id>`."""
    job = db.Job(id=job_id, kind=kind, owner=owner, options=options if options is not None else {}, **columns)
    await run_in_threadpool(_record, *records, job)
    try:
        fr = await dispatch.submit(flow_name, parameters, tags=["api", *tags, f"job:{job_id}"], variant=variant,
                                   deployment_id=deployment_id)
    except Exception:
        await run_in_threadpool(_unrecord, job, *reversed(records))
        raise
    await run_in_threadpool(link_run, job_id, str(fr.id))
    return fr


def mark_cancel_requested(job_id: str) -> None:
    """Store a cancel request (the watcher applies it once a starting run can be cancelled)."""
    with db.session_scope() as s:
        job = s.get(db.Job, job_id)
        if job is not None and job.cancel_requested_at is None:
            job.cancel_requested_at = db.utcnow()


DELETE_WAIT_SECONDS = 60.0  # deleting a live job waits this long at most for its run to stop


async def stop_run(job: db.Job, fr: FlowRun, timeout: float = DELETE_WAIT_SECONDS) -> None:
    """Cancel a live run and wait (bounded) until it has ended, so it writes nothing after its data is gone.

    A run the worker is starting (PENDING) is cancelled once it runs (notes/prefect-facts.md: the race).
    """
    await run_in_threadpool(mark_cancel_requested, job.id)
    end = time.monotonic() + timeout
    while True:
        if fr.state is not None and fr.state.is_final():
            return
        if fr.state is not None and fr.state.type not in (StateType.PENDING, StateType.CANCELLING):
            await dispatch.cancel(fr)
        if time.monotonic() >= end:
            return
        await asyncio.sleep(0.5)
        fr = await dispatch.read(fr.id)


def manifest_uri(flow_run_id: str) -> str:
    return f"{storage.run_dir(flow_run_id)}/manifest.json"


def read_manifest(flow_run_id: str) -> dict | None:
    uri = manifest_uri(flow_run_id)
    return storage.read_json(uri) if storage.exists(uri) else None


def download_formats(job_id: str) -> dict[str, str]:
    return {f: f"/api/tabular/download/{job_id}?format={f}" for f in FORMATS}


def completed_generation(request: Request, job_id: str, flow_run_id: str, algorithm: str, fmt: str) -> dict:
    """The documented generate response for a completed run."""
    m = read_manifest(flow_run_id)
    if m is None:
        raise InferloopError("GENERATION_FAILED", "the run completed but wrote no manifest", status=500)
    with db.session_scope() as s:
        created = s.get(db.Job, job_id).created_at
    base = str(request.base_url).rstrip("/")
    return {
        "id": job_id,
        "status": "completed",
        "algorithm": algorithm,
        "created": int(created.timestamp()),
        "data_url": f"{base}/api/tabular/download/{job_id}?format={fmt}",
        "metadata": {
            "original_rows": m["original_rows"],
            "generated_rows": m["generated_rows"],
            "columns": m["columns"],
            "generation_time": m["generation_time"],
            "quality_score": m["quality_score"],
        },
        "download_formats": download_formats(job_id),
    }


def failure_error(flow_run_id: str, fr: FlowRun) -> InferloopError:
    """The documented error for a failed or cancelled run: the flow's own error.json when it wrote one."""
    uri = f"{storage.run_dir(flow_run_id)}/error.json"
    if storage.exists(uri):
        d = storage.read_json(uri)
        err = InferloopError.from_dict({k: v for k, v in d.items() if k != "status"})
        err.status = int(d.get("status", err.status))
        return err
    state = fr.state
    msg = (state.message if state and state.message else "the generation run ended without a result")
    return InferloopError("GENERATION_FAILED", f"{state.name if state else 'Failed'}: {msg}", status=500)


FINAL_STATUSES = ("completed", "failed", "cancelled")
LIVE_STATUSES = ("pending", "running")


@dataclass
class ListedJob:
    job: db.Job
    status: str                 # public status: pending, running, completed, failed, cancelled
    run: FlowRun | None         # the flow run, read only for jobs not yet recorded final


def _owned(owner: str, kinds: list[str]):
    return select(db.Job).where(db.Job.owner == owner, db.Job.kind.in_(kinds))


def _page_rows(owner: str, kinds: list[str], final: str | None, offset: int, limit: int) -> tuple[list[db.Job], int]:
    q = _owned(owner, kinds)
    if final:
        q = q.where(db.Job.final_status == final)
    with db.session_scope() as s:
        total = s.scalar(select(func.count()).select_from(q.subquery()))
        rows = list(s.scalars(q.order_by(db.Job.created_at.desc(), db.Job.id).offset(offset).limit(limit)))
    return rows, int(total or 0)


def _unfinished_rows(owner: str, kinds: list[str]) -> list[db.Job]:
    with db.session_scope() as s:
        return list(s.scalars(_owned(owner, kinds).where(db.Job.final_status.is_(None))
                              .order_by(db.Job.created_at.desc(), db.Job.id)))


async def _with_status(rows: list[db.Job]) -> list[ListedJob]:
    """Final status from the store; the others from Prefect in one call for the whole page."""
    live = [j.flow_run_id for j in rows if j.final_status is None and j.flow_run_id]
    runs = await dispatch.read_many(live)
    out = []
    for j in rows:
        fr = runs.get(j.flow_run_id) if j.flow_run_id else None
        status = j.final_status or (dispatch.public_status(fr) if fr else "pending")
        out.append(ListedJob(j, status, fr))
    return out


async def list_jobs(owner: str, kinds: list[str], status: str | None, offset: int,
                    limit: int) -> tuple[list[ListedJob], int]:
    """The owner's jobs of these kinds, newest first: (page, total). One store query and at most one Prefect
    call per page; a status filter also reads the owner's unfinished runs in one call, so a run that has just
    ended in Prefect, before the watcher records it, is listed under its final status too."""
    if status is None:
        rows, total = await run_in_threadpool(_page_rows, owner, kinds, None, offset, limit)
        return await _with_status(rows), total
    unfinished = await run_in_threadpool(_unfinished_rows, owner, kinds)
    matching = [x for x in await _with_status(unfinished) if x.status == status]
    if status in LIVE_STATUSES:
        return matching[offset:offset + limit], len(matching)
    rows, total = await run_in_threadpool(_page_rows, owner, kinds, status, 0, offset + limit)
    merged = sorted([*matching, *(ListedJob(j, status, None) for j in rows)],
                    key=lambda x: (-x.job.created_at.timestamp(), x.job.id))
    return merged[offset:offset + limit], total + len(matching)
