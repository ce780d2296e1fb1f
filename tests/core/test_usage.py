"""Usage statistics from real job records (SQLite file DB), and GET /usage through the real API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session

from inferloop.core import auth, db
from inferloop.core.auth import Principal
from inferloop.core.errors import InferloopError
from inferloop.core.ratelimit import check_generation, request_limit
from inferloop.core.settings import Settings
from inferloop.core.usage import usage_report
from tests.support import API_KEY

NOW = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
OWNER = "acct-usage"


def at(day: int, hour: int, minute: int = 0, month: int = 1, year: int = 2024) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# (algorithm, created, final_status, rows_generated, compute_seconds, finished)
JOBS = [
    ("sdv", at(15, 9), "completed", 1000, 600, at(15, 9, 10)),        # j1
    ("ctgan", at(15, 2), "completed", 5000, 1800, at(15, 2, 30)),     # j2: Jan 14 in New York
    ("sdv", at(14, 23, 30), "failed", 0, 120, at(14, 23, 32)),        # j3: Jan 15 in Tokyo
    ("sdv", at(10, 12), "completed", 2000, 300, at(10, 12, 5)),       # j4: 7d, not 24h
    ("ctgan", at(12, 12), None, None, None, None),                    # j5: still running
    ("sdv", at(1, 0, 30), "completed", 7000, 3600, at(1, 1, 30)),     # j6: 30d only
    ("sdv", at(1, 0, 0, 12, 2023), "completed", 9999, 3600, at(1, 1, 0, 12, 2023)),  # j7: too old
    ("sdv", at(16, 0), "completed", 9999, 60, at(16, 0, 1)),          # j8: after now
]

# compute of every job of OWNER that finished in January 2024 (any kind: j1-j4, j6, j8 and the profile job;
# not December's j7, not the running j5)
MONTH = 600 + 1800 + 120 + 300 + 3600 + 60 + 60


@pytest.fixture()
def cfg(tmp_path: Path) -> Settings:
    """A migrated SQLite file with OWNER's jobs, another owner's and a non-generation job."""
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    db.migrate(url)
    with Session(db.engine_for(url)) as s, s.begin():
        for i, (alg, created, status, rows, secs, finished) in enumerate(JOBS):
            s.add(db.Job(id=f"job-{i}", kind="generate", owner=OWNER, algorithm=alg, options={},
                         flow_run_id=f"fr-{i}", created_at=created, final_status=status, rows_generated=rows,
                         compute_seconds=secs, finished_at=finished))
        s.add(db.Job(id="job-other", kind="generate", owner="acct-other", algorithm="sdv", options={},
                     created_at=at(15, 9), final_status="completed", rows_generated=123, compute_seconds=60,
                     finished_at=at(15, 9, 1)))
        s.add(db.Job(id="job-profile", kind="profile", owner=OWNER, algorithm=None, options={},
                     created_at=at(15, 9), final_status="completed", rows_generated=0, compute_seconds=60,
                     finished_at=at(15, 9, 1)))
    return Settings(home=tmp_path, database_url=url)


def report(cfg: Settings, period: str = "7d", timezone: str = "UTC", tier: str = "professional") -> dict:
    return usage_report(OWNER, tier, period, timezone, now=NOW, settings=cfg)


def test_seven_days_in_utc_and_the_documented_shape(cfg):
    body = report(cfg)
    assert body == {
        "period": "7d",
        "usage": {
            "total_generations": 5,
            "total_rows_generated": 8000,
            "total_compute_hours": round(2820 / 3600, 4),
            "by_algorithm": {"sdv": {"count": 3, "rows": 3000}, "ctgan": {"count": 2, "rows": 5000}},
            "by_day": [
                {"date": "2024-01-15", "generations": 2, "rows": 6000},
                {"date": "2024-01-14", "generations": 1, "rows": 0},
                {"date": "2024-01-12", "generations": 1, "rows": 0},
                {"date": "2024-01-10", "generations": 1, "rows": 2000},
            ],
        },
        "limits": {
            "generations_per_hour": 100, "rows_per_hour": 1_000_000, "compute_hours_per_month": 100,
            "remaining": {"generations": 100, "rows": 1_000_000, "compute_hours": round(100 - MONTH / 3600, 4)},
        },
    }


def test_days_follow_the_timezone(cfg):
    assert report(cfg, timezone="America/New_York")["usage"]["by_day"] == [
        {"date": "2024-01-15", "generations": 1, "rows": 1000},
        {"date": "2024-01-14", "generations": 2, "rows": 5000},
        {"date": "2024-01-12", "generations": 1, "rows": 0},
        {"date": "2024-01-10", "generations": 1, "rows": 2000},
    ]
    assert report(cfg, timezone="Asia/Tokyo")["usage"]["by_day"] == [
        {"date": "2024-01-15", "generations": 3, "rows": 6000},
        {"date": "2024-01-12", "generations": 1, "rows": 0},
        {"date": "2024-01-10", "generations": 1, "rows": 2000},
    ]


def test_periods(cfg):
    day = report(cfg, "24h")["usage"]
    assert (day["total_generations"], day["total_rows_generated"], day["total_compute_hours"]) == (3, 6000, 0.7)
    assert day["by_algorithm"] == {"sdv": {"count": 2, "rows": 1000}, "ctgan": {"count": 1, "rows": 5000}}
    month = report(cfg, "30d")["usage"]
    assert (month["total_generations"], month["total_rows_generated"]) == (6, 15000)
    assert month["total_compute_hours"] == round(6420 / 3600, 4)
    assert month["by_day"][-1] == {"date": "2024-01-01", "generations": 1, "rows": 7000}
    assert usage_report(OWNER, "starter", now=NOW, settings=cfg)["period"] == "7d"  # the default


def test_remaining_reads_the_live_counters_without_consuming(cfg):
    p = Principal(OWNER, "professional", False, "api_key")
    for _ in range(3):
        request_limit(p, cfg)
    check_generation(p, cfg, 250_000)  # j5 runs: 1 of 5 concurrent jobs
    for _ in range(2):  # reading twice changes nothing
        remaining = report(cfg)["limits"]["remaining"]
        assert (remaining["generations"], remaining["rows"]) == (97, 750_000)


def test_limits_for_other_tiers(cfg):
    assert report(cfg, tier="starter")["limits"] == {
        "generations_per_hour": 10, "rows_per_hour": 100_000, "compute_hours_per_month": 10,
        "remaining": {"generations": 10, "rows": 100_000, "compute_hours": round(10 - MONTH / 3600, 4)}}
    assert report(cfg, tier="enterprise")["limits"] == {
        "generations_per_hour": None, "rows_per_hour": None, "compute_hours_per_month": None,
        "remaining": {"generations": None, "rows": None, "compute_hours": None}}


def test_an_owner_without_jobs(cfg):
    usage = usage_report("acct-nobody", "starter", "30d", "UTC", now=NOW, settings=cfg)["usage"]
    assert usage == {"total_generations": 0, "total_rows_generated": 0, "total_compute_hours": 0.0,
                     "by_algorithm": {}, "by_day": []}


@pytest.mark.parametrize("period, timezone, field", [("1y", "UTC", "period"), ("", "UTC", "period"),
                                                     ("7d", "Mars/Olympus_Mons", "timezone"),
                                                     ("7d", "../etc/passwd", "timezone"), ("7d", "", "timezone")])
def test_bad_parameters(cfg, period, timezone, field):
    with pytest.raises(InferloopError) as info:
        report(cfg, period, timezone)
    assert (info.value.code, info.value.status, info.value.field) == ("INVALID_REQUEST", 400, field)


# --- GET /usage through the real API (real accounts, keys, rate limits) -------------------------------

@pytest.fixture()
def starter_key(settings):
    """A starter account with one job of today and its API key, in the API's metadata store."""
    db.migrate(settings.database)
    with db.session_scope() as s:
        account = auth.create_account(s, f"usage-{uuid.uuid4().hex[:8]}", "starter")
        _, key = auth.create_key(s, account.id)
        s.add(db.Job(id=db.new_id("job"), kind="generate", owner=account.id, algorithm="ctgan", options={},
                     flow_run_id="fr-x", final_status="completed", rows_generated=42, compute_seconds=36,
                     finished_at=db.utcnow(), notified_at=db.utcnow()))   # final and notified, as the watcher leaves it
    return key


def test_get_usage_endpoint(api_no_prefect, starter_key):
    url = f"{api_no_prefect}/api/tabular/usage"
    r = httpx.get(url, params={"period": "24h", "timezone": "Europe/Paris"}, headers={"X-API-Key": starter_key})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["period"] == "24h"
    assert body["usage"]["total_generations"] == 1 and body["usage"]["by_algorithm"] == {
        "ctgan": {"count": 1, "rows": 42}}
    assert body["limits"]["remaining"]["generations"] == 9  # this request counted
    assert body["limits"]["remaining"]["compute_hours"] == 9.99
    assert (r.headers["X-RateLimit-Limit"], r.headers["X-RateLimit-Remaining"]) == ("10", "9")
    assert int(r.headers["X-RateLimit-Reset-After"]) > 0 and int(r.headers["X-RateLimit-Reset"]) > 0

    bad = httpx.get(url, params={"period": "1y"}, headers={"X-API-Key": starter_key})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "period"
    assert bad.headers["X-RateLimit-Remaining"] == "8"
    for _ in range(8):
        assert httpx.get(url, headers={"X-API-Key": starter_key}).status_code == 200
    limited = httpx.get(url, headers={"X-API-Key": starter_key})
    assert limited.status_code == 429
    err = limited.json()["error"]
    assert err["code"] == "RATE_LIMITED" and err["request_id"] == limited.headers["X-Request-ID"]
    assert (limited.headers["X-RateLimit-Limit"], limited.headers["X-RateLimit-Remaining"]) == ("10", "0")
    assert limited.headers["Retry-After"] == limited.headers["X-RateLimit-Reset-After"]


def test_get_usage_unlimited_bootstrap_key(api_no_prefect):
    r = httpx.get(f"{api_no_prefect}/api/tabular/usage", headers={"X-API-Key": API_KEY})
    assert r.status_code == 200, r.text
    assert r.json()["limits"]["remaining"] == {"generations": None, "rows": None, "compute_hours": None}
    assert (r.headers["X-RateLimit-Limit"], r.headers["X-RateLimit-Remaining"]) == ("unlimited", "unlimited")
    assert 0 <= int(r.headers["X-RateLimit-Reset-After"]) <= 3600
