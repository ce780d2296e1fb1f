"""Batches on the API side: the child flow runs of a batch run, and the Job rows that make them generations.

A batch is one parent flow run (its Job row, kind "batch", has the batch's id) that runs one `generate`
subflow per file. The API assigns each file a generation id up front; the flow tags that file's child
run `job:<id>`. Once a child run exists it gets a Job row (kind "generate") with that id, so
/download/{id}, /jobs/{id}, webhooks and usage treat it exactly like any other generation. The state of
every file is read from its child run in Prefect; nothing about it is copied here.
"""

from __future__ import annotations

import logging
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import FlowRunSort
from prefect.states import Cancelled, Crashed
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from inferloop.core import db

log = logging.getLogger("inferloop.batches")

JOB_TAG = "job:"


def get_batch(batch_id: str, owner: str) -> db.Batch:
    """The owner's batch, or NOT_FOUND (another owner's batch answers exactly like an unknown one)."""
    return db.owned(db.Batch, batch_id, owner, "batch")


async def child_runs(parent_flow_run_id: str) -> dict[str, FlowRun]:
    """The batch run's child runs by the generation id in their `job:<id>` tag (the newest when retried)."""
    async with get_client() as client:
        runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[UUID(parent_flow_run_id)])),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC)
    by_job: dict[str, FlowRun] = {}
    for fr in runs:
        for tag in fr.tags:
            if tag.startswith(JOB_TAG):
                by_job[tag[len(JOB_TAG):]] = fr
    return by_job


def link_children(batch: db.Batch, runs: dict[str, FlowRun]) -> None:
    """Give every started child run its generation Job row (once; concurrent callers are harmless)."""
    wanted = {f["job_id"]: f for f in batch.files if f["job_id"] in runs}
    if not wanted:
        return
    with db.session_scope() as s:
        have = set(s.scalars(select(db.Job.id).where(db.Job.id.in_(list(wanted)))))
    missing = [f for job_id, f in wanted.items() if job_id not in have]
    opts = batch.options
    for f in missing:
        try:
            with db.session_scope() as s:
                s.add(db.Job(id=f["job_id"], kind="generate", owner=batch.owner, algorithm=opts["algorithm"],
                             flow_run_id=str(runs[f["job_id"]].id), input_uri=f["uri"],
                             options={"format": opts["output_format"], "num_rows": opts["num_rows"],
                                      "seed": opts["seed"], "parameters": opts["parameters"],
                                      "batch_id": batch.id, "name": f["name"]}))
        except IntegrityError:  # another caller (the watcher, a status request) linked it first
            pass


async def follow_batch(job: db.Job, parent: FlowRun | None) -> None:
    """For the watcher: link the batch's started child runs; once the batch run ended, end those it left.

    A child runs inside the batch run's process, so it cannot outlive it: a batch run that crashed (its
    process killed) leaves its running child Running in Prefect for ever, and its generation job unfinished.
    Such a child is set Crashed (Cancelled when the batch was cancelled), which the watcher then reports.
    """
    try:
        with db.session_scope() as s:
            batch = s.scalars(select(db.Batch).where(db.Batch.job_id == job.id)).first()
        if batch is None or not job.flow_run_id:
            return
        ended = bool(parent and parent.state and parent.state.is_final())
        if not ended and len(await run_in_threadpool(_linked, batch)) == len(batch.files):
            return
        runs = await child_runs(job.flow_run_id)
        await run_in_threadpool(link_children, batch, runs)
        if ended:
            await _end_unfinished(list(runs.values()), parent)
    except Exception as exc:  # never break the watcher's pass; the next one tries again
        log.warning("following batch %s failed: %r", job.id, exc)


async def _end_unfinished(children: list[FlowRun], parent: FlowRun) -> None:
    left = [fr for fr in children if fr.state is None or not fr.state.is_final()]
    if not left:
        return
    message = f"the batch run ended ({parent.state.name}) before this file finished"
    async with get_client() as client:
        for fr in left:
            state = Cancelled(message=message) if parent.state.is_cancelled() else Crashed(message=message)
            await client.set_flow_run_state(fr.id, state, force=True)


def _linked(batch: db.Batch) -> set[str]:
    ids = [f["job_id"] for f in batch.files]
    with db.session_scope() as s:
        return set(s.scalars(select(db.Job.id).where(db.Job.id.in_(ids))))
