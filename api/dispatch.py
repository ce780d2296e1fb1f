"""Dispatch: turn a request into a flow run of a deployment, and read its state back."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.filters import (ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterType,
                                            FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.responses import SetStateStatus
from prefect.client.schemas.sorting import ArtifactSort, LogSort
from prefect.exceptions import ObjectNotFound
from prefect.states import Cancelled, Cancelling
from sqlalchemy import update
from starlette.concurrency import run_in_threadpool

from inferloop.core import db
from inferloop.core.errors import InferloopError
from inferloop.core.settings import get_settings
from inferloop.runtime.wakeable_worker import wake_worker

STATUS = {
    StateType.SCHEDULED: "pending", StateType.PENDING: "pending", StateType.PAUSED: "pending",
    StateType.RUNNING: "running", StateType.CANCELLING: "running",
    StateType.COMPLETED: "completed",
    StateType.FAILED: "failed", StateType.CRASHED: "failed",
    StateType.CANCELLED: "cancelled",
}

_deployment_ids: dict[str, UUID] = {}


def public_status(fr: FlowRun) -> str:
    return STATUS.get(fr.state.type, "pending") if fr.state else "pending"


async def _deployment_id(client, flow_name: str, variant: str | None = None) -> UUID:
    name = get_settings().deployment_name(flow_name) + (f"-{variant}" if variant else "")
    if name not in _deployment_ids:
        try:
            dep = await client.read_deployment_by_name(name)
        except ObjectNotFound:
            raise InferloopError("GENERATION_FAILED", f"deployment '{name}' is not registered; "
                                 "start the platform with `inferloop-tabular serve`", status=503,
                                 terminal=False)
        _deployment_ids[name] = dep.id
    return _deployment_ids[name]


async def submit(flow_name: str, parameters: dict[str, Any], *, tags: list[str] | None = None,
                 job_variables: dict | None = None, variant: str | None = None,
                 deployment_id: str | None = None) -> FlowRun:
    """Create a flow run of the flow's deployment on the work pool.

    `variant` picks the flow's deployment `<flow>-<variant>` instead (e.g. "ydata": the ydata work pool);
    `deployment_id` a deployment of the flow made for one user's object (an ETL pipeline's own deployment).
    """
    async with get_client() as client:
        dep_id = UUID(deployment_id) if deployment_id else await _deployment_id(client, flow_name, variant)
        run = await client.create_flow_run_from_deployment(
            dep_id, parameters=parameters, tags=tags or ["api"], job_variables=job_variables)
    if variant is None:  # the main pool's worker looks for it now rather than at its next poll
        wake_worker(get_settings().worker_wake_socket)
    return run


async def read(flow_run_id: str | UUID) -> FlowRun:
    async with get_client() as client:
        return await client.read_flow_run(UUID(str(flow_run_id)))


async def wait(flow_run_id: str | UUID, timeout: float, poll: float = 0.5) -> FlowRun:
    """Poll until the run is final or `timeout` seconds pass; returns the last seen run."""
    end = time.monotonic() + timeout
    async with get_client() as client:
        while True:
            fr = await client.read_flow_run(UUID(str(flow_run_id)))
            if fr.state and fr.state.is_final():
                await run_in_threadpool(note_final, str(flow_run_id), public_status(fr))
                return fr
            if time.monotonic() >= end:
                return fr
            await asyncio.sleep(min(poll, max(0.05, end - time.monotonic())))


def note_final(flow_run_id: str, status: str) -> None:
    """A waiting request saw the run end: its job stops counting as running (tier concurrency) at once, before
    the watcher's pass, which still records usage and sends the webhooks."""
    with db.session_scope() as s:
        s.execute(update(db.Job).where(db.Job.flow_run_id == flow_run_id, db.Job.final_status.is_(None))
                  .values(final_status=status))


async def progress(flow_run_id: str | UUID) -> float | None:
    async with get_client() as client:
        arts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(str(flow_run_id))]),
                                           type=ArtifactFilterType(any_=["progress"])),
            sort=ArtifactSort.UPDATED_DESC, limit=1)
    return float(arts[0].data) if arts else None


def _uuid(value: str) -> UUID | None:
    try:
        return UUID(str(value))
    except ValueError:
        return None


async def read_many(flow_run_ids: list[str]) -> dict[str, FlowRun]:
    """Several flow runs in one call, by id (an id that is not a flow run id is left out, never fatal)."""
    ids = [u for u in map(_uuid, flow_run_ids) if u is not None]
    if not ids:
        return {}
    async with get_client() as client:
        runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)),
                                           limit=len(ids))
    return {str(fr.id): fr for fr in runs}


async def logs(flow_run_id: str | UUID, limit: int = 100) -> list[dict]:
    """The run's Prefect logs (worker, flow and task lines), oldest first, the last `limit` of them."""
    async with get_client() as client:
        flt = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[UUID(str(flow_run_id))]))
        newest = await client.read_logs(log_filter=flt, sort=LogSort.TIMESTAMP_DESC, limit=limit)
    return [{"timestamp": lg.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "level": _level(lg.level),
             "message": lg.message} for lg in reversed(newest)]


def _level(n: int) -> str:
    return {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}.get(n, str(n))


async def cancel(fr: FlowRun) -> str | None:
    """Propose Cancelling; returns the resulting state name, or None when deferred.

    A run that a worker is starting (PENDING) is not cancelled now: the worker would start it anyway
    (see notes/prefect-facts.md, the Pending/Submitting race); the watcher cancels it once it runs.
    """
    if fr.state.type == StateType.PENDING:
        return None
    if fr.state.type == StateType.CANCELLING:
        return fr.state.name
    # a scheduled run has no process yet: nothing for a worker to stop, so it ends Cancelled at once. A worker
    # that took it meanwhile (our read is a moment old) still starts it, and Prefect accepts Cancelled -> Running:
    # the flow then stops itself as it starts (flows/cancel_guard.py)
    new_state = (Cancelled(message="cancelled through the API") if fr.state.type == StateType.SCHEDULED
                 else Cancelling(message="cancelled through the API"))
    async with get_client() as client:
        res = await client.set_flow_run_state(fr.id, new_state)
    if res.status == SetStateStatus.ACCEPT or (res.state is not None and res.state.type in (
            StateType.CANCELLING, StateType.CANCELLED)):
        return res.state.name if res.state else "Cancelling"
    raise InferloopError("CONFLICT", f"cancel rejected by Prefect: {res.details}", status=409)


async def healthy() -> bool:
    try:
        async with get_client() as client:
            return (await client.api_healthcheck()) is None
    except Exception:
        return False
