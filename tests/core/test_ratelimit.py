"""Tier limits on a real SQLite file DB (and the machine's Redis when there is one): windows, restarts, jobs."""

from __future__ import annotations

import pickle
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import limits
import pytest
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from inferloop.core import db, ratelimit
from inferloop.core.auth import Principal
from inferloop.core.errors import InferloopError
from inferloop.core.ratelimit import (RateState, SQLStorage, check_generation, compute_seconds_this_month,
                                      hourly, month_start, rate_headers, request_limit, window_state)
from inferloop.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379"


def redis_reachable() -> bool:
    try:
        import redis
    except ImportError:
        return False
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except Exception:
        return False


needs_redis = pytest.mark.skipif(not redis_reachable(),
                                 reason=f"no Redis answers at {REDIS_URL} (a fresh machine has none)")


@pytest.fixture()
def cfg(tmp_path: Path) -> Settings:
    """Settings on a fresh, migrated SQLite file (the counters' and the jobs' store)."""
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    db.migrate(url)
    return Settings(home=tmp_path, database_url=url)


def caller(tier: str = "starter") -> Principal:
    return Principal(f"acct-{uuid.uuid4().hex[:12]}", tier, False, "api_key")


def add_job(cfg: Settings, owner: str, *, flow_run_id: str | None = "fr", final_status: str | None = None,
            compute_seconds: float | None = None, finished_at=None) -> None:
    with Session(db.engine_for(cfg.database)) as s, s.begin():
        s.add(db.Job(id=db.new_id("job"), kind="generate", owner=owner, algorithm="sdv", options={},
                     flow_run_id=flow_run_id, final_status=final_status, compute_seconds=compute_seconds,
                     finished_at=finished_at))


def counter_rows(cfg: Settings) -> int:
    with Session(db.engine_for(cfg.database)) as s:
        return s.scalar(select(func.count()).select_from(db.RateCounter))


# --- requests per hour ---------------------------------------------------------------------------------

def test_starter_gets_exactly_10_requests_an_hour_then_429_with_headers(cfg):
    p = caller("starter")
    for i in range(10):
        state = request_limit(p, cfg)
        assert (state.limit, state.remaining) == (10, 9 - i)
        assert 3590 <= state.reset_after <= 3600 and abs(state.reset - (time.time() + state.reset_after)) <= 2
    with pytest.raises(InferloopError) as info:
        request_limit(p, cfg)
    err = info.value
    assert (err.code, err.status) == ("RATE_LIMITED", 429)
    assert "10 requests per hour for the starter tier" in err.message and "retry in" in err.message
    h = err.headers
    assert (h["X-RateLimit-Limit"], h["X-RateLimit-Remaining"]) == ("10", "0")
    assert 3590 <= int(h["X-RateLimit-Reset-After"]) <= 3600
    assert h["Retry-After"] == h["X-RateLimit-Reset-After"] == str(err.extra["retry_after"])
    assert abs(int(h["X-RateLimit-Reset"]) - time.time() - int(h["X-RateLimit-Reset-After"])) <= 2
    assert pickle.loads(pickle.dumps(err)).headers == h  # survives processes like every InferloopError
    assert request_limit(caller("starter"), cfg).remaining == 9  # another owner has its own window


def test_professional_and_business_limits(cfg):
    assert request_limit(caller("professional"), cfg).limit == 100
    assert request_limit(caller("business"), cfg).limit == 1000


def test_rate_headers_are_the_documented_four():
    assert rate_headers(RateState(100, 85, 1642333200, 3487)) == {
        "X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "85",
        "X-RateLimit-Reset": "1642333200", "X-RateLimit-Reset-After": "3487"}


def test_enterprise_is_unlimited_and_touches_no_counter(cfg):
    p = caller("enterprise")
    for _ in range(50):
        state = request_limit(p, cfg)
    now = time.time()
    end_of_hour = (int(now) // 3600 + 1) * 3600
    assert (state.limit, state.remaining) == (None, None)
    assert state.reset == end_of_hour and abs(state.reset_after - (end_of_hour - now)) <= 1
    h = rate_headers(state)
    assert (h["X-RateLimit-Limit"], h["X-RateLimit-Remaining"]) == ("unlimited", "unlimited")
    assert int(h["X-RateLimit-Reset"]) == end_of_hour
    for _ in range(5):
        add_job(cfg, p.owner, compute_seconds=10**9, finished_at=db.utcnow())
    check_generation(p, cfg, 10**12)
    assert counter_rows(cfg) == 0


def test_counters_survive_a_restart(cfg):
    """A new process on the same DB sees the same window; so does this one after new storage objects."""
    p = caller("starter")
    for _ in range(3):
        request_limit(p, cfg)
    code = ("import sys; from inferloop.core.auth import Principal; from inferloop.core.ratelimit import request_limit; "
            "from inferloop.core.settings import Settings; "
            "s = Settings(database_url=sys.argv[1]); p = Principal(sys.argv[2], 'starter', False, 'api_key'); "
            "print([request_limit(p, s).remaining for _ in range(4)])")
    out = subprocess.run([sys.executable, "-c", code, cfg.database, p.owner], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert out.strip() == "[6, 5, 4, 3]"
    ratelimit._storage.cache_clear()  # new storage and limiter objects, new DB connections
    db.engine_for(cfg.database).dispose()
    fresh = SQLStorage(database_url=cfg.database)
    assert fresh.get(hourly(10).key_for(ratelimit.REQUESTS, p.owner)) == 7
    assert request_limit(p, cfg).remaining == 2


# --- the storage contract (SQL, and Redis when reachable) ------------------------------------------------

class FakeClock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_sql_window_resets_after_expiry(cfg):
    clock = FakeClock()
    storage = SQLStorage(database_url=cfg.database, clock=clock)
    limiter, item = FixedWindowRateLimiter(storage), limits.RateLimitItemPerMinute(2)
    assert limiter.hit(item, "k") and limiter.hit(item, "k") and not limiter.hit(item, "k")
    assert limiter.get_window_stats(item, "k") == (clock.t + 60, 0)
    clock.t += 59.9
    assert not limiter.test(item, "k")
    clock.t += 0.1  # the window has ended: a new one starts with the next hit
    assert storage.get(item.key_for("k")) == 0 and limiter.test(item, "k")
    assert limiter.hit(item, "k")
    assert limiter.get_window_stats(item, "k") == (clock.t + 60, 1)
    assert counter_rows(cfg) == 1  # the expired row was replaced, not duplicated


def test_sql_incr_is_atomic_across_threads(cfg):
    storage = SQLStorage(database_url=cfg.database)
    key = f"race/{uuid.uuid4().hex}"

    def bump() -> None:
        for _ in range(25):
            storage.incr(key, 3600)

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert storage.get(key) == 200


def test_sql_decr_gives_back_never_below_zero(cfg):
    storage = SQLStorage(database_url=cfg.database)
    assert storage.incr("d", 60, amount=5) == 5
    assert storage.decr("d", 2) == 3 and storage.decr("d", 10) == 0 and storage.get("d") == 0


@pytest.fixture(params=["sql", pytest.param("redis", marks=needs_redis)])
def any_storage(request, cfg):
    """Our SQL storage, then the machine's Redis through the same `limits` interface."""
    if request.param == "sql":
        return storage_from_string("inferloop+sql://", database_url=cfg.database)
    return storage_from_string(REDIS_URL)


def test_storage_contract(any_storage):
    key, other = f"test/{uuid.uuid4().hex}", f"test/{uuid.uuid4().hex}"
    assert any_storage.check()
    assert any_storage.get(key) == 0
    assert [any_storage.incr(key, 60) for _ in range(3)] == [1, 2, 3]
    assert any_storage.incr(key, 60, amount=5) == 8
    assert any_storage.get(key) == 8
    assert 55 <= any_storage.get_expiry(key) - time.time() <= 61
    any_storage.incr(other, 60)
    any_storage.clear(key)
    assert any_storage.get(key) == 0 and any_storage.get(other) == 1
    any_storage.clear(other)


def test_storage_window_expires_in_real_time(any_storage):
    limiter, item = FixedWindowRateLimiter(any_storage), limits.RateLimitItemPerSecond(1)
    key = uuid.uuid4().hex
    assert limiter.hit(item, key) and not limiter.hit(item, key)
    time.sleep(1.2)
    assert limiter.hit(item, key)
    limiter.clear(item, key)


@needs_redis
def test_request_limit_on_redis(cfg):
    redis_cfg = cfg.model_copy(update={"rate_limit_storage": REDIS_URL})
    p = caller("starter")
    try:
        assert [request_limit(p, redis_cfg).remaining for _ in range(10)] == list(range(9, -1, -1))
        with pytest.raises(InferloopError) as info:
            request_limit(p, redis_cfg)
        assert info.value.headers["X-RateLimit-Remaining"] == "0"
        assert counter_rows(cfg) == 0  # nothing went to the SQL table
    finally:
        FixedWindowRateLimiter(ratelimit.storage_for(redis_cfg)).clear(hourly(10), ratelimit.REQUESTS, p.owner)


# --- generation jobs ---------------------------------------------------------------------------------

def rows_left(cfg: Settings, p: Principal) -> int | None:
    return window_state(cfg, ratelimit.ROWS, p.owner, 100_000).remaining


def test_rows_per_hour_refuses_without_consuming(cfg):
    p = caller("starter")  # 100,000 rows an hour
    check_generation(p, cfg, 60_000)
    with pytest.raises(InferloopError) as info:
        check_generation(p, cfg, 50_000)
    err = info.value
    assert (err.code, err.status, err.field) == ("RATE_LIMITED", 429, "num_rows")
    assert "100000 rows per hour for the starter tier" in err.message and "40000 remaining" in err.message
    assert (err.extra["limit"], err.extra["remaining"], err.extra["requested"]) == (100_000, 40_000, 50_000)
    assert rows_left(cfg, p) == 40_000
    check_generation(p, cfg, 40_000)  # exactly the rest
    with pytest.raises(InferloopError):
        check_generation(p, cfg, 1)
    fresh = caller("starter")
    with pytest.raises(InferloopError):
        check_generation(fresh, cfg, 100_001)
    assert rows_left(cfg, fresh) == 100_000


def test_concurrent_jobs(cfg):
    p = caller("starter")  # one job at a time
    add_job(cfg, p.owner, flow_run_id=None)                 # recorded, no flow run yet: not running
    add_job(cfg, p.owner, final_status="completed")         # finished
    add_job(cfg, "someone-else")                            # not ours
    check_generation(p, cfg, 10)
    add_job(cfg, p.owner)                                   # running
    with pytest.raises(InferloopError) as info:
        check_generation(p, cfg, 10)
    assert info.value.status == 429 and "1 of 1 jobs running for the starter tier" in info.value.message
    assert rows_left(cfg, p) == 99_990  # the refused job counted no rows

    pro = caller("professional")
    for _ in range(4):
        add_job(cfg, pro.owner)
    check_generation(pro, cfg, 10)
    add_job(cfg, pro.owner)
    with pytest.raises(InferloopError, match="5 of 5 jobs"):
        check_generation(pro, cfg, 10)


def test_compute_hours_per_month(cfg):
    p = caller("starter")  # 10 compute hours a month
    now = db.utcnow()
    start = month_start(now)
    add_job(cfg, p.owner, final_status="completed", compute_seconds=9.5 * 3600, finished_at=start)
    add_job(cfg, p.owner, final_status="failed", compute_seconds=100 * 3600,
            finished_at=start - timedelta(seconds=1))   # last month
    add_job(cfg, "someone-else", final_status="completed", compute_seconds=100 * 3600, finished_at=now)
    assert compute_seconds_this_month(p.owner, cfg) == 9.5 * 3600
    check_generation(p, cfg, 10)
    add_job(cfg, p.owner, final_status="failed", compute_seconds=0.5 * 3600, finished_at=now)
    with pytest.raises(InferloopError) as info:
        check_generation(p, cfg, 10)
    err = info.value
    assert err.status == 429 and "10.00 of 10 compute hours this month for the starter tier" in err.message
    assert int(err.headers["Retry-After"]) == err.extra["retry_after"] > 0
