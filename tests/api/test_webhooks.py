"""Webhooks over real HTTP: registration, ownership, and deliveries to a local receiver.

Signatures are checked with the API document's own `verify_webhook`, run unmodified. The tests use their
own SQLite metadata store and a clock one day ahead, so no other app's background watcher (which uses the
real clock) can send their deliveries; backoff is checked by moving that clock, without sleeping.
"""

from __future__ import annotations

import inspect
import threading
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import update

from api.deps import owner_of_key
from inferloop.core import db
from inferloop.core.webhooks import deliver_due, enqueue
from tests.support import API_KEY, OTHER_KEY, ApiServer, free_port
from tests.receiver import Received, Receiver, assert_signed  # noqa: F401
from tests.spec_examples import load_spec_function, spec_or_skip

H = {"X-API-Key": API_KEY}
H2 = {"X-API-Key": OTHER_KEY}
OWNER = owner_of_key(API_KEY)
SECRET = "hook-secret-0123456789"
CALLBACK_SECRET = "callback-secret-98765"


# --- fixtures -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def isolated_db(tmp_path_factory):
    """A fresh metadata store for this module (db.session_scope() reads it through db.engine)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('webhooks-db') / 'inferloop.db'}"
    db.migrate(url)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(db, "engine", lambda: db.engine_for(url))
        yield url


@pytest.fixture(scope="module")
def wh_settings(settings):
    """Loopback receivers allowed; small, fast retry settings."""
    return settings.model_copy(update={"webhook_allow_private": True, "webhook_backoff_seconds": 1.0,
                                       "webhook_max_attempts": 3, "webhook_timeout_seconds": 2.0,
                                       "callback_secret": ""})


def make_app(settings):
    """The real app (without its background watcher) with the webhooks router under /api/tabular."""
    from api.main import create_app
    from api.tabular import webhooks as webhooks_router

    no_watcher = "run_watcher" in inspect.signature(create_app).parameters
    app = create_app(settings, run_watcher=False) if no_watcher else create_app(settings)
    if not any(getattr(r, "path", None) == "/api/tabular/webhooks" for r in app.routes):
        app.include_router(webhooks_router.router, prefix="/api/tabular")
    return app


@pytest.fixture(scope="module")
def api_url(isolated_db, wh_settings):
    with ApiServer(make_app(wh_settings)) as server:
        yield server.url + "/api/tabular"


@pytest.fixture(scope="module")
def strict_api_url(isolated_db, settings):
    """The same API with the default settings: private webhook targets refused."""
    with ApiServer(make_app(settings.model_copy(update={"webhook_allow_private": False}))) as server:
        yield server.url + "/api/tabular"


@pytest.fixture(scope="module")
def verify_webhook():
    return load_spec_function(spec_or_skip(), "verify_webhook")


@pytest.fixture()
def t0() -> datetime:
    """A clock one day ahead: only this module's deliver_due calls see these deliveries as due."""
    return datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=1)


@pytest.fixture(autouse=True)
def no_leftover_deliveries(isolated_db):
    """Each test starts with no active webhook and nothing pending (so counts are its own)."""
    yield
    with db.session_scope() as s:
        s.execute(update(db.WebhookDelivery).where(db.WebhookDelivery.status == "pending")
                  .values(status="failed", last_error="test cleanup"))
        s.execute(update(db.Webhook).values(active=False))


@pytest.fixture()
def receiver():
    with Receiver() as r:
        yield r


# --- helpers ------------------------------------------------------------------------------------------

def register(api_url: str, url: str, events=("generation.completed",), secret: str = SECRET,
             headers=H) -> dict:
    r = httpx.post(f"{api_url}/webhooks", json={"url": url, "events": list(events), "secret": secret},
                   headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def error_of(r: httpx.Response, status: int, code: str, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["request_id"]
    if field is not None:
        assert err.get("field") == field, err
    return err


def queue(event: str = "generation.completed", *, now: datetime, job_id: str | None = None,
          callback_url: str | None = None, owner: str = OWNER, data: dict | None = None) -> list[str]:
    data = data if data is not None else {"generation_id": job_id or "gen-1", "algorithm": "ctgan",
                                          "rows_generated": 5000, "quality_score": 0.91}
    with db.session_scope() as s:
        rows = enqueue(s, owner=owner, job_id=job_id, event=event, data=data, callback_url=callback_url,
                       now=now)
        return [d.id for d in rows]


def make_job(callback_url: str | None, callback_secret: str | None, owner: str = OWNER) -> str:
    job_id = db.new_id("job")
    with db.session_scope() as s:
        s.add(db.Job(id=job_id, kind="generate", owner=owner, algorithm="ctgan", options={},
                     callback_url=callback_url, callback_secret=callback_secret))
    return job_id


def delivery(delivery_id: str) -> db.WebhookDelivery:
    with db.session_scope() as s:
        return s.get(db.WebhookDelivery, delivery_id)


def deliveries(api_url: str, webhook_id: str, headers=H) -> list[dict]:
    r = httpx.get(f"{api_url}/webhooks/{webhook_id}/deliveries", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["deliveries"]


# --- registration -------------------------------------------------------------------------------------

def test_register_list_delete_and_ownership(api_url, receiver):
    hook = register(api_url, receiver.url + "/hook", events=["generation.completed", "job.failed"])
    assert hook["webhook_id"].startswith("wh-") and hook["active"] is True
    assert hook["url"] == receiver.url + "/hook"
    assert hook["events"] == ["generation.completed", "job.failed"]
    assert hook["created_at"].endswith("Z") and "secret" not in hook

    mine = httpx.get(f"{api_url}/webhooks", headers=H)
    assert mine.status_code == 200 and SECRET not in mine.text
    assert hook in mine.json()["webhooks"]
    theirs = httpx.get(f"{api_url}/webhooks", headers=H2).json()["webhooks"]
    assert hook["webhook_id"] not in {h["webhook_id"] for h in theirs}

    unknown = "wh-00000000-0000-0000-0000-000000000000"
    for path in (hook["webhook_id"], unknown):
        e1 = error_of(httpx.delete(f"{api_url}/webhooks/{path}", headers=H2 if path != unknown else H),
                      404, "NOT_FOUND")
        e2 = error_of(httpx.get(f"{api_url}/webhooks/{path}/deliveries", headers=H2), 404, "NOT_FOUND")
        assert e1["message"] == e2["message"] == f"webhook '{path}' was not found"

    r = httpx.delete(f"{api_url}/webhooks/{hook['webhook_id']}", headers=H)
    assert r.status_code == 200 and r.json() == {"ok": True, "webhook_id": hook["webhook_id"]}
    error_of(httpx.delete(f"{api_url}/webhooks/{hook['webhook_id']}", headers=H), 404, "NOT_FOUND")
    assert hook["webhook_id"] not in {h["webhook_id"] for h in httpx.get(f"{api_url}/webhooks",
                                                                         headers=H).json()["webhooks"]}


def test_requires_api_key(api_url):
    error_of(httpx.get(f"{api_url}/webhooks"), 401, "UNAUTHORIZED")
    error_of(httpx.post(f"{api_url}/webhooks", json={"url": "http://127.0.0.1/x", "events": ["job.failed"],
                                                     "secret": SECRET}), 401, "UNAUTHORIZED")


GOOD = {"url": "http://127.0.0.1:9/hook", "events": ["generation.completed"], "secret": SECRET}


@pytest.mark.parametrize("change,field,match", [
    ({"url": "ftp://example.com/hook"}, "url", "'ftp'"),
    ({"url": "file:///etc/passwd"}, "url", "'file'"),
    ({"url": "javascript:alert(1)"}, "url", "'javascript'"),
    ({"url": 5}, "url", ""),
    ({"url": None}, "url", ""),
    ({"events": ["generation.completed", "generation.done"]}, "events", "'generation.done'"),
    ({"events": []}, "events", "non-empty"),
    ({"events": "job.failed"}, "events", ""),
    ({"events": None}, "events", ""),
    ({"secret": None}, "secret", "required"),
    ({"secret": "short"}, "secret", "8 to 256"),
    ({"secret": "x" * 257}, "secret", "8 to 256"),
    ({"secret": 12345678}, "secret", ""),
    ({"active": False}, "active", ""),
])
def test_registration_errors(api_url, change, field, match):
    body = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    err = error_of(httpx.post(f"{api_url}/webhooks", json=body, headers=H), 400, "INVALID_REQUEST", field)
    assert match in err["message"]
    assert SECRET not in err["message"]


def test_registration_needs_a_json_object(api_url):
    error_of(httpx.post(f"{api_url}/webhooks", content=b"{not json", headers={**H, "Content-Type":
                                                                             "application/json"}),
             400, "INVALID_REQUEST")
    error_of(httpx.post(f"{api_url}/webhooks", json=["x"], headers=H), 400, "INVALID_REQUEST")
    error_of(httpx.post(f"{api_url}/webhooks", headers=H), 400, "INVALID_REQUEST")


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "http://localhost/hook",
                                 "http://10.0.0.5/hook", "http://[::1]:9000/hook",
                                 "http://169.254.169.254/latest/meta-data", "https://172.16.0.1/hook"])
def test_private_targets_refused_by_default(strict_api_url, url):
    err = error_of(httpx.post(f"{strict_api_url}/webhooks", json={**GOOD, "url": url}, headers=H),
                   400, "INVALID_REQUEST", "url")
    assert "not a public address" in err["message"]


def test_deliveries_listing_limit_validated(api_url, receiver):
    hook = register(api_url, receiver.url)
    error_of(httpx.get(f"{api_url}/webhooks/{hook['webhook_id']}/deliveries?limit=0", headers=H),
             400, "INVALID_REQUEST", "limit")


# --- deliveries ---------------------------------------------------------------------------------------

def test_webhook_and_callback_delivered_signed(api_url, wh_settings, receiver, verify_webhook, t0):
    hook = register(api_url, receiver.url + "/hook")
    other_event = register(api_url, receiver.url + "/failures-only", events=["job.failed"])
    register(api_url, receiver.url + "/other-owner", headers=H2)
    job_id = make_job(receiver.url + "/callback", CALLBACK_SECRET)
    ids = queue(now=t0, job_id=job_id, callback_url=receiver.url + "/callback")
    assert len(ids) == 2

    assert deliver_due(wh_settings, now=t0) == 2
    by_path = {r.path: r for r in receiver.requests}
    assert set(by_path) == {"/hook", "/callback"}
    expected = {"event": "generation.completed", "timestamp": t0.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "data": {"generation_id": job_id, "algorithm": "ctgan", "rows_generated": 5000,
                         "quality_score": 0.91}}
    for path, secret in (("/hook", SECRET), ("/callback", CALLBACK_SECRET)):
        req = by_path[path]
        assert list(req.json) == ["event", "data", "timestamp", "signature"]
        assert {k: v for k, v in req.json.items() if k != "signature"} == expected
        assert req.headers["Content-Type"] == "application/json"
        assert req.headers["X-Inferloop-Event"] == "generation.completed"
        assert req.headers["X-Inferloop-Delivery"] in ids
        assert_signed(req, secret, verify_webhook)

    listed = deliveries(api_url, hook["webhook_id"])
    assert len(listed) == 1
    d = listed[0]
    assert d["delivery_id"] == by_path["/hook"].headers["X-Inferloop-Delivery"]
    assert (d["event"], d["job_id"], d["status"], d["attempts"], d["response_status"], d["last_error"]) == \
        ("generation.completed", job_id, "delivered", 1, 200, None)
    assert d["delivered_at"] == d["created_at"] == expected["timestamp"] and d["next_attempt_at"] is None
    assert deliveries(api_url, other_event["webhook_id"]) == []
    assert delivery([i for i in ids if i != d["delivery_id"]][0]).status == "delivered"

    assert deliver_due(wh_settings, now=t0 + timedelta(hours=1)) == 0
    assert len(receiver.requests) == 2


def test_retried_with_backoff_then_delivered(api_url, wh_settings, verify_webhook, t0):
    with Receiver(fail_first=2) as rcv:
        hook = register(api_url, rcv.url)
        [did] = queue(now=t0)
        steps = [(t0, 1), (t0 + timedelta(seconds=0.9), 0), (t0 + timedelta(seconds=1), 1),
                 (t0 + timedelta(seconds=2.9), 0), (t0 + timedelta(seconds=3), 1),
                 (t0 + timedelta(hours=2), 0)]
        for when, attempted in steps:
            assert deliver_due(wh_settings, now=when) == attempted, when
            if when == t0:
                d = delivery(did)
                assert (d.status, d.attempts, d.response_status) == ("pending", 1, 500)
                assert db.as_utc(d.next_attempt_at) == t0 + timedelta(seconds=1)
                assert d.last_error.startswith("HTTP 500")
        assert len(rcv.requests) == 3
        assert len({r.body for r in rcv.requests}) == 1  # the same signed body each time
        assert_signed(rcv.requests[-1], SECRET, verify_webhook)
    [d] = deliveries(api_url, hook["webhook_id"])
    assert (d["status"], d["attempts"], d["response_status"], d["last_error"]) == ("delivered", 3, 200, None)
    assert d["delivered_at"] == (t0 + timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_always_failing_receiver_gives_up(api_url, wh_settings, t0):
    with Receiver(fail_first=100, fail_status=503) as rcv:
        hook = register(api_url, rcv.url)
        [did] = queue(now=t0)
        for offset in (0, 1, 3):
            assert deliver_due(wh_settings, now=t0 + timedelta(seconds=offset)) == 1
        assert deliver_due(wh_settings, now=t0 + timedelta(days=1)) == 0
        assert len(rcv.requests) == wh_settings.webhook_max_attempts == 3
    [d] = deliveries(api_url, hook["webhook_id"])
    assert (d["delivery_id"], d["status"], d["attempts"], d["response_status"]) == (did, "failed", 3, 503)
    assert d["last_error"].startswith("HTTP 503") and SECRET not in d["last_error"]
    assert d["delivered_at"] is None and d["next_attempt_at"] is None


def test_unreachable_url_fails_after_max_attempts(api_url, wh_settings, t0):
    hook = register(api_url, f"http://127.0.0.1:{free_port()}/closed")
    [did] = queue(now=t0)
    for offset in (0, 1, 3):
        assert deliver_due(wh_settings, now=t0 + timedelta(seconds=offset)) == 1
    assert deliver_due(wh_settings, now=t0 + timedelta(days=1)) == 0
    [d] = deliveries(api_url, hook["webhook_id"])
    assert (d["delivery_id"], d["status"], d["attempts"], d["response_status"]) == (did, "failed", 3, None)
    assert "Connect" in d["last_error"]


def test_url_rechecked_at_send_time(api_url, wh_settings, receiver, t0):
    register(api_url, receiver.url)
    [did] = queue(now=t0)
    strict = wh_settings.model_copy(update={"webhook_allow_private": False})
    assert deliver_due(strict, now=t0) == 1
    d = delivery(did)
    assert (d.status, d.attempts) == ("pending", 1) and "not a public address" in d.last_error
    assert receiver.requests == []
    assert deliver_due(wh_settings, now=t0 + timedelta(seconds=1)) == 1
    assert delivery(did).status == "delivered" and len(receiver.requests) == 1


def test_callback_unsigned_or_signed_with_server_secret(wh_settings, receiver, verify_webhook, t0):
    job_id = make_job(receiver.url + "/plain", None)
    queue("job.failed", now=t0, job_id=job_id, callback_url=receiver.url + "/plain",
          data={"job_id": job_id, "error": {"code": "GENERATION_FAILED", "message": "boom"}})
    assert deliver_due(wh_settings, now=t0) == 1
    plain = receiver.requests[0]
    assert "signature" not in plain.json and "X-Inferloop-Signature" not in plain.headers
    assert plain.json["data"]["error"]["code"] == "GENERATION_FAILED"

    server_signed = wh_settings.model_copy(update={"callback_secret": "server-wide-secret"})
    queue("job.cancelled", now=t0, job_id=job_id, callback_url=receiver.url + "/signed")
    assert deliver_due(server_signed, now=t0) == 1
    assert_signed(receiver.requests[1], "server-wide-secret", verify_webhook)


def test_deleted_webhook_is_not_delivered(api_url, wh_settings, receiver, t0):
    hook = register(api_url, receiver.url)
    [did] = queue(now=t0)
    assert httpx.delete(f"{api_url}/webhooks/{hook['webhook_id']}", headers=H).status_code == 200
    assert deliver_due(wh_settings, now=t0) == 0
    assert receiver.requests == []
    [d] = deliveries(api_url, hook["webhook_id"])  # history stays readable for its owner
    assert (d["delivery_id"], d["status"], d["attempts"]) == (did, "failed", 0)
    assert "deleted" in d["last_error"]
    assert queue(now=t0) == []


def test_deliveries_newest_first_and_only_subscribed_events(api_url, wh_settings, receiver, t0):
    hook = register(api_url, receiver.url, events=["job.failed", "job.cancelled"])
    first = queue("job.failed", now=t0, job_id="job-a")
    assert queue("generation.completed", now=t0 + timedelta(seconds=1)) == []
    second = queue("job.cancelled", now=t0 + timedelta(seconds=2), job_id="job-b")
    listed = deliveries(api_url, hook["webhook_id"])
    assert [d["delivery_id"] for d in listed] == second + first
    assert [(d["event"], d["job_id"], d["status"], d["attempts"]) for d in listed] == \
        [("job.cancelled", "job-b", "pending", 0), ("job.failed", "job-a", "pending", 0)]
    assert listed[1]["next_attempt_at"] == t0.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert deliver_due(wh_settings, now=t0 + timedelta(seconds=2)) == 2
    assert sorted(r.json["event"] for r in receiver.requests) == ["job.cancelled", "job.failed"]


def test_concurrent_loops_send_each_delivery_once(api_url, wh_settings, receiver, t0):
    register(api_url, receiver.url)
    ids = [i for _ in range(6) for i in queue(now=t0)]
    counts: list[int] = []
    loops = [threading.Thread(target=lambda: counts.append(deliver_due(wh_settings, now=t0)))
             for _ in range(3)]
    for t in loops:
        t.start()
    for t in loops:
        t.join(30)
    assert sum(counts) == len(ids) == len(receiver.requests) == 6
    assert {r.headers["X-Inferloop-Delivery"] for r in receiver.requests} == set(ids)


def test_enqueue_refuses_unknown_events(t0):
    with pytest.raises(ValueError):
        queue("generation.done", now=t0)
