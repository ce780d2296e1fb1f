"""Usage statistics (tabular-api.md, "Usage Statistics"): an owner's generation jobs and remaining limits."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from inferloop.core import db
from inferloop.core.errors import invalid_request
from inferloop.core.ratelimit import REQUESTS, ROWS, compute_seconds_this_month, window_state
from inferloop.core.settings import Settings, get_settings
from inferloop.core.tiers import limits_for

PERIODS: dict[str, timedelta] = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


def _zone(name: str) -> ZoneInfo:
    """An IANA time zone, or 400 INVALID_REQUEST on the timezone field."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise invalid_request(f"unknown timezone '{name}': use an IANA name such as UTC or Europe/Paris",
                              "timezone")


def _hours(seconds: float) -> float:
    return round(seconds / 3600, 4)


def usage_report(owner: str, tier: str, period: str = "7d", timezone: str = "UTC", now: datetime | None = None,
                 *, settings: Settings | None = None) -> dict:
    """The documented usage body: the owner's generation jobs created in the period, and what remains."""
    if period not in PERIODS:
        raise invalid_request(f"period must be one of {', '.join(PERIODS)}, got '{period}'", "period")
    zone = _zone(timezone)
    limits = limits_for(tier)
    settings = settings or get_settings()
    now = (now or db.utcnow()).astimezone(UTC)
    J = db.Job
    with Session(db.engine_for(settings.database)) as s:
        jobs = s.execute(select(J.algorithm, J.created_at, J.final_status, J.rows_generated, J.compute_seconds)
                         .where(J.owner == owner, J.kind == "generate", J.created_at >= now - PERIODS[period],
                                J.created_at <= now)).all()

    by_algorithm: dict[str, dict[str, int]] = defaultdict(lambda: {"count": 0, "rows": 0})
    by_day: dict[str, dict[str, int]] = defaultdict(lambda: {"generations": 0, "rows": 0})
    total_rows, compute = 0, 0.0
    for algorithm, created_at, final_status, rows_generated, compute_seconds in jobs:
        rows = (rows_generated or 0) if final_status == "completed" else 0
        day = db.as_utc(created_at).astimezone(zone).date().isoformat()
        for bucket, n_key in ((by_algorithm[algorithm or "unknown"], "count"), (by_day[day], "generations")):
            bucket[n_key] += 1
            bucket["rows"] += rows
        total_rows += rows
        compute += compute_seconds or 0.0

    requests = window_state(settings, REQUESTS, owner, limits.requests_per_hour)
    rows_window = window_state(settings, ROWS, owner, limits.rows_per_hour)
    month = limits.compute_hours_per_month
    return {
        "period": period,
        "usage": {
            "total_generations": len(jobs),
            "total_rows_generated": total_rows,
            "total_compute_hours": _hours(compute),
            "by_algorithm": dict(by_algorithm),
            "by_day": [{"date": d, **by_day[d]} for d in sorted(by_day, reverse=True)],
        },
        "limits": {
            "generations_per_hour": limits.requests_per_hour,
            "rows_per_hour": limits.rows_per_hour,
            "compute_hours_per_month": month,
            "remaining": {
                "generations": requests.remaining,
                "rows": rows_window.remaining,
                "compute_hours": None if month is None else
                max(0.0, round(month - compute_seconds_this_month(owner, settings, now) / 3600, 4)),
            },
        },
    }
