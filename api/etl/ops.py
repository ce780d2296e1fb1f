"""Monitoring and notifications: GET /observability/metrics, POST/GET /webhooks, DELETE /webhooks/{id}.

Metrics come from Prefect: the flow runs of the caller's pipeline deployments (states, start times, run time)
plus the row counts each run recorded in its manifest. Webhooks use the platform's machinery (signed deliveries
with retries, sent by the API's watcher when a run's final state is seen): events pipeline.completed and
pipeline.failed.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from api import dispatch
from api.deps import SettingsDep
from api.jobs import read_manifest
from api.etl import service as etl_service
from api.etl.deps import EtlOwner, PageDep, iso, paginate
from inferloop.core import webhook_registry
from inferloop.core import db
from inferloop.core.errors import InferloopError, not_found
from inferloop.core.webhooks import check_secret, check_webhook_url
from tasks.etl import store

router = APIRouter(tags=["etl: monitoring"])

METRICS = ("pipeline_executions", "pipeline_failures", "pipeline_duration", "rows_processed", "success_rate")
INTERVALS = {"minute": 60, "hour": 3600, "day": 86400}
STATUS = {"pending": "pending", "running": "running", "completed": "success", "failed": "failed",
          "cancelled": "cancelled"}
MAX_MANIFESTS = 2000


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _bucket(t: datetime, seconds: int) -> str:
    epoch = int(t.timestamp()) // seconds * seconds
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@router.get("/observability/metrics", summary="Pipeline metrics from Prefect flow runs")
async def metrics(owner: EtlOwner, start: datetime | None = None, end: datetime | None = None,
                  metric: Annotated[str, Query()] = "pipeline_executions",
                  interval: Literal["minute", "hour", "day"] = "hour",
                  pipeline_id: Annotated[str | None, Query(max_length=64)] = None):
    if metric not in METRICS:
        raise InferloopError("INVALID_REQUEST", f"metric must be one of {', '.join(METRICS)}", "metric")
    end = _utc(end) if end else datetime.now(timezone.utc)
    start = _utc(start) if start else end - timedelta(days=1)
    if start >= end:
        raise InferloopError("INVALID_REQUEST", "start must be before end", "start")
    if end - start > timedelta(days=366):
        raise InferloopError("INVALID_REQUEST", "the window is at most 366 days", "start")
    pipes = await run_in_threadpool(store.owner_pipelines, owner)
    if pipeline_id is not None:
        pipes = [p for p in pipes if p.id == pipeline_id]
        if not pipes:
            raise not_found("pipeline", pipeline_id)
    by_dep = {p.deployment_id: p for p in pipes if p.deployment_id}
    runs = await etl_service.flow_runs(list(by_dep), start, end)
    step = INTERVALS[interval]
    groups: dict[tuple, list] = defaultdict(list)
    finished, succeeded, durations, rows_total = 0, 0, [], 0
    manifests = 0
    for fr in runs:
        pipe = by_dep.get(str(fr.deployment_id))
        if pipe is None or fr.start_time is None:
            continue
        status = STATUS[dispatch.public_status(fr)]
        rows = None
        if status == "success" and manifests < MAX_MANIFESTS and metric == "rows_processed":
            manifests += 1
            m = await run_in_threadpool(read_manifest, str(fr.id)) or {}
            rows = (m.get("rows") or {}).get("loaded")
            rows_total += rows or 0
        seconds = fr.total_run_time.total_seconds() if fr.total_run_time else None
        if status in ("success", "failed", "cancelled"):
            finished += 1
            succeeded += status == "success"
            if seconds is not None:
                durations.append(seconds)
        groups[(_bucket(fr.start_time, step), pipe.id, pipe.name, status)].append((seconds, rows))
    points = []
    keyed: dict[tuple, dict] = defaultdict(lambda: {"runs": 0, "ok": 0, "done": 0, "secs": [], "rows": 0})
    for (bucket, pid, name, status), items in groups.items():
        if metric == "pipeline_executions":
            points.append({"timestamp": bucket, "value": len(items),
                           "labels": {"pipeline": name, "pipeline_id": pid, "status": status}})
            continue
        k = keyed[(bucket, pid, name)]
        k["runs"] += len(items)
        k["done"] += len(items) if status in ("success", "failed", "cancelled") else 0
        k["ok"] += len(items) if status == "success" else 0
        k["failed"] = k.get("failed", 0) + (len(items) if status == "failed" else 0)
        k["secs"].extend(s for s, _ in items if s is not None and status != "running")
        k["rows"] += sum(r or 0 for _, r in items)
    for (bucket, pid, name), k in keyed.items():
        value = {"pipeline_failures": k.get("failed", 0),
                 "pipeline_duration": round(sum(k["secs"]) / len(k["secs"]), 3) if k["secs"] else None,
                 "rows_processed": k["rows"],
                 "success_rate": round(k["ok"] / k["done"], 4) if k["done"] else None}[metric]
        points.append({"timestamp": bucket, "value": value, "labels": {"pipeline": name, "pipeline_id": pid}})
    points.sort(key=lambda p: (p["timestamp"], p["labels"]["pipeline"]))
    aggregates = {"total": sum(len(v) for v in groups.values()),
                  "success_rate": round(succeeded / finished, 4) if finished else None,
                  "avg_duration_seconds": round(sum(durations) / len(durations), 3) if durations else None,
                  "failed": sum(len(v) for k, v in groups.items() if k[3] == "failed")}
    if metric == "rows_processed":
        aggregates["rows_processed"] = rows_total
    return {"metric": metric, "start": iso(start), "end": iso(end), "interval": interval, "metrics": points,
            "aggregates": aggregates}


# --- webhooks ------------------------------------------------------------------------------------------------

class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=2048)
    events: list[str] = Field(description="pipeline.completed, pipeline.failed")
    secret: str | None = Field(None, description="8 to 256 characters; signs every delivery (never returned)")


def _events(events: list[str]) -> list[str]:
    unknown = [e for e in events if e not in store.EVENTS]
    if not events or unknown:
        raise InferloopError("INVALID_REQUEST", f"events must be a non-empty list of: {', '.join(store.EVENTS)}"
                             + (f" (unknown: {', '.join(unknown)})" if unknown else ""), "events")
    return list(dict.fromkeys(events))


def _etl_hooks(owner: str) -> list[db.Webhook]:
    with db.session_scope() as s:
        hooks = s.scalars(select(db.Webhook).where(db.Webhook.owner == owner, db.Webhook.active.is_(True))
                          .order_by(db.Webhook.created_at)).all()
    return [h for h in hooks if set(h.events or []) & set(store.EVENTS)]


@router.post("/webhooks", status_code=201, summary="Configure a webhook for pipeline events")
async def create_webhook(body: WebhookCreate, owner: EtlOwner, settings: SettingsDep):
    events = _events(body.events)
    secret = check_secret(body.secret)
    url = await run_in_threadpool(check_webhook_url, body.url, settings)
    hook = await run_in_threadpool(webhook_registry.create, owner, url, events, secret)
    return webhook_registry.webhook_view(hook)


@router.get("/webhooks", summary="The caller's pipeline webhooks (paginated)")
async def list_webhooks(request: Request, response: Response, owner: EtlOwner, page: PageDep):
    hooks = await run_in_threadpool(_etl_hooks, owner)
    return {"webhooks": [webhook_registry.webhook_view(h) for h in hooks[page.offset:page.offset + page.per_page]],
            **paginate(request, response, page, len(hooks))}


@router.delete("/webhooks/{webhook_id}", summary="Delete a webhook")
async def delete_webhook(webhook_id: str, owner: EtlOwner):
    if webhook_id not in {h.id for h in await run_in_threadpool(_etl_hooks, owner)}:
        raise not_found("webhook", webhook_id)
    await run_in_threadpool(webhook_registry.delete, webhook_id, owner)
    return {"message": "Webhook deleted", "webhook_id": webhook_id}
