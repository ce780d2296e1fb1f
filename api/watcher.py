"""The API's background watcher: final states -> webhook deliveries, deferred cancels, delivery retries.

Everything it needs is in the metadata store and Prefect, so a restarted API picks up where it left off,
and it sees every final state — including crashes and cancels made by the server, which no flow hook sees.
"""

from __future__ import annotations

import asyncio
import logging

from prefect.client.schemas.objects import FlowRun, StateType
from sqlalchemy import select, update
from starlette.concurrency import run_in_threadpool

from api import dispatch, job_kinds
from api.tabular.batches import follow_batch
from api.jobs import failure_error, read_manifest
from api.tabular.models_service import finalize_model
from inferloop.core import db, webhooks
from inferloop.core.settings import Settings

log = logging.getLogger("inferloop.watcher")

EVENT_BY_STATUS = {("generate", "completed"): "generation.completed", ("sample", "completed"): "generation.completed",
                   ("train", "completed"): "model.trained"}


def event_for(kind: str, status: str) -> str | None:
    """The webhook event of a job's final state; None when there is none (a completed profile, ...)."""
    registered = job_kinds.get(kind)
    if registered.events:
        return registered.events.get(status)
    if status == "failed":
        return "job.failed"
    if status == "cancelled":
        return "job.cancelled"
    return EVENT_BY_STATUS.get((kind, status))


def event_data(job: db.Job, fr: FlowRun, status: str, base_url: str) -> dict:
    """The documented webhook `data` for a job's final state."""
    registered = job_kinds.get(job.kind)
    if registered.event_data is not None:
        return registered.event_data(job, fr, status, base_url)
    data: dict = {"job_id": job.id, "generation_id": job.id, "algorithm": job.algorithm, "status": status}
    if job.model_id:
        data["model_id"] = job.model_id
    if status == "completed" and job.kind == "train":
        m = read_manifest(job.flow_run_id) or {}
        data.update(quality_score=m.get("quality_score"), model_url=f"{base_url}/api/tabular/models/{job.model_id}")
    elif status == "completed":
        m = read_manifest(job.flow_run_id) or {}
        data.update(rows_generated=m.get("generated_rows"), quality_score=m.get("quality_score"),
                    download_url=f"{base_url}/api/tabular/download/{job.id}")
    else:
        err = failure_error(job.flow_run_id, fr)
        data["error"] = {"code": "CANCELLED" if status == "cancelled" else err.code,
                         "message": (fr.state.message or "cancelled") if status == "cancelled" else err.message}
    return data


def unfinished_jobs(limit: int = 500) -> list[db.Job]:
    with db.session_scope() as s:
        return list(s.scalars(select(db.Job).where(db.Job.notified_at.is_(None), db.Job.flow_run_id.is_not(None))
                              .order_by(db.Job.created_at).limit(limit)))


def record_final(job: db.Job, fr: FlowRun, status: str, base_url: str) -> None:
    """Mark the job final and queue its deliveries in one transaction (so each happens once)."""
    finalize_model(job, fr, status)  # a training job's model becomes ready / failed first
    data = event_data(job, fr, status, base_url)
    usage = {"rows_generated": data.get("rows_generated") if status == "completed" else 0,
             "compute_seconds": fr.total_run_time.total_seconds() if fr.total_run_time else 0.0,
             "finished_at": fr.end_time or db.utcnow()}
    if job.kind == "batch":  # its files are generation jobs of their own: their rows and compute count there
        usage.update(rows_generated=0, compute_seconds=0.0)
    with db.session_scope() as s:
        # only while the job still runs that flow run: a job may move on to a new run (context feedback)
        claimed = s.execute(update(db.Job).where(db.Job.id == job.id, db.Job.notified_at.is_(None),
                                                 db.Job.flow_run_id == job.flow_run_id)
                            .values(final_status=status, notified_at=db.utcnow(), **usage))
        event = event_for(job.kind, status)
        if claimed.rowcount != 1 or event is None:  # another watcher got there first, or nothing to send
            return
        webhooks.enqueue(s, owner=job.owner, job_id=job.id, event=event, data=data,
                         callback_url=job.callback_url, callback_secret=job.callback_secret)


async def watch_once(settings: Settings, base_url: str) -> None:
    """One pass: notice final states, apply deferred cancels, send due deliveries."""
    jobs = await run_in_threadpool(unfinished_jobs)
    runs = await dispatch.read_many([j.flow_run_id for j in jobs])
    for job in jobs:
        if job.kind == "batch":  # its files' child runs become generation jobs as they start
            await follow_batch(job, runs.get(job.flow_run_id))
    for job in jobs:
        fr = runs.get(job.flow_run_id)
        if fr is None or fr.state is None:
            continue
        if fr.state.is_final():
            await run_in_threadpool(record_final, job, fr, dispatch.public_status(fr), base_url)
        elif job.cancel_requested_at is not None and fr.state.type not in (StateType.PENDING,
                                                                          StateType.CANCELLING):
            try:
                await dispatch.cancel(fr)
            except Exception as exc:
                log.warning("deferred cancel of %s failed: %r", job.id, exc)
    await run_in_threadpool(webhooks.deliver_due, settings)


async def run_forever(settings: Settings, base_url: str) -> None:
    """The loop started with the app; errors are logged and the loop goes on."""
    while True:
        try:
            await watch_once(settings, base_url)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("watcher pass failed")
        await asyncio.sleep(settings.watcher_interval_seconds)
