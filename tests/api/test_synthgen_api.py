"""The SynthGen API end to end: dataset versions, models of each type, generate jobs, download, delete."""

from __future__ import annotations

import io
import time
import uuid

import httpx
import pandas as pd
import pytest

from inferloop.core import db, storage
from tests.api.jobs_helpers import upload
from tests.support import API_KEY, OTHER_KEY
from tests.tabular_data import customers

BEARER = {"Authorization": f"Bearer {API_KEY}"}  # the document sends keys as Bearer tokens
OTHER = {"Authorization": f"Bearer {OTHER_KEY}"}
PROJECT = "d4e5f6a7-b8c9-0123-def4-567890123456"


def run_state(flow_run_id: str):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id).state


def register(api: str, headers: dict | None = None, **body) -> httpx.Response:
    return httpx.post(f"{api}/api/synthgen/dataset-versions", json=body, headers=headers or BEARER, timeout=60)


def wait_model(api: str, model_id: str, timeout: float = 300) -> dict:
    end = time.monotonic() + timeout
    while True:
        body = httpx.get(f"{api}/api/synthgen/models/{model_id}", headers=BEARER, timeout=60).json()
        if body["model"]["status"] in ("ready", "failed"):
            return body
        assert time.monotonic() < end
        time.sleep(0.5)


def wait_job(api: str, job_id: str, timeout: float = 300) -> dict:
    end = time.monotonic() + timeout
    while True:
        body = httpx.get(f"{api}/api/synthgen/jobs/{job_id}", headers=BEARER, timeout=60).json()
        if body["status"] in ("completed", "failed"):
            return body
        assert time.monotonic() < end
        time.sleep(0.5)


@pytest.fixture(scope="module")
def dataset(api):
    up = upload(api, 180)
    version_id = str(uuid.uuid4())
    r = register(api, id=version_id, data_url=up["data_url"], name="Transactions Q4", project_id=PROJECT,
                 project_name="Fraud Detection v2")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"] == version_id and body["version"] == 0 and body["rows"] == 180 and body["columns"] == 6
    return body


def test_dataset_versions_register_list_and_conflict(api, dataset):
    again = register(api, id=dataset["id"], data_url="upload://x", name="dup")
    assert again.status_code in (400, 409)
    csv = customers(50).to_csv(index=False).encode()
    r = httpx.post(f"{api}/api/synthgen/dataset-versions", files={"file": ("t.csv", csv)},
                   data={"name": "Transactions Q4", "dataset_id": dataset["dataset_id"], "project_id": PROJECT},
                   headers=BEARER, timeout=60)
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1 and r.json()["dataset_id"] == dataset["dataset_id"] and r.json()["rows"] == 50
    listed = httpx.get(f"{api}/api/synthgen/dataset-versions", params={"project_id": PROJECT}, headers=BEARER,
                       timeout=60).json()
    assert {dataset["id"], r.json()["id"]} <= {v["id"] for v in listed["items"]}
    assert httpx.get(f"{api}/api/synthgen/dataset-versions/{dataset['id']}", headers=OTHER,
                     timeout=60).status_code == 404
    bad = register(api, id="not-a-uuid", data_url="upload://x", name="n")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "id"


def test_model_types_list_the_four_documented_and_tabular_argn(api):
    r = httpx.get(f"{api}/api/synthgen/model-types", headers=BEARER, timeout=60)
    ids = [t["id"] for t in r.json()["model_types"]]
    assert ids[:4] == ["ctgan", "copulagan", "tvae", "gaussian_copula"] and "tabular_argn" in ids


def test_train_generate_download_and_jobs(api, dataset):
    r = httpx.post(f"{api}/api/synthgen/models", headers=BEARER, json={
        "project_id": PROJECT, "dataset_version_id": dataset["id"], "name": "Transactions GC",
        "model_type": "gaussian_copula", "config": {"seed": 4}})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["id"] == created["model_id"] and created["status"] == "pending" and created["job_id"]
    detail = wait_model(api, created["model_id"])
    model = detail["model"]
    assert model["status"] == "ready" and model["model_type"] == "gaussian_copula"
    assert model["dataset_name"] == "Transactions Q4" and model["dataset_version"] == 0
    assert model["dataset_id"] == dataset["dataset_id"]
    assert [j["job_type"] for j in detail["jobs"]] == ["train"] and detail["jobs"][0]["status"] == "completed"

    gen = httpx.post(f"{api}/api/synthgen/models/{created['model_id']}/generate", headers=BEARER,
                     json={"num_rows": 120, "seed": 42}, timeout=60)
    assert gen.status_code == 200, gen.text
    job_id = gen.json()["synthgen_job_id"]
    assert gen.json()["status"] == "pending" and gen.json()["job_id"]
    early = httpx.get(f"{api}/api/synthgen/jobs/{job_id}/download", headers=BEARER, timeout=60)
    assert early.status_code in (200, 409)  # 409 until the output is there
    job = wait_job(api, job_id)
    assert job["status"] == "completed" and job["job_type"] == "generate" and job["model_name"] == "Transactions GC"
    assert job["config"] == {"num_rows": 120, "seed": 42} and job["project_name"] == "Fraud Detection v2"
    assert job["output_artifact_id"]
    dl = httpx.get(f"{api}/api/synthgen/jobs/{job_id}/download", headers=BEARER, timeout=60)
    assert dl.status_code == 200
    frame = pd.read_csv(io.StringIO(dl.text))
    assert len(frame) == 120 and set(frame.columns) == {"age", "income", "segment", "country", "active", "signup"}

    listed = httpx.get(f"{api}/api/synthgen/jobs", params={"model_id": created["model_id"]}, headers=BEARER,
                       timeout=60).json()
    assert listed["total"] == 2 and {j["job_type"] for j in listed["items"]} == {"train", "generate"}
    done = httpx.get(f"{api}/api/synthgen/jobs", params={"model_id": created["model_id"], "status": "completed",
                                                         "limit": 1}, headers=BEARER, timeout=60).json()
    assert done["total"] == 2 and len(done["items"]) == 1 and done["limit"] == 1
    by_project = httpx.get(f"{api}/api/synthgen/models", params={"project_id": PROJECT}, headers=BEARER,
                           timeout=60).json()
    assert created["model_id"] in {m["id"] for m in by_project["items"]}
    elsewhere = httpx.get(f"{api}/api/synthgen/models", params={"project_id": str(uuid.uuid4())}, headers=BEARER,
                          timeout=60).json()
    assert elsewhere == {"items": [], "total": 0, "limit": 50, "offset": 0}
    assert httpx.get(f"{api}/api/synthgen/jobs/{job_id}", headers=OTHER, timeout=60).status_code == 404

    # the Tabular API sees the same registry
    tab = httpx.get(f"{api}/api/tabular/models/{created['model_id']}", headers=BEARER, timeout=60).json()
    assert tab["status"] == "ready" and tab["project_id"] == PROJECT

    with db.session_scope() as s:
        artifact = s.get(db.Model, created["model_id"]).artifact_uri
    gone = httpx.delete(f"{api}/api/synthgen/models/{created['model_id']}", headers=BEARER, timeout=60)
    assert gone.json() == {"ok": True, "model_id": created["model_id"]}
    assert not storage.exists(artifact)
    assert httpx.get(f"{api}/api/synthgen/models/{created['model_id']}", headers=BEARER,
                     timeout=60).status_code == 404
    assert httpx.get(f"{api}/api/synthgen/jobs/{job_id}", headers=BEARER, timeout=60).status_code == 404


def test_ctgan_config_reaches_the_model(api, dataset):
    r = httpx.post(f"{api}/api/synthgen/models", headers=BEARER, json={
        "project_id": PROJECT, "dataset_version_id": dataset["id"], "name": "tiny ctgan", "model_type": "ctgan",
        "config": {"epochs": 2, "batch_size": 60, "embedding_dim": 16, "generator_dim": [32, 32],
                   "discriminator_dim": [32], "pac": 6}})
    assert r.status_code == 201, r.text
    detail = wait_model(api, r.json()["model_id"])
    assert detail["model"]["status"] == "ready", detail
    config = detail["model"]["config"]
    assert config["epochs"] == 2 and config["generator_dim"] == [32, 32] and config["pac"] == 6


@pytest.mark.parametrize("body, status, field", [
    ({"model_type": "gpt"}, 400, "model_type"),
    ({"model_type": "tvae", "config": {"pac": 10}}, 400, "config.pac"),
    ({"model_type": "ctgan", "config": {"epochs": 0}}, 400, "epochs"),
    ({"model_type": "ctgan", "config": {"batch_size": 500, "pac": 7}}, 400, "pac"),
    ({"dataset_version_id": "f6a7b8c9-d0e1-2345-6789-0abcdef12345"}, 404, "dataset_version_id"),
    ({"name": None}, 400, "name"),
])
def test_bad_model_requests(api, dataset, body, status, field):
    payload = {"project_id": PROJECT, "dataset_version_id": dataset["id"], "name": "m", **body}
    r = httpx.post(f"{api}/api/synthgen/models", headers=BEARER, json=payload, timeout=60)
    assert r.status_code == status, r.text
    assert r.json()["error"]["field"] == field


def test_generate_needs_a_ready_model(api, dataset):
    r = httpx.post(f"{api}/api/synthgen/models", headers=BEARER, json={
        "project_id": PROJECT, "dataset_version_id": dataset["id"], "name": "slow", "model_type": "ctgan",
        "config": {"epochs": 5000, "batch_size": 50, "pac": 5}})
    model_id = r.json()["model_id"]
    gen = httpx.post(f"{api}/api/synthgen/models/{model_id}/generate", headers=BEARER, json={"num_rows": 5},
                     timeout=60)
    assert gen.status_code == 409 and gen.json()["error"]["code"] == "CONFLICT"
    train_job = r.json()["job_id"]
    dl = httpx.get(f"{api}/api/synthgen/jobs/{train_job}/download", headers=BEARER, timeout=60)
    assert dl.status_code == 409
    with db.session_scope() as s:
        flow_run_id = s.get(db.Job, train_job).flow_run_id
    assert httpx.delete(f"{api}/api/synthgen/models/{model_id}", headers=BEARER, timeout=120).status_code == 200
    # the training run, only just started, was stopped (not left training 5000 epochs on the worker)
    assert run_state(flow_run_id).is_final()
    unknown = httpx.post(f"{api}/api/synthgen/models/{uuid.uuid4()}/generate", headers=BEARER,
                         json={"num_rows": 5}, timeout=60)
    assert unknown.status_code == 404
