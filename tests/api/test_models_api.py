"""Model registry through the Tabular API: train once (a train_model flow run), list, generate many, delete."""

from __future__ import annotations

import io
import time

import httpx
import pandas as pd
import pytest

from inferloop.core import db, storage
from tests.api.jobs_helpers import H, upload
from tests.support import OTHER_KEY
from tests.tabular_data import customers

OTHER = {"X-API-Key": OTHER_KEY}


def create(api: str, data_url: str, headers: dict | None = None, **body) -> httpx.Response:
    payload = {"name": "customer_model", "algorithm": "sdv", "training_data_url": data_url,
               "parameters": {"sdv_model": "gaussian_copula"}, **body}
    return httpx.post(f"{api}/api/tabular/models", json=payload, headers=headers or H, timeout=60)


def wait_ready(api: str, model_id: str, timeout: float = 300, headers: dict | None = None) -> dict:
    end = time.monotonic() + timeout
    while True:
        r = httpx.get(f"{api}/api/tabular/models/{model_id}", headers=headers or H, timeout=60)
        assert r.status_code == 200, r.text
        if r.json()["status"] != "training":
            return r.json()
        assert time.monotonic() < end, f"model {model_id} still training"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def ready_model(api):
    up = upload(api, 240)
    r = create(api, up["data_url"], seed=11, description="Customer data generator model")
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "training" and body["model_id"].startswith("model-")
    assert body["training_job_id"].startswith("job-") and body["created_at"].endswith("Z")
    model = wait_ready(api, body["model_id"])
    assert model["status"] == "ready", model
    return model


def test_trained_model_is_recorded_with_its_facts(api, ready_model):
    m = ready_model
    assert m["name"] == "customer_model" and m["algorithm"] == "sdv" and m["model_type"] == "gaussian_copula"
    assert 0 < m["quality_score"] <= 1 and m["size_mb"] > 0 and m["description"] == "Customer data generator model"
    assert set(m["columns"]) == {"age", "income", "segment", "country", "active", "signup"}
    assert m["metadata"]["training_rows"] == 240
    with db.session_scope() as s:
        rec = s.get(db.Model, m["model_id"])
    assert storage.exists(rec.artifact_uri) and rec.owner != "" and rec.status == "ready"
    job = httpx.get(f"{api}/api/tabular/jobs/{m['training_job_id']}", headers=H, timeout=60).json()
    assert job["status"] == "completed" and job["result"]["model_id"] == m["model_id"]
    assert job["result"]["quality_score"] == m["quality_score"]


def test_generate_many_from_one_model(api, ready_model):
    model_id = ready_model["model_id"]
    url = f"{api}/api/tabular/models/{model_id}/generate"
    first = httpx.post(url, json={"num_rows": 70, "format": "csv", "seed": 3}, headers=H, timeout=300)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["status"] == "completed" and body["rows_generated"] == 70 and body["model_id"] == model_id
    assert body["generation_id"].startswith("gen-") and body["download_url"].startswith("/api/tabular/download/")
    a = pd.read_csv(io.StringIO(httpx.get(f"{api}{body['download_url']}", headers=H, timeout=60).text))
    assert len(a) == 70 and list(a.columns) == ["age", "income", "segment", "country", "active", "signup"]
    again = httpx.post(url, json={"num_rows": 70, "seed": 3}, headers=H, timeout=300).json()
    b = pd.read_csv(io.StringIO(httpx.get(f"{api}{again['download_url']}", headers=H, timeout=60).text))
    pd.testing.assert_frame_equal(a, b)  # same seed, same rows
    job = httpx.get(f"{api}/api/tabular/jobs/{body['generation_id']}", headers=H, timeout=60).json()
    assert job["status"] == "completed" and job["result"]["rows"] == 70 and job["model_id"] == model_id
    listed = httpx.get(f"{api}/api/tabular/models", headers=H, timeout=60).json()["models"]
    assert next(m for m in listed if m["model_id"] == model_id)["last_used"] is not None


def test_list_pages_filters_and_sorts(api, ready_model):
    up = upload(api, 120)
    other = create(api, up["data_url"], name="aaa_first_by_name").json()
    wait_ready(api, other["model_id"])
    r = httpx.get(f"{api}/api/tabular/models", params={"per_page": 1, "page": 1, "sort": "name"}, headers=H,
                  timeout=60)
    body = r.json()
    assert r.status_code == 200 and len(body["models"]) == 1 and body["models"][0]["name"] == "aaa_first_by_name"
    assert body["pagination"]["per_page"] == 1 and body["pagination"]["total"] >= 2
    assert body["pagination"]["pages"] == body["pagination"]["total"]
    by_quality = httpx.get(f"{api}/api/tabular/models", params={"sort": "quality_score"}, headers=H,
                           timeout=60).json()["models"]
    scores = [m["quality_score"] for m in by_quality if m["quality_score"] is not None]
    assert scores == sorted(scores, reverse=True)
    none = httpx.get(f"{api}/api/tabular/models", params={"algorithm": "ctgan"}, headers=H, timeout=60).json()
    assert all(m["algorithm"] == "ctgan" for m in none["models"])
    bad = httpx.get(f"{api}/api/tabular/models", params={"sort": "size"}, headers=H, timeout=60)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_REQUEST"
    theirs = httpx.get(f"{api}/api/tabular/models", headers=OTHER, timeout=60).json()
    assert ready_model["model_id"] not in {m["model_id"] for m in theirs["models"]}


def test_model_from_a_multipart_upload(api):
    csv = customers(90).to_csv(index=False).encode()
    r = httpx.post(f"{api}/api/tabular/models", files={"file": ("c.csv", csv)},
                   data={"name": "uploaded", "algorithm": "sdv", "parameters": '{"sdv_model": "gaussian_copula"}'},
                   headers=H, timeout=60)
    assert r.status_code == 202, r.text
    assert wait_ready(api, r.json()["model_id"])["status"] == "ready"


def test_unknown_other_owners_and_deleted_models_are_not_found(api, ready_model):
    url = f"{api}/api/tabular/models/model-nope/generate"
    r = httpx.post(url, json={"num_rows": 5}, headers=H, timeout=60)
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    r = httpx.post(f"{api}/api/tabular/models/{ready_model['model_id']}/generate", json={"num_rows": 5},
                   headers=OTHER, timeout=60)
    assert r.status_code == 404
    up = upload(api, 80)
    doomed = create(api, up["data_url"], name="doomed").json()
    model = wait_ready(api, doomed["model_id"])
    with db.session_scope() as s:
        artifact = s.get(db.Model, model["model_id"]).artifact_uri
    gone = httpx.delete(f"{api}/api/tabular/models/{model['model_id']}", headers=H, timeout=60)
    assert gone.status_code == 200 and gone.json() == {"ok": True, "model_id": model["model_id"]}
    assert not storage.exists(artifact)
    r = httpx.post(f"{api}/api/tabular/models/{model['model_id']}/generate", json={"num_rows": 5}, headers=H,
                   timeout=60)
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"


def test_model_not_ready_is_409(api):
    slow = create(api, upload(api, 150)["data_url"], name="slow",
                  parameters={"sdv_model": "ctgan", "epochs": 3000, "batch_size": 50}).json()
    r = httpx.post(f"{api}/api/tabular/models/{slow['model_id']}/generate", json={"num_rows": 5}, headers=H,
                   timeout=60)
    assert r.status_code == 409 and r.json()["error"]["code"] == "CONFLICT"
    assert httpx.delete(f"{api}/api/tabular/models/{slow['model_id']}", headers=H, timeout=60).status_code == 200


def test_training_that_fails_leaves_a_failed_model(api, s3_bucket):
    import s3fs

    uri = f"{s3_bucket}/vanishing.csv"
    fs = s3fs.S3FileSystem()
    with fs.open(uri, "wb") as f:
        f.write(customers(60).to_csv(index=False).encode())
    r = create(api, uri, name="vanishing")
    assert r.status_code == 202, r.text
    fs.rm(uri)  # gone before the flow run reads it
    model = wait_ready(api, r.json()["model_id"])
    assert model["status"] == "failed" and model["error"]["code"] and model["error"]["message"]
    gen = httpx.post(f"{api}/api/tabular/models/{model['model_id']}/generate", json={"num_rows": 5}, headers=H,
                     timeout=60)
    assert gen.status_code == 409 and gen.json()["error"]["code"] == "CONFLICT"


@pytest.mark.parametrize("body, field", [
    ({"algorithm": "nope"}, "algorithm"),
    ({"parameters": {"sdv_model": "ctgan", "epochs": -1}}, "epochs"),
    ({"training_data_url": "ftp://x/y.csv"}, "training_data_url"),
    ({"name": ""}, "name"),
    ({"surprise": 1}, "surprise"),
])
def test_bad_model_requests_start_nothing(api_no_prefect, body, field):
    payload = {"name": "m", "training_data_url": "s3://inferloop-test/none.csv", **body}
    before = _count_models()
    r = httpx.post(f"{api_no_prefect}/api/tabular/models", json=payload, headers=H, timeout=60)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field
    assert _count_models() == before


@pytest.mark.parametrize("body, field", [
    ({"num_rows": 0}, "num_rows"), ({"format": "xlsx"}, "format"), ({"seed": -1}, "seed"),
])
def test_bad_generate_requests(api, ready_model, body, field):
    r = httpx.post(f"{api}/api/tabular/models/{ready_model['model_id']}/generate", json=body, headers=H, timeout=60)
    assert r.status_code == 400 and r.json()["error"]["field"] == field


def _count_models() -> int:
    from sqlalchemy import func, select

    with db.session_scope() as s:
        return s.scalar(select(func.count()).select_from(db.Model))


def test_conditions_hold_on_every_row(api, ready_model):
    url = f"{api}/api/tabular/models/{ready_model['model_id']}/generate"
    r = httpx.post(url, json={"num_rows": 60, "seed": 1, "conditions": {
        "segment": "gold", "age": ">30", "country": ["FR", "DE"], "income": "<= 40000"}}, headers=H, timeout=300)
    assert r.status_code == 200, r.text
    rows = pd.read_csv(io.StringIO(httpx.get(f"{api}{r.json()['download_url']}", headers=H, timeout=60).text))
    assert len(rows) == 60
    assert (rows["segment"] == "gold").all() and (rows["age"] > 30).all()
    assert rows["country"].isin(["FR", "DE"]).all()
    assert (rows["income"].dropna() <= 40000).all()


@pytest.mark.parametrize("conditions, code, field", [
    ({"segment": "platinum"}, "CONSTRAINT_VIOLATION", "conditions.segment"),   # never seen
    ({"age": ">500"}, "CONSTRAINT_VIOLATION", "conditions.age"),              # empty range
    ({"shoe_size": 42}, "INVALID_REQUEST", "conditions.shoe_size"),           # unknown column
    ({"age": ">>3"}, "INVALID_REQUEST", "conditions.age"),                    # malformed
])
def test_bad_conditions_are_refused_before_a_run(api, ready_model, conditions, code, field):
    url = f"{api}/api/tabular/models/{ready_model['model_id']}/generate"
    r = httpx.post(url, json={"num_rows": 5, "conditions": conditions}, headers=H, timeout=60)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["field"] == field
