"""Webhooks: POST/GET /webhooks, DELETE /webhooks/{id}, GET /webhooks/{id}/deliveries.

An owner sees and manages only their own webhooks; another owner's id answers exactly like an unknown one.
Secrets are write-only: stored to sign deliveries, never returned.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentOwner, SettingsDep
from inferloop.core import webhook_registry
from inferloop.core.webhooks import EVENTS, check_events, check_secret, check_webhook_url

router = APIRouter(tags=["webhooks"])


class WebhookCreate(BaseModel):
    """The documented configuration body."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="http(s) URL that receives the POSTs")
    events: list[str] = Field(description=f"events to receive: {', '.join(EVENTS)}")
    secret: str | None = Field(None, description="8 to 256 characters; signs every delivery (never returned)")


@router.post("/webhooks", status_code=201, summary="Register a webhook for async notifications")
async def create_webhook(body: WebhookCreate, owner: CurrentOwner, settings: SettingsDep):
    events = check_events(body.events)
    secret = check_secret(body.secret)
    url = await run_in_threadpool(check_webhook_url, body.url, settings)  # resolves the host: blocking
    hook = await run_in_threadpool(webhook_registry.create, owner, url, events, secret)
    return webhook_registry.webhook_view(hook)


@router.get("/webhooks", summary="The caller's webhooks")
async def list_webhooks(owner: CurrentOwner):
    hooks = await run_in_threadpool(webhook_registry.list_active, owner)
    return {"webhooks": [webhook_registry.webhook_view(h) for h in hooks]}


@router.delete("/webhooks/{webhook_id}", summary="Delete a webhook (its pending deliveries are dropped)")
async def delete_webhook(webhook_id: str, owner: CurrentOwner):
    await run_in_threadpool(webhook_registry.delete, webhook_id, owner)
    return {"ok": True, "webhook_id": webhook_id}


@router.get("/webhooks/{webhook_id}/deliveries", summary="A webhook's deliveries, newest first")
async def list_deliveries(webhook_id: str, owner: CurrentOwner,
                          limit: Annotated[int, Query(ge=1, le=1000)] = 100):
    rows = await run_in_threadpool(webhook_registry.deliveries, webhook_id, owner, limit)
    return {"deliveries": [webhook_registry.delivery_view(d) for d in rows]}
