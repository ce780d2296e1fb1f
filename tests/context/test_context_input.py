"""Bad input answers 400 in context-api.md's envelope before anything is stored; rate limits; the LLM plug-in
behind the API (its service faked with an httpx transport). These need no Prefect: the API alone."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import func, select

from inferloop.core import db, storage
from tests.context.helpers import H, SHOP, post
from tests.context.test_analyzer import LLM_ANSWER, fake_llm
from tests.support import ApiServer


def stored() -> tuple[int, int]:
    """(jobs in the store, run folders in storage)."""
    with db.session_scope() as s:
        jobs = s.scalar(select(func.count()).select_from(db.Job))
    fs, path = storage.fs_for(storage.join("runs"))
    return int(jobs or 0), len(fs.ls(path)) if fs.exists(path) else 0


def new_key(api: str, tier: str) -> dict[str, str]:
    r = httpx.post(f"{api}/api/tabular/admin/keys", json={"account": f"ctx-{uuid.uuid4().hex[:8]}", "tier": tier},
                   headers=H, timeout=30)
    assert r.status_code == 201, r.text
    return {"X-API-Key": r.json()["api_key"]}


BAD = [
    ("/context/analyze", {"context": ""}, "context"),
    ("/context/analyze", {"context": "   \n "}, "context"),
    ("/context/analyze", {"context": "shop " * 200_001}, "context"),           # 1 MB and more
    ("/context/analyze", {"context": SHOP, "domain_hint": "astrology"}, "domain_hint"),
    ("/context/analyze", {}, "context"),
    ("/generate/sample", {"context": ""}, "context"),
    ("/generate/sample", {"context": SHOP, "sample_size": 0}, "sample_size"),
    ("/generate/sample", {"context": SHOP, "sample_size": 100_000}, "sample_size"),
    ("/generate/sample", {"context": SHOP, "schemas": ["unicorns"]}, "schemas"),
    ("/generate/corpus", {"context": SHOP, "corpus_size": 0}, "corpus_size"),
    ("/generate/corpus", {"context": "x" * 1_000_001, "corpus_size": 10}, "context"),
    ("/generate/corpus", {"context": SHOP, "corpus_size": 100, "export_format": "parquet"}, "export_format"),
    ("/generate/corpus", {"context": SHOP, "corpus_size": 100, "export_format": "sql",
                          "export_options": {"sql_dialect": "oracle"}}, "options.sql_dialect"),
    ("/generate/corpus", {"context": SHOP, "corpus_size": 100, "batch_size": 0}, "batch_size"),
    ("/generate/corpus", {"context": SHOP, "corpus_size": 200_000_000}, "corpus_size"),
    ("/generate/corpus", {"context": SHOP, "corpus_size": "many"}, "corpus_size"),
    ("/generate/feedback", {"job_id": "nope", "approved": True}, None),
]


@pytest.mark.parametrize("path,body,field", BAD)
def test_bad_input_is_400_and_nothing_is_stored(api_no_prefect, path, body, field):
    before = stored()
    r = post(api_no_prefect, path, body)
    if field is None:  # an unknown job: 404 in the same envelope
        assert r.status_code == 404 and r.json()["error_code"] == "NOT_FOUND", r.text
    else:
        assert r.status_code == 400, r.text
        e = r.json()
        assert (e["error_code"], e["status_code"], e["field"]) == ("VALIDATION_ERROR", 400, field), e
        assert isinstance(e["detail"], str) and e["detail"]
    assert stored() == before


def test_corpus_over_the_tier_is_400(api_no_prefect):
    starter = new_key(api_no_prefect, "starter")   # 100,000 records per hour
    before = stored()
    r = post(api_no_prefect, "/generate/corpus", {"context": SHOP, "corpus_size": 100_001}, headers=starter)
    assert r.status_code == 400 and r.json()["error_code"] == "VALIDATION_ERROR"
    assert "starter tier" in r.json()["detail"] and r.json()["max_corpus_size"] == 100_000
    assert stored() == before


def test_unauthenticated_and_envelope(api_no_prefect):
    r = httpx.post(f"{api_no_prefect}/api/v1/context/analyze", json={"context": SHOP}, timeout=30)
    assert r.status_code == 401 and r.json()["error_code"] == "UNAUTHORIZED" and r.json()["status_code"] == 401


def test_analyze_answers_the_documented_shape(api_no_prefect):
    r = post(api_no_prefect, "/context/analyze", {
        "context": "Healthcare clinic with 200 patients needs patient records and appointment scheduling",
        "domain_hint": "healthcare"})
    assert r.status_code == 200, r.text
    a = r.json()
    assert {"domain", "confidence", "requirements", "keywords", "suggested_schemas"} <= set(a)
    assert a["domain"] == "healthcare" and a["requirements"][0]["estimated_volume"] == "200"
    assert a["analyzer"] == "lexicon" and "spec" not in a
    assert r.headers["X-RateLimit-Limit"] == "60" and int(r.headers["X-RateLimit-Remaining"]) < 60
    assert int(r.headers["X-RateLimit-Reset"]) > 1_700_000_000


@pytest.fixture(scope="module")
def limited_api(settings):
    from api.main import create_app

    with ApiServer(create_app(settings.model_copy(update={"context_rate_per_minute": 3, "context_rate_per_hour": 5}),
                              run_watcher=False)) as server:
        yield server.url


def test_rate_limits_per_minute_and_hour(limited_api):
    key = new_key(limited_api, "business")
    remaining = []
    for _ in range(3):
        r = post(limited_api, "/context/analyze", {"context": SHOP}, headers=key)
        assert r.status_code == 200, r.text
        assert r.headers["X-RateLimit-Limit"] == "3"
        remaining.append(int(r.headers["X-RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]
    r = post(limited_api, "/generate/sample", {"context": SHOP}, headers=key)
    assert r.status_code == 429 and r.json()["error_code"] == "RATE_LIMITED" and r.json()["status_code"] == 429
    assert 0 < int(r.headers["Retry-After"]) <= 60 and r.headers["X-RateLimit-Remaining"] == "0"
    other = new_key(limited_api, "business")  # per client: another key has its own windows
    assert post(limited_api, "/context/analyze", {"context": SHOP}, headers=other).status_code == 200


@pytest.fixture()
def llm_api(settings, monkeypatch):
    from api.main import create_app
    from tasks.context import llm

    state = {"transport": fake_llm()}
    monkeypatch.setattr(llm, "TRANSPORT", httpx.MockTransport(lambda req: state["transport"].handle_request(req)))
    conf = settings.model_copy(update={"context_analyzer": "llm", "context_llm_url": "http://llm.test/v1",
                                       "context_llm_model": "fake-model"})
    with ApiServer(create_app(conf, run_watcher=False)) as server:
        yield server.url, state


def test_llm_plugin_through_the_api(llm_api):
    api, state = llm_api
    r = post(api, "/context/analyze", {"context": "A bakery with customers ordering cakes"})
    assert r.status_code == 200, r.text
    assert r.json()["analyzer"] == "llm" and r.json()["suggested_schemas"] == [s["name"].lower()
                                                                               for s in LLM_ANSWER["schemas"]]
    state["transport"] = fake_llm(status=500)
    before = stored()
    for path, body in (("/context/analyze", {"context": "a bakery"}), ("/generate/sample", {"context": "a bakery"})):
        r = post(api, path, body)
        assert r.status_code == 502 and r.json()["error_code"] == "LLM_ERROR" and r.json()["status_code"] == 502
        assert "HTTP 500" in r.json()["detail"]
    assert stored() == before
