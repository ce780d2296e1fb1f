"""Webhook registrations: create, list, delete (deactivate) and read deliveries of an owner's webhooks.

Shared by the Tabular API's /webhooks and the ETL API's /webhooks. An owner sees and manages only their own
webhooks; another owner's id answers exactly like an unknown one. Secrets are write-only: stored to sign
deliveries, never returned. Delivery itself is inferloop.core.webhooks.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from inferloop.core import db
from inferloop.core.errors import not_found
from inferloop.core.webhooks import fail_pending


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


def create(owner: str, url: str, events: list[str], secret: str) -> db.Webhook:
    hook = db.Webhook(id=db.new_id("wh"), owner=owner, url=url, events=events, secret=secret, active=True,
                      created_at=db.utcnow())
    with db.session_scope() as s:
        s.add(hook)
    return hook


def list_active(owner: str) -> list[db.Webhook]:
    with db.session_scope() as s:
        return list(s.scalars(select(db.Webhook).where(db.Webhook.owner == owner, db.Webhook.active.is_(True))
                              .order_by(db.Webhook.created_at)))


def _owned(s, webhook_id: str, owner: str, *, active_only: bool) -> db.Webhook:
    """The owner's webhook, or NOT_FOUND exactly as for an unknown id."""
    hook = s.get(db.Webhook, webhook_id)
    if hook is None or hook.owner != owner or (active_only and not hook.active):
        raise not_found("webhook", webhook_id)
    return hook


def delete(webhook_id: str, owner: str) -> None:
    with db.session_scope() as s:
        hook = _owned(s, webhook_id, owner, active_only=True)
        hook.active = False
        hook.secret = ""  # a deleted webhook keeps no secret
    fail_pending(webhook_id, "webhook was deleted before delivery")


def deliveries(webhook_id: str, owner: str, limit: int) -> list[db.WebhookDelivery]:
    with db.session_scope() as s:
        _owned(s, webhook_id, owner, active_only=False)  # history stays readable after a delete
        return list(s.scalars(select(db.WebhookDelivery)
                              .where(db.WebhookDelivery.webhook_id == webhook_id,
                                     db.WebhookDelivery.owner == owner)
                              .order_by(db.WebhookDelivery.created_at.desc(), db.WebhookDelivery.id.desc())
                              .limit(limit)))
