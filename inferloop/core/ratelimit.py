"""Tier limits (tabular-api.md, "Rate Limiting"): requests/hour, rows/hour, concurrent jobs, compute hours/month.

Hourly counters are fixed windows of the `limits` library. They live in the metadata DB's `rate_counters`
table (`SQLStorage`: shared by every API process, kept across restarts) or, when
INFERLOOP_RATE_LIMIT_STORAGE is set, in any `limits` storage URI (e.g. `redis://127.0.0.1:6379`).
Concurrent jobs and monthly compute are read from the jobs table (the watcher records final states).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import limits
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from inferloop.core import db
from inferloop.core.auth import Principal
from inferloop.core.errors import InferloopError
from inferloop.core.settings import Settings, get_settings
from inferloop.core.tiers import limits_for

NAMESPACE = "inferloop"
REQUESTS = "requests"  # counter kinds: the first identifier of every key
ROWS = "rows"


# --- the SQL storage -------------------------------------------------------------------------------------

class SQLStorage(Storage):
    """A `limits` storage for fixed windows in the `rate_counters` table (SQLite or PostgreSQL)."""

    STORAGE_SCHEME = ["inferloop+sql"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, *, database_url: str | None = None,
                 clock: Callable[[], float] = time.time, **options: float | str | bool) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.database_url = database_url or get_settings().database
        self.clock = clock

    @property
    def engine(self) -> Engine:
        return db.engine_for(self.database_url)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return SQLAlchemyError

    @property
    def _sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add `amount` to the key's live window, or start a new window of `expiry` seconds with it."""
        t = db.RateCounter.__table__
        for attempt in range(5):
            now = self.clock()
            try:
                with self.engine.begin() as conn:
                    bumped = conn.execute(update(t).where(t.c.key == key, t.c.expires_at > now)
                                          .values(count=t.c.count + amount))
                    if bumped.rowcount:
                        return int(conn.scalar(select(t.c.count).where(t.c.key == key)))
                    conn.execute(delete(t).where(t.c.key == key, t.c.expires_at <= now))
                    conn.execute(insert(t).values(key=key, count=amount, expires_at=now + expiry))
                    return amount
            except IntegrityError:  # another process started this window first: count in it
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    def decr(self, key: str, amount: int = 1) -> int:
        """Take `amount` back from the key's live window (never below 0)."""
        t = db.RateCounter.__table__
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(update(t).where(t.c.key == key, t.c.expires_at > now)
                         .values(count=func.max(t.c.count - amount, 0) if self._sqlite
                                 else func.greatest(t.c.count - amount, 0)))
            return int(conn.scalar(select(t.c.count).where(t.c.key == key, t.c.expires_at > now)) or 0)

    def get(self, key: str) -> int:
        """The key's count in its live window (0 when none)."""
        t = db.RateCounter.__table__
        with self.engine.connect() as conn:
            n = conn.scalar(select(t.c.count).where(t.c.key == key, t.c.expires_at > self.clock()))
        return int(n or 0)

    def get_expiry(self, key: str) -> float:
        """When the key's live window ends (now when there is none)."""
        t = db.RateCounter.__table__
        now = self.clock()
        with self.engine.connect() as conn:
            end = conn.scalar(select(t.c.expires_at).where(t.c.key == key, t.c.expires_at > now))
        return float(end) if end is not None else now

    def check(self) -> bool:
        """Whether the database answers."""
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
            return True
        except SQLAlchemyError:
            return False

    def reset(self) -> int | None:
        """Drop every counter; returns how many there were."""
        with self.engine.begin() as conn:
            return conn.execute(delete(db.RateCounter.__table__)).rowcount

    def clear(self, key: str) -> None:
        """Drop one counter."""
        t = db.RateCounter.__table__
        with self.engine.begin() as conn:
            conn.execute(delete(t).where(t.c.key == key))


@lru_cache(maxsize=16)
def _storage(uri: str, database_url: str) -> Storage:
    return storage_from_string(uri) if uri else SQLStorage(database_url=database_url)


def storage_for(settings: Settings) -> Storage:
    """The counters' storage: INFERLOOP_RATE_LIMIT_STORAGE, else the metadata DB (one instance per target)."""
    return _storage(settings.rate_limit_storage, settings.database)


def limiter_for(settings: Settings) -> FixedWindowRateLimiter:
    return FixedWindowRateLimiter(storage_for(settings))


def hourly(amount: int) -> limits.RateLimitItem:
    return limits.RateLimitItemPerHour(amount, namespace=NAMESPACE)


# --- requests per hour ------------------------------------------------------------------------------

@dataclass
class RateState:
    """The caller's request window: limit and remaining (None = unlimited), reset epoch s, seconds to it."""

    limit: int | None
    remaining: int | None
    reset: int
    reset_after: int


def _hour_end(now: float) -> int:
    return (int(now) // 3600 + 1) * 3600


def unlimited_state(now: float | None = None) -> RateState:
    """No limit; reset is the end of the current clock hour."""
    now = time.time() if now is None else now
    end = _hour_end(now)
    return RateState(None, None, end, max(0, math.ceil(end - now)))


def item_state(limiter: FixedWindowRateLimiter, item: limits.RateLimitItem, *ids: str) -> RateState:
    """The current window of `item` for these identifiers, read without consuming."""
    stats = limiter.get_window_stats(item, *ids)
    now = time.time()
    return RateState(item.amount, max(0, stats.remaining), max(math.ceil(stats.reset_time), int(now)),
                     max(0, math.ceil(stats.reset_time - now)))


def window_state(settings: Settings, kind: str, owner: str, amount: int | None) -> RateState:
    """The owner's current hourly window of `kind` (requests or rows), read without consuming."""
    if amount is None:
        return unlimited_state()
    return item_state(limiter_for(settings), hourly(amount), kind, owner)


def rate_limited(message: str, state: RateState, retry_after: int | None = None, **extra) -> InferloopError:
    """429 RATE_LIMITED with the window's X-RateLimit-* headers and Retry-After (default: the window's reset)."""
    wait = state.reset_after if retry_after is None else retry_after
    return InferloopError("RATE_LIMITED", message, status=429, extra={**extra, "retry_after": wait},
                          headers={**rate_headers(state), "Retry-After": str(wait)})


def rate_headers(state: RateState) -> dict[str, str]:
    """The documented X-RateLimit-* headers ("unlimited" for Limit and Remaining when there is no limit)."""
    return {
        "X-RateLimit-Limit": "unlimited" if state.limit is None else str(state.limit),
        "X-RateLimit-Remaining": "unlimited" if state.remaining is None else str(state.remaining),
        "X-RateLimit-Reset": str(state.reset),
        "X-RateLimit-Reset-After": str(state.reset_after),
    }


def request_limit(principal: Principal, settings: Settings) -> RateState:
    """Count one request in the caller's hourly window; 429 RATE_LIMITED (with the headers) over the limit."""
    n = limits_for(principal.tier).requests_per_hour
    if n is None:
        return unlimited_state()
    allowed = limiter_for(settings).hit(hourly(n), REQUESTS, principal.owner)
    state = window_state(settings, REQUESTS, principal.owner, n)
    if not allowed:
        raise rate_limited(f"Rate limit exceeded: {n} requests per hour for the {principal.tier} tier; "
                           f"retry in {state.reset_after} s", state, limit=n)
    return state


# --- generation jobs ------------------------------------------------------------------------------

def _session(settings: Settings) -> Session:
    return Session(db.engine_for(settings.database))


def running_jobs(owner: str, settings: Settings) -> int:
    """The owner's jobs with a flow run and no final state yet."""
    with _session(settings) as s:
        return int(s.scalar(select(func.count()).select_from(db.Job).where(
            db.Job.owner == owner, db.Job.final_status.is_(None), db.Job.flow_run_id.is_not(None))) or 0)


def month_start(now: datetime) -> datetime:
    """Midnight UTC on the first day of now's calendar month (UTC)."""
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month_start(now: datetime) -> datetime:
    start = month_start(now)
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


def compute_seconds_this_month(owner: str, settings: Settings, now: datetime | None = None) -> float:
    """Compute seconds of the owner's jobs that finished in the current calendar month (UTC)."""
    now = now or db.utcnow()
    with _session(settings) as s:
        total = s.scalar(select(func.sum(db.Job.compute_seconds)).where(
            db.Job.owner == owner, db.Job.finished_at >= month_start(now),
            db.Job.finished_at < next_month_start(now)))
    return float(total or 0.0)


def _limited(message: str, field: str | None = None, retry_after: int | None = None, **extra) -> InferloopError:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    if retry_after is not None:
        extra["retry_after"] = retry_after
    return InferloopError("RATE_LIMITED", message, field, status=429, extra=extra, headers=headers)


def check_generation(principal: Principal, settings: Settings, rows: int) -> None:
    """Before a generation job: concurrent jobs, compute hours this month, then rows/hour (counted only if ok)."""
    tier, name, owner = limits_for(principal.tier), principal.tier, principal.owner
    if tier.concurrent_jobs is not None:
        running = running_jobs(owner, settings)
        if running >= tier.concurrent_jobs:
            raise _limited(f"Concurrent job limit reached: {running} of {tier.concurrent_jobs} jobs running for "
                           f"the {name} tier; retry when one has finished", limit=tier.concurrent_jobs,
                           running=running)
    if tier.compute_hours_per_month is not None:
        now = db.utcnow()
        used = compute_seconds_this_month(owner, settings, now) / 3600
        if used >= tier.compute_hours_per_month:
            resets = next_month_start(now)
            raise _limited(f"Compute limit reached: {used:.2f} of {tier.compute_hours_per_month:g} compute hours "
                           f"this month for the {name} tier; it resets on {resets:%Y-%m-%d} (UTC)",
                           retry_after=math.ceil((resets - now).total_seconds()),
                           limit=tier.compute_hours_per_month, used=round(used, 4))
    if tier.rows_per_hour is not None and rows > 0:
        item, limiter = hourly(tier.rows_per_hour), limiter_for(settings)
        if limiter.test(item, ROWS, owner, cost=rows):
            if limiter.hit(item, ROWS, owner, cost=rows):
                return
            decr = getattr(limiter.storage, "decr", None)  # lost a race: give the rows back where possible
            if decr is not None:
                decr(item.key_for(ROWS, owner), rows)
        state = window_state(settings, ROWS, owner, tier.rows_per_hour)
        raise _limited(f"Row limit exceeded: {tier.rows_per_hour} rows per hour for the {name} tier; "
                       f"{rows} requested, {state.remaining} remaining this hour; retry in {state.reset_after} s",
                       "num_rows", state.reset_after, limit=tier.rows_per_hour, remaining=state.remaining,
                       requested=rows)
