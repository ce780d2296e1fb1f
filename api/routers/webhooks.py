"""Webhooks: POST/GET /webhooks, DELETE /webhooks/{id}, GET /webhooks/{id}/deliveries.

An owner sees and manages only their own webhooks; another owner's id answers exactly like an unknown one.
Secrets are write-only: stored to sign deliveries, never returned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentOwner, SettingsDep
from inferloop import db
from inferloop.errors import not_found
from inferloop.webhooks import EVENTS, check_events, check_secret, check_webhook_url, fail_pending

router = APIRouter(tags=["webhooks"])


class WebhookCreate(BaseModel):
    """The documented configuration body."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="http(s) URL that receives the POSTs")
    events: list[str] = Field(description=f"events to receive: {', '.join(EVENTS)}")
    secret: str | None = Field(None, description="8 to 256 characters; signs every delivery (never returned)")


def _iso(dt: datetime | None) -> str | None:
    return db.as_utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def webhook_view(hook: db.Webhook) -> dict:
    """A webhook as the API shows it (without its secret)."""
    return {"webhook_id": hook.id, "url": hook.url, "events": list(hook.events or []),
            "created_at": _iso(hook.created_at), "active": bool(hook.active)}


def delivery_view(d: db.WebhookDelivery) -> dict:
    """One delivery and its attempts."""
    return {"delivery_id": d.id, "event": d.event, "job_id": d.job_id, "status": d.status,
            "attempts": d.attempts, "response_status": d.response_status, "last_error": d.last_error,
            "created_at": _iso(d.created_at), "delivered_at": _iso(d.delivered_at),
            "next_attempt_at": _iso(d.next_attempt_at) if d.status == "pending" else None}


def _create(owner: str, url: str, events: list[str], secret: str) -> db.Webhook:
    hook = db.Webhook(id=db.new_id("wh"), owner=owner, url=url, events=events, secret=secret, active=True,
                      created_at=db.utcnow())
    with db.session_scope() as s:
        s.add(hook)
    return hook


def _list(owner: str) -> list[db.Webhook]:
    with db.session_scope() as s:
        return list(s.scalars(select(db.Webhook).where(db.Webhook.owner == owner, db.Webhook.active.is_(True))
                              .order_by(db.Webhook.created_at)))


def _owned(s, webhook_id: str, owner: str, *, active_only: bool) -> db.Webhook:
    """The owner's webhook, or NOT_FOUND exactly as for an unknown id."""
    hook = s.get(db.Webhook, webhook_id)
    if hook is None or hook.owner != owner or (active_only and not hook.active):
        raise not_found("webhook", webhook_id)
    return hook


def _delete(webhook_id: str, owner: str) -> None:
    with db.session_scope() as s:
        hook = _owned(s, webhook_id, owner, active_only=True)
        hook.active = False
        hook.secret = ""  # a deleted webhook keeps no secret
    fail_pending(webhook_id, "webhook was deleted before delivery")


def _deliveries(webhook_id: str, owner: str, limit: int) -> list[db.WebhookDelivery]:
    with db.session_scope() as s:
        _owned(s, webhook_id, owner, active_only=False)  # history stays readable after a delete
        return list(s.scalars(select(db.WebhookDelivery)
                              .where(db.WebhookDelivery.webhook_id == webhook_id,
                                     db.WebhookDelivery.owner == owner)
                              .order_by(db.WebhookDelivery.created_at.desc(), db.WebhookDelivery.id.desc())
                              .limit(limit)))


@router.post("/webhooks", status_code=201, summary="Register a webhook for async notifications")
async def create_webhook(body: WebhookCreate, owner: CurrentOwner, settings: SettingsDep):
    events = check_events(body.events)
    secret = check_secret(body.secret)
    url = await run_in_threadpool(check_webhook_url, body.url, settings)  # resolves the host: blocking
    hook = await run_in_threadpool(_create, owner, url, events, secret)
    return webhook_view(hook)


@router.get("/webhooks", summary="The caller's webhooks")
async def list_webhooks(owner: CurrentOwner):
    return {"webhooks": [webhook_view(h) for h in await run_in_threadpool(_list, owner)]}


@router.delete("/webhooks/{webhook_id}", summary="Delete a webhook (its pending deliveries are dropped)")
async def delete_webhook(webhook_id: str, owner: CurrentOwner):
    await run_in_threadpool(_delete, webhook_id, owner)
    return {"ok": True, "webhook_id": webhook_id}


@router.get("/webhooks/{webhook_id}/deliveries", summary="A webhook's deliveries, newest first")
async def list_deliveries(webhook_id: str, owner: CurrentOwner,
                          limit: Annotated[int, Query(ge=1, le=1000)] = 100):
    rows = await run_in_threadpool(_deliveries, webhook_id, owner, limit)
    return {"deliveries": [delivery_view(d) for d in rows]}
