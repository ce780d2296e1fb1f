"""The Python client (`from inferloop import TabularClient`) against the real API and platform over HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import httpx
import pandas as pd
import pytest

from inferloop import (APIConnectionError, APITimeoutError, AuthenticationError, ConflictError, JobCancelledError,
                       NotFoundError, RateLimitError, TabularClient, ValidationError)
from inferloop_client.http import RetryPolicy, Transport
from tests.support import API_KEY, free_port
from tests.tabular_data import customers

FAST = {"sdv_model": "gaussian_copula"}
COLUMNS = list(customers(3).columns)


def new_key(api: str, tier: str) -> str:
    """A key of a new account of `tier` (through the admin endpoint, as an administrator)."""
    r = httpx.post(f"{api}/api/tabular/admin/keys", json={"account": f"client-{tier}-{uuid.uuid4().hex[:8]}",
                                                          "tier": tier}, headers={"X-API-Key": API_KEY})
    assert r.status_code == 201, r.text
    return r.json()["api_key"]


@pytest.fixture(scope="module")
def client(api):
    with TabularClient(api_key=API_KEY, base_url=api) as c:
        yield c


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("client") / "customers.csv"
    customers(150).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def ready_model(client):
    model = client.models.create(customers(160), "client-model", parameters=FAST, seed=5,
                                 description="made by the client test", wait=True, timeout=300)
    assert model["status"] == "ready", model
    return model


def test_importing_inferloop_stays_light():
    code = ("import sys, inferloop; assert 'httpx' not in sys.modules and 'pandas' not in sys.modules; "
            "from inferloop import TabularClient, NotFoundError; assert 'pandas' not in sys.modules; "
            "print(inferloop.__version__, TabularClient.__name__, NotFoundError.__mro__[1].__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["0.1.0", "TabularClient", "InferloopAPIError"]


def test_generate_from_a_dataframe_with_constraints_returns_a_dataframe(client):
    adults = customers(400).query("30 <= age <= 50")   # training rows must meet the constraints too
    df = client.generate(adults, num_rows=60, seed=4, constraints=[
        {"type": "range", "column": "age", "min": 30, "max": 50}], **FAST)
    assert isinstance(df, pd.DataFrame) and len(df) == 60 and list(df.columns) == COLUMNS
    assert df["age"].between(30, 50).all()
    meta = df.attrs["inferloop"]
    assert meta["id"].startswith("gen-") and meta["metadata"]["generated_rows"] == 60


def test_generate_from_a_file_to_a_file_and_from_an_upload_url(client, csv_file, tmp_path):
    out = client.generate(csv_file, num_rows=40, seed=2, output=tmp_path / "synthetic.parquet", **FAST)
    assert out == tmp_path / "synthetic.parquet" and len(pd.read_parquet(out)) == 40
    gz = client.generate(client.upload(csv_file)["data_url"], num_rows=30, seed=2,
                         output=tmp_path / "synthetic.csv.gz", **FAST)   # a URL: an async job, followed
    assert len(pd.read_csv(gz, compression="gzip")) == 30


def test_async_job_handle_wait_logs_download_and_cancel(client, csv_file, tmp_path):
    job = client.generate_async(csv_file, num_rows=25, seed=1, **FAST)
    assert job.id.startswith("job-") and job.status == "pending"
    info = job.wait(timeout=300, progress=True)
    assert info["status"] == "completed" and info["progress"] == 100 and job.status == "completed"
    assert any("rows" in line["message"] for line in job.logs())
    assert len(job.to_pandas()) == 25
    assert len(pd.read_csv(job.download(tmp_path / "job.csv"))) == 25
    with pytest.raises(ConflictError) as exc:
        job.cancel()
    assert exc.value.code == "CONFLICT" and exc.value.status == 409 and "already completed" in exc.value.message
    assert exc.value.request_id.startswith("req-")

    slow = client.generate_async(csv_file, sdv_model="ctgan", epochs=3000, batch_size=100)
    assert slow.cancel()["status"] in ("cancelled", "cancelling")
    with pytest.raises(JobCancelledError) as cancelled:
        slow.wait(timeout=120, poll_interval=0.5)
    assert cancelled.value.code == "CANCELLED" and cancelled.value.job["status"] == "cancelled"


def test_profile_validate_and_privacy(client, csv_file):
    profile = client.profile(csv_file, sample_size=100)
    assert profile["summary"]["rows"] == 100 and set(profile["columns"]) == set(COLUMNS)
    synthetic = customers(150, seed=99)
    validation = client.validate(csv_file, synthetic, metrics=["statistical"])
    assert 0 <= validation["overall_score"] <= 1 and set(validation["metrics"]) == {"statistical_similarity"}
    privacy = client.privacy_analyze(customers(150), ["age", "country"], ["segment"])
    assert privacy["analysis_id"].startswith("priv-") and privacy["metrics"]["k_anonymity"]["k"] >= 1


def test_models_create_list_get_generate_stream_delete(client, ready_model, tmp_path):
    model_id = ready_model["model_id"]
    assert ready_model["description"] == "made by the client test" and set(ready_model["columns"]) == set(COLUMNS)
    assert model_id in [m["model_id"] for m in client.models.list()]
    assert client.models.get(model_id)["quality_score"] == ready_model["quality_score"]
    gold = client.models.generate(model_id, 30, conditions={"segment": "gold"}, seed=1)
    assert len(gold) == 30 and (gold["segment"] == "gold").all()
    path = client.models.generate(model_id, 20, output=tmp_path / "m.json")
    assert len(pd.read_json(path)) == 20
    records = list(client.stream(model_id, rate="max", limit=25, seed=3))
    assert len(records) == 25 and all(set(r) == set(COLUMNS) for r in records)
    csv_records = list(client.stream(model_id, rate=200, format="csv", duration=0.5))
    assert 0 < len(csv_records) and set(csv_records[0]) == set(COLUMNS)


def test_deleted_and_unknown_models_are_not_found(client):
    model = client.models.create(customers(80), "to-delete", parameters=FAST, wait=True)
    assert client.models.delete(model["model_id"]) == {"ok": True, "model_id": model["model_id"]}
    for call in (lambda: client.models.get(model["model_id"]), lambda: client.models.generate("model-nope", 5),
                 lambda: list(client.stream("model-nope")), lambda: client.job("job-nope").refresh()):
        with pytest.raises(NotFoundError) as exc:
            call()
        assert exc.value.code == "NOT_FOUND" and exc.value.status == 404 and exc.value.request_id


def test_batch_of_files(client, csv_file):
    batch = client.batch([csv_file, {"url": client.upload(customers(90))["data_url"], "name": "uploaded"}],
                         num_rows=20, seed=1, **FAST)
    assert batch.id.startswith("batch-") and batch.info["total_files"] == 2
    frames = batch.results(timeout=300)
    assert batch.status == "completed" and sorted(frames) == ["customers", "uploaded"]
    assert all(len(f) == 20 for f in frames.values())


def test_constraint_sets(client):
    made = client.constraints.create("adults", [{"type": "range", "column": "age", "min": 40, "max": 60}])
    assert made["constraint_id"].startswith("const-") and made["validation_status"] == "valid"
    assert client.constraints.get(made["constraint_id"])["constraints"][0]["column"] == "age"
    assert made["constraint_id"] in [c["constraint_id"] for c in client.constraints.list()]
    df = client.generate(customers(400).query("40 <= age <= 60"), num_rows=30, constraint_id=made["constraint_id"],
                         **FAST)
    assert df["age"].between(40, 60).all()


def test_multitable_generate(client):
    from tests.multitable_data import shop_star

    tables, relationships = shop_star()
    frames = client.multitable_generate({k: tables[k] for k in ("customers", "orders", "products")},
                                        [r for r in relationships if r["child"] == "orders"], seed=2)
    assert set(frames) == {"customers", "orders", "products"}
    assert frames["orders"]["customer_id"].isin(frames["customers"]["customer_id"]).all()
    assert frames["orders"].attrs["inferloop"]["relationship_integrity"]["valid"] is True


def test_usage_and_key_from_environment_or_jwt(api, monkeypatch):
    monkeypatch.setenv("INFERLOOP_API_KEY", API_KEY)
    monkeypatch.setenv("INFERLOOP_API_URL", api)
    assert TabularClient().usage("24h")["period"] == "24h"
    token = httpx.post(f"{api}/api/tabular/auth/token", headers={"X-API-Key": API_KEY}).json()["access_token"]
    assert TabularClient(api_key=token, base_url=api).usage()["period"] == "7d"


def test_bad_key_and_bad_input_are_typed_errors(api, client):
    with pytest.raises(AuthenticationError) as exc:
        TabularClient(api_key="il_nope", base_url=api).usage()
    assert (exc.value.code, exc.value.status, exc.value.message) == ("UNAUTHORIZED", 401, "Invalid API key")
    assert "UNAUTHORIZED: Invalid API key" in str(exc.value) and exc.value.request_id.startswith("req-")
    with pytest.raises(ValidationError) as bad:
        client.generate(customers(20), algorithm="nope")
    assert bad.value.field == "algorithm" and bad.value.status == 400
    with pytest.raises(FileNotFoundError):
        client.generate("no-such-file.csv")


def test_rate_limit_is_raised_at_once_or_retried_after_the_reset(api):
    key = new_key(api, "starter")   # 10 requests an hour
    starter = TabularClient(api_key=key, base_url=api)
    for _ in range(10):
        starter.usage()
    started = time.monotonic()
    with pytest.raises(RateLimitError) as exc:
        starter.usage()   # the window resets in ~an hour: longer than max_retry_wait, so no waiting
    assert time.monotonic() - started < 5
    assert exc.value.code == "RATE_LIMITED" and exc.value.status == 429 and 60 < exc.value.retry_after <= 3600
    slept: list[float] = []
    patient = Transport(api, key, retry=RetryPolicy(max_retries=2, max_wait=7200), sleep=slept.append)
    with pytest.raises(RateLimitError):
        patient.json("GET", "/api/tabular/usage")
    assert len(slept) == 2 and all(abs(s - exc.value.retry_after) < 5 for s in slept)  # X-RateLimit-Reset-After


def test_network_errors_are_retried_with_backoff_but_a_sent_post_never_twice(api, client):
    sent: list[str] = []
    hooks = {"request": [lambda request: sent.append(request.method)]}
    slept: list[float] = []
    dead = Transport(f"http://127.0.0.1:{free_port()}", API_KEY, retry=RetryPolicy(max_retries=3, backoff=0.2),
                     http_client=httpx.Client(event_hooks=hooks), sleep=slept.append)
    with pytest.raises(APIConnectionError) as exc:
        dead.json("POST", "/api/tabular/generate/async", json={})   # never reached the server: safe to resend
    assert sent == ["POST"] * 4 and len(slept) == 3 and slept[0] < slept[2] and "could not reach" in str(exc.value)

    sent.clear()
    impatient = TabularClient(api_key=API_KEY, base_url=api, sync_timeout=0.3,
                              http_client=httpx.Client(event_hooks=hooks))
    with pytest.raises(APITimeoutError):
        impatient.generate(customers(50), num_rows=10, **FAST)   # the server got it: not sent again
    assert sent == ["POST"]
