"""Webhooks and job callbacks: checking targets, signing payloads, queueing and sending deliveries.

A final job state becomes rows in `webhook_deliveries` (`enqueue`, in the caller's transaction); a loop
calls `deliver_due` to POST every due row, with exponential backoff on failure. Bodies are the documented
payload `{"event", "data", "timestamp", "signature"}`; secrets are read at send time and never stored on
a delivery, returned, or logged.

Signatures (both checkable with the document's `verify_webhook(payload, signature, secret)`):
- header `X-Inferloop-Signature`: HMAC-SHA256 of the exact raw body;
- body `signature`: HMAC-SHA256 of the canonical JSON of the payload without `signature`
  (`json.dumps(p, sort_keys=True, separators=(",", ":"))`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import urlparse

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from inferloop import __version__
from inferloop.core import db
from inferloop.core.errors import InferloopError
from inferloop.core.settings import Settings
from inferloop.core.sources import check_public_host

log = logging.getLogger("inferloop.webhooks")

# the documented events; the /api/v1 systems add theirs with register_events (one list, updated in place)
EVENTS: list[str] = ["generation.completed", "job.failed", "job.cancelled", "model.trained"]
SECRET_MIN, SECRET_MAX = 8, 256
MAX_URL_LENGTH = 2048
MAX_ERROR_LENGTH = 500
SEND_THREADS = 8
CLAIM_GRACE_SECONDS = 60.0  # a claimed delivery is not picked again for timeout + this (crash safety)


def _invalid(message: str, field: str) -> InferloopError:
    return InferloopError("INVALID_REQUEST", message, field)


def _utc(dt: datetime | None) -> datetime:
    """An aware UTC datetime (naive ones are taken as UTC); now when None."""
    if dt is None:
        return db.utcnow()
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


# --- checks -------------------------------------------------------------------------------------------

def check_webhook_url(url: str, settings: Settings, field: str = "url") -> str:
    """Return the stripped URL, or raise INVALID_REQUEST: http(s) only, public hosts unless allowed."""
    if not isinstance(url, str) or not url.strip():
        raise _invalid(f"{field} must be a non-empty http:// or https:// URL", field)
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise _invalid(f"{field} is longer than {MAX_URL_LENGTH} characters", field)
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise _invalid(f"{field} contains whitespace or control characters", field)
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme not in ("http", "https"):
        raise _invalid(f"{field} must be an http:// or https:// URL (scheme '{scheme or 'none'}' is "
                       "not allowed)", field)
    try:
        host, _ = parsed.hostname, parsed.port
    except ValueError:
        raise _invalid(f"{field} has an invalid port", field)
    if not host:
        raise _invalid(f"{field} has no host", field)
    if not settings.webhook_allow_private:
        check_public_host(host, field)
    return url


def register_events(*events: str) -> None:
    """Add a system's webhook events (final states of its job kinds, e.g. pipeline.completed) to the known ones."""
    EVENTS.extend(e for e in events if e not in EVENTS)


def check_events(events: object) -> list[str]:
    """A non-empty list of known event names (duplicates dropped), or INVALID_REQUEST on `events`."""
    if not isinstance(events, (list, tuple)) or not events:
        raise _invalid(f"events must be a non-empty list of: {', '.join(EVENTS)}", "events")
    if not all(isinstance(e, str) for e in events):
        raise _invalid("events must be a list of strings", "events")
    unknown = [e for e in events if e not in EVENTS]
    if unknown:
        raise _invalid(f"unknown event(s): {', '.join(repr(e) for e in unknown)}; "
                       f"known events: {', '.join(EVENTS)}", "events")
    return list(dict.fromkeys(events))


def check_secret(secret: object, field: str = "secret") -> str:
    """A signing secret of SECRET_MIN..SECRET_MAX characters, or INVALID_REQUEST (never echoing it)."""
    if secret is None or secret == "":
        raise _invalid(f"{field} is required: {SECRET_MIN} to {SECRET_MAX} characters, used to sign "
                       "every delivery", field)
    if not isinstance(secret, str):
        raise _invalid(f"{field} must be a string", field)
    if not SECRET_MIN <= len(secret) <= SECRET_MAX:
        raise _invalid(f"{field} must be {SECRET_MIN} to {SECRET_MAX} characters long "
                       f"(got {len(secret)})", field)
    return secret


# --- payloads and signatures --------------------------------------------------------------------------

def sign(body: bytes | str, secret: str) -> str:
    """`sha256=<hex HMAC-SHA256 of body>`: what the document's verify_webhook checks."""
    raw = body.encode() if isinstance(body, str) else body
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def canonical_json(payload: dict) -> str:
    """The canonical JSON text the in-body signature covers."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def iso_z(dt: datetime) -> str:
    """ISO-8601 in UTC with a Z, to the second (as in the documented payload)."""
    return _utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_payload(event: str, data: dict, timestamp: datetime) -> dict:
    """The documented payload without its signature."""
    return {"event": event, "data": json.loads(json.dumps(data, default=str)), "timestamp": iso_z(timestamp)}


def render(payload: dict, secret: str | None) -> tuple[bytes, dict[str, str]]:
    """The body to POST (signed payload) and its headers; unsigned when there is no secret."""
    base = {k: v for k, v in payload.items() if k != "signature"}
    headers = {"Content-Type": "application/json", "User-Agent": f"inferloop-webhooks/{__version__}",
               "X-Inferloop-Event": str(base.get("event", ""))}
    if not secret:
        return json.dumps(base, separators=(",", ":")).encode(), headers
    signed = {**base, "signature": sign(canonical_json(base), secret)}
    body = json.dumps(signed, separators=(",", ":")).encode()
    headers["X-Inferloop-Signature"] = sign(body, secret)
    return body, headers


# --- queueing -----------------------------------------------------------------------------------------

def enqueue(session: Session, *, owner: str, job_id: str | None, event: str, data: dict,
            callback_url: str | None = None, callback_secret: str | None = None,
            now: datetime | None = None) -> list[db.WebhookDelivery]:
    """Queue one pending delivery per subscribed active webhook of the owner, plus one for callback_url.

    Secrets are not copied onto deliveries: `deliver_due` reads the webhook's secret, the job's
    callback_secret (callback_secret here is that same value, kept on the job row) or
    settings.callback_secret when it sends.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    now = _utc(now)
    payload = make_payload(event, data, now)
    hooks = session.scalars(select(db.Webhook).where(db.Webhook.owner == owner, db.Webhook.active.is_(True))
                            .order_by(db.Webhook.created_at)).all()
    targets: list[tuple[str | None, str]] = [(h.id, h.url) for h in hooks if event in (h.events or [])]
    if callback_url:
        targets.append((None, callback_url))
    rows = [db.WebhookDelivery(id=db.new_id("dlv"), owner=owner, webhook_id=hook_id, job_id=job_id,
                               event=event, url=url, payload=payload, status="pending", attempts=0,
                               next_attempt_at=now, created_at=now) for hook_id, url in targets]
    session.add_all(rows)
    session.flush()
    if rows:
        log.info("queued %d delivery(ies) of %s for job %s (callback: %s, signed callback: %s)", len(rows),
                 event, job_id, bool(callback_url), bool(callback_secret))
    return rows


# --- sending ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Claimed:
    """A delivery claimed for one attempt, with what sending it needs."""

    id: str
    url: str
    event: str
    payload: dict
    attempts: int
    secret: str
    gone: bool  # its webhook was deleted (or deactivated): never sent


@dataclass(frozen=True)
class _Outcome:
    """The result of one attempt."""

    ok: bool
    status: int | None = None
    error: str | None = None


def _due_ids(now: datetime, limit: int) -> list[str]:
    with db.session_scope() as s:
        return list(s.scalars(select(db.WebhookDelivery.id)
                              .where(db.WebhookDelivery.status == "pending",
                                     db.WebhookDelivery.next_attempt_at <= now)
                              .order_by(db.WebhookDelivery.next_attempt_at).limit(limit)))


def _secret_of(s: Session, d: db.WebhookDelivery, settings: Settings) -> tuple[str, bool]:
    """(secret, gone): the webhook's secret, or the job's callback secret, or the server default."""
    if d.webhook_id is not None:
        hook = s.get(db.Webhook, d.webhook_id)
        if hook is None or not hook.active or hook.owner != d.owner:
            return "", True
        return hook.secret, False
    job = s.get(db.Job, d.job_id) if d.job_id else None
    own = job.callback_secret if job is not None else None
    return own or settings.callback_secret, False


def _claim(delivery_id: str, now: datetime, settings: Settings) -> _Claimed | None:
    """Take a due delivery for one attempt (so concurrent loops never send it twice at once)."""
    lease = now + timedelta(seconds=settings.webhook_timeout_seconds + CLAIM_GRACE_SECONDS)
    with db.session_scope() as s:
        taken = s.execute(update(db.WebhookDelivery)
                          .where(db.WebhookDelivery.id == delivery_id, db.WebhookDelivery.status == "pending",
                                 db.WebhookDelivery.next_attempt_at <= now)
                          .values(next_attempt_at=lease))
        if taken.rowcount != 1:
            return None
        d = s.get(db.WebhookDelivery, delivery_id)
        secret, gone = _secret_of(s, d, settings)
        return _Claimed(d.id, d.url, d.event, dict(d.payload), d.attempts, secret or "", gone)


def _short(message: str, secret: str) -> str:
    """A short error text that never contains the secret."""
    if secret:
        message = message.replace(secret, "***")
    return message if len(message) <= MAX_ERROR_LENGTH else message[:MAX_ERROR_LENGTH - 3] + "..."


def _send(client: httpx.Client, c: _Claimed, settings: Settings) -> _Outcome:
    """One POST of a claimed delivery, after re-checking its URL."""
    try:
        check_webhook_url(c.url, settings)
    except InferloopError as exc:
        return _Outcome(False, None, _short(f"refused: {exc.message}", c.secret))
    body, headers = render(c.payload, c.secret or None)
    headers["X-Inferloop-Delivery"] = c.id
    try:
        resp = client.post(c.url, content=body, headers=headers)
    except httpx.TimeoutException:
        return _Outcome(False, None, f"timeout after {settings.webhook_timeout_seconds:g}s")
    except Exception as exc:  # connection errors, bad URLs, TLS...: all recorded as a failed attempt
        return _Outcome(False, None, _short(f"{type(exc).__name__}: {exc}", c.secret))
    if 200 <= resp.status_code < 300:
        return _Outcome(True, resp.status_code)
    return _Outcome(False, resp.status_code, _short(f"HTTP {resp.status_code} {resp.reason_phrase}".strip(),
                                                    c.secret))


def _record(c: _Claimed, outcome: _Outcome, now: datetime, settings: Settings) -> None:
    """Store an attempt's result: delivered, or retried later with backoff, or failed for good."""
    attempts = c.attempts + 1
    values: dict = {"attempts": attempts, "response_status": outcome.status, "last_error": outcome.error}
    if outcome.ok:
        values.update(status="delivered", delivered_at=now, next_attempt_at=now)
    elif attempts >= settings.webhook_max_attempts:
        values.update(status="failed", next_attempt_at=now)
    else:
        delay = settings.webhook_backoff_seconds * 2 ** (attempts - 1)
        values.update(next_attempt_at=now + timedelta(seconds=delay))
    with db.session_scope() as s:
        s.execute(update(db.WebhookDelivery).where(db.WebhookDelivery.id == c.id).values(**values))
    host = urlparse(c.url).hostname
    result = "delivered" if outcome.ok else f"failed ({outcome.error}); now {values.get('status', 'pending')}"
    log.info("delivery %s (%s) to %s: attempt %d %s", c.id, c.event, host, attempts, result)


def _drop_gone(c: _Claimed, now: datetime) -> None:
    """A delivery whose webhook was deleted is failed without being sent."""
    with db.session_scope() as s:
        s.execute(update(db.WebhookDelivery).where(db.WebhookDelivery.id == c.id)
                  .values(status="failed", last_error="webhook was deleted before delivery",
                          next_attempt_at=now))


def fail_pending(webhook_id: str, reason: str, now: datetime | None = None) -> int:
    """Mark a webhook's pending deliveries failed (e.g. when it is deleted); returns how many."""
    with db.session_scope() as s:
        res = s.execute(update(db.WebhookDelivery)
                        .where(db.WebhookDelivery.webhook_id == webhook_id,
                               db.WebhookDelivery.status == "pending")
                        .values(status="failed", last_error=reason, next_attempt_at=_utc(now)))
        return res.rowcount or 0


def _claim_all(ids: Iterable[str], now: datetime, settings: Settings) -> list[_Claimed]:
    claimed = [c for c in (_claim(i, now, settings) for i in ids) if c is not None]
    for c in claimed:
        if c.gone:
            _drop_gone(c, now)
    return [c for c in claimed if not c.gone]


def deliver_due(settings: Settings, now: datetime | None = None, limit: int = 50) -> int:
    """Send every pending delivery due at `now`; record each attempt; return how many were attempted."""
    now = _utc(now)
    claimed = _claim_all(_due_ids(now, limit), now, settings)
    if not claimed:
        return 0
    with httpx.Client(timeout=settings.webhook_timeout_seconds, follow_redirects=False,
                      trust_env=False) as client, \
            ThreadPoolExecutor(max_workers=min(SEND_THREADS, len(claimed))) as pool:
        outcomes = list(pool.map(lambda c: _send(client, c, settings), claimed))
    for c, outcome in zip(claimed, outcomes):
        _record(c, outcome, now, settings)
    return len(claimed)
