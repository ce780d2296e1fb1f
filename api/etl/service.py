"""Pipelines as Prefect deployments: create, update, schedule, pause/resume, delete, run, and read back.

A pipeline is the deployment `etl_pipeline/<pipeline_id>` of the `etl_pipeline` flow. It copies the base
deployment `etl_pipeline` of prefect.yaml (entrypoint, pull step into the project folder, work pool, job
variables such as `command`, parameter schema) and carries the pipeline's own parameters and schedule, so the
Prefect UI shows it like any other deployment and a worker runs it without importing anything into the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.actions import DeploymentUpdate
from prefect.client.schemas.filters import (DeploymentFilter, DeploymentFilterId, FlowRunFilter, FlowRunFilterId,
                                            FlowRunFilterStartTime, TaskRunFilter, TaskRunFilterFlowRunId)
from prefect.client.schemas.objects import FlowRun, TaskRun
from prefect.client.schemas.responses import DeploymentResponse
from prefect.client.schemas.schedules import CronSchedule
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectNotFound

from inferloop.core.errors import InferloopError
from inferloop.core.settings import get_settings

FLOW = "etl_pipeline"
TIMEZONE = "UTC"


async def _base(client) -> DeploymentResponse:
    name = get_settings().deployment_name(FLOW)
    try:
        return await client.read_deployment_by_name(name)
    except ObjectNotFound:
        raise InferloopError("GENERATION_FAILED", f"deployment '{name}' is not registered; start the platform with "
                             "`inferloop-tabular serve` (it deploys prefect.yaml)", status=503, terminal=False)


def deployment_name(pipeline_id: str) -> str:
    return f"{FLOW}/{pipeline_id}"


async def create(pipeline_id: str, parameters: dict, description: str, tags: list[str],
                 cron: str | None = None, active: bool = False) -> str:
    """The pipeline's deployment (with an inactive or active cron schedule); returns its id."""
    async with get_client() as client:
        base = await _base(client)
        schedules = None
        if cron:
            from prefect.client.schemas.actions import DeploymentScheduleCreate

            schedules = [DeploymentScheduleCreate(schedule=CronSchedule(cron=cron, timezone=TIMEZONE),
                                                  active=active)]
        dep_id = await client.create_deployment(
            flow_id=base.flow_id, name=pipeline_id, parameters=parameters, description=description[:2000],
            work_pool_name=base.work_pool_name, work_queue_name=base.work_queue_name, tags=["etl", *tags],
            path=base.path, entrypoint=base.entrypoint, pull_steps=base.pull_steps,
            job_variables=dict(base.job_variables or {}), parameter_openapi_schema=base.parameter_openapi_schema,
            enforce_parameter_schema=False, schedules=schedules)
    return str(dep_id)


async def read(deployment_id: str) -> DeploymentResponse:
    async with get_client() as client:
        try:
            return await client.read_deployment(UUID(deployment_id))
        except ObjectNotFound:
            raise InferloopError("NOT_FOUND", f"the pipeline's deployment {deployment_id} is gone from Prefect",
                                 status=404)


async def read_many(deployment_ids: list[str]) -> dict[str, DeploymentResponse]:
    if not deployment_ids:
        return {}
    async with get_client() as client:
        deps = await client.read_deployments(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[UUID(i) for i in deployment_ids])),
            limit=len(deployment_ids))
    return {str(d.id): d for d in deps}


async def update(deployment_id: str, *, parameters: dict | None = None, tags: list[str] | None = None,
                 description: str | None = None) -> None:
    values: dict[str, Any] = {}
    if parameters is not None:
        values["parameters"] = parameters
    if tags is not None:
        values["tags"] = tags
    if description is not None:
        values["description"] = description[:2000]
    async with get_client() as client:
        await client.update_deployment(UUID(deployment_id), DeploymentUpdate(**values))


async def set_schedule(deployment_id: str, cron: str, active: bool) -> dict:
    """Replace the deployment's schedules by one cron schedule."""
    async with get_client() as client:
        dep = UUID(deployment_id)
        for s in await client.read_deployment_schedules(dep):
            await client.delete_deployment_schedule(dep, s.id)
        created = await client.create_deployment_schedules(dep, [(CronSchedule(cron=cron, timezone=TIMEZONE),
                                                                  active)])
        if active:
            await client.update_deployment(dep, DeploymentUpdate(paused=False))
    return schedule_view(created[0])


async def set_active(deployment_id: str, active: bool) -> list[dict]:
    """Pause (active=False) or resume every schedule of the deployment."""
    async with get_client() as client:
        dep = UUID(deployment_id)
        schedules = await client.read_deployment_schedules(dep)
        for s in schedules:
            await client.update_deployment_schedule(dep, s.id, active=active)
        return [schedule_view(s) for s in await client.read_deployment_schedules(dep)]


async def delete_schedules(deployment_id: str) -> int:
    async with get_client() as client:
        dep = UUID(deployment_id)
        schedules = await client.read_deployment_schedules(dep)
        for s in schedules:
            await client.delete_deployment_schedule(dep, s.id)
    return len(schedules)


async def delete(deployment_id: str) -> None:
    async with get_client() as client:
        try:
            await client.delete_deployment(UUID(deployment_id))
        except ObjectNotFound:
            pass


async def task_runs(flow_run_id: str) -> list[TaskRun]:
    async with get_client() as client:
        return await client.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[UUID(flow_run_id)])), limit=50)


async def flow_runs(deployment_ids: list[str], start: datetime | None = None, end: datetime | None = None,
                    flow_run_ids: list[str] | None = None, limit: int = 10_000) -> list[FlowRun]:
    """Flow runs of the deployments that started within [start, end] (every page of them)."""
    if not deployment_ids and not flow_run_ids:
        return []
    flt = FlowRunFilter(start_time=FlowRunFilterStartTime(after_=start, before_=end, is_null_=False)
                        if start or end else None,
                        id=FlowRunFilterId(any_=[UUID(i) for i in flow_run_ids]) if flow_run_ids else None)
    dep_flt = DeploymentFilter(id=DeploymentFilterId(any_=[UUID(i) for i in deployment_ids])) \
        if deployment_ids else None
    out: list[FlowRun] = []
    async with get_client() as client:
        while len(out) < limit:
            page = await client.read_flow_runs(flow_run_filter=flt, deployment_filter=dep_flt,
                                               sort=FlowRunSort.START_TIME_DESC, offset=len(out),
                                               limit=min(200, limit - len(out)))
            out.extend(page)
            if len(page) < 200:
                break
    return out


def schedule_view(s) -> dict:
    sched = s.schedule
    cron = getattr(sched, "cron", None)
    view = {"schedule_id": str(s.id), "cron": cron, "timezone": getattr(sched, "timezone", None) or TIMEZONE,
            "active": bool(s.active)}
    if cron and s.active:
        view["next_runs"] = next_runs(cron)
    return view


def next_runs(cron: str, n: int = 3) -> list[str]:
    from tasks.etl import nl

    return [d.strftime("%Y-%m-%dT%H:%M:%SZ") for d in nl.next_fire_times(cron, n)]
