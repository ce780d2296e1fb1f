"""Dispatch: turn a request into a flow run of a deployment, and read its state back."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterType
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import ArtifactSort
from prefect.exceptions import ObjectNotFound

from inferloop.errors import InferloopError
from inferloop.settings import get_settings

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


async def _deployment_id(client, flow_name: str) -> UUID:
    name = get_settings().deployment_name(flow_name)
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
                 job_variables: dict | None = None) -> FlowRun:
    """Create a flow run of the flow's deployment on the work pool."""
    async with get_client() as client:
        dep_id = await _deployment_id(client, flow_name)
        return await client.create_flow_run_from_deployment(
            dep_id, parameters=parameters, tags=tags or ["api"], job_variables=job_variables)


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
                return fr
            if time.monotonic() >= end:
                return fr
            await asyncio.sleep(min(poll, max(0.05, end - time.monotonic())))


async def progress(flow_run_id: str | UUID) -> float | None:
    async with get_client() as client:
        arts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(str(flow_run_id))]),
                                           type=ArtifactFilterType(any_=["progress"])),
            sort=ArtifactSort.UPDATED_DESC, limit=1)
    return float(arts[0].data) if arts else None


async def healthy() -> bool:
    try:
        async with get_client() as client:
            return (await client.api_healthcheck()) is None
    except Exception:
        return False
