"""POST /generate end to end: HTTP -> flow run on the work pool's worker -> stored output -> download."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import time

import httpx
import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.support import API_KEY, OTHER_KEY, ApiServer
from tests.tabular_data import customers

H = {"X-API-Key": API_KEY}
FAST = {"epochs": "1", "batch_size": "100"}


def generate(api: str, data: dict, csv: bytes | None = None, timeout: float = 600) -> httpx.Response:
    csv = csv if csv is not None else customers(200).to_csv(index=False).encode()
    return httpx.post(f"{api}/api/tabular/generate", files={"file": ("customers.csv", csv)}, data=data,
                      headers=H, timeout=timeout)


def download(api: str, gen_id: str, fmt: str = "csv", compression: str = "none") -> httpx.Response:
    r = httpx.get(f"{api}/api/tabular/download/{gen_id}", params={"format": fmt, "compression": compression},
                  headers=H, timeout=120)
    assert r.status_code == 200, r.text
    return r


def read_csv(content: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(content))


@pytest.mark.parametrize("data", [
    {"algorithm": "sdv", "sdv_model": "gaussian_copula", "default_distribution": "beta", "enforce_min_max": "true"},
    {"algorithm": "sdv", "sdv_model": "ctgan", **FAST, "embedding_dim": "16", "discriminator_steps": "2"},
    {"algorithm": "sdv", "sdv_model": "copulagan", **FAST},
    {"algorithm": "sdv", "sdv_model": "tvae", **FAST},
    {"algorithm": "ctgan", **FAST, "embedding_dim": "16"},
], ids=["gaussian_copula", "sdv-ctgan", "copulagan", "tvae", "ctgan-lib"])
def test_each_algorithm_generates(api, data):
    r = generate(api, {**data, "num_rows": "150"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"].startswith("gen-") and body["status"] == "completed"
    assert body["algorithm"] == data["algorithm"] and isinstance(body["created"], int)
    md = body["metadata"]
    assert md["original_rows"] == 200 and md["generated_rows"] == 150 and md["columns"] == 6
    assert md["generation_time"] > 0 and 0 <= md["quality_score"] <= 1
    assert set(body["download_formats"]) == {"csv", "parquet", "json"}
    assert body["data_url"].startswith(api) and body["id"] in body["data_url"]
    df = read_csv(download(api, body["id"]).content)
    assert len(df) == 150
    assert list(df.columns) == list(customers(5).columns)
    manifest = stored_manifest(body["id"])
    expected = "ctgan" if data["algorithm"] == "ctgan" else f"sdv:{data['sdv_model']}"
    assert manifest["model_key"] == expected  # the requested model really ran
    if "epochs" in data:
        assert manifest["parameters"]["epochs"] == int(data["epochs"])


def stored_manifest(gen_id: str) -> dict:
    from api.jobs import read_manifest
    from inferloop.core import db

    with db.session_scope() as s:
        return read_manifest(s.get(db.Job, gen_id).flow_run_id)


def test_same_seed_same_file(api):
    data = {"algorithm": "ctgan", **FAST, "num_rows": "100", "seed": "42"}
    a, b = generate(api, data).json(), generate(api, data).json()
    assert download(api, a["id"]).content == download(api, b["id"]).content
    c = generate(api, {**data, "seed": "43"}).json()
    assert download(api, c["id"]).content != download(api, a["id"]).content


def test_same_seed_same_file_sdv(api):
    data = {"algorithm": "sdv", "sdv_model": "gaussian_copula", "num_rows": "100", "seed": "7"}
    a, b = generate(api, data).json(), generate(api, data).json()
    assert download(api, a["id"]).content == download(api, b["id"]).content


@pytest.fixture(scope="module")
def one_generation(api):
    r = generate(api, {"algorithm": "sdv", "num_rows": "120", "format": "parquet"})
    assert r.status_code == 200, r.text
    return r.json()


def test_default_num_rows_is_input_size(one_generation):
    assert one_generation["metadata"]["generated_rows"] == 120
    assert one_generation["data_url"].endswith("format=parquet")


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
@pytest.mark.parametrize("compression", ["none", "gzip", "snappy"])
def test_download_formats(api, one_generation, fmt, compression):
    r = download(api, one_generation["id"], fmt, compression)
    assert "attachment" in r.headers["content-disposition"]
    raw = r.content
    if fmt == "parquet":
        df = pq.read_table(io.BytesIO(raw)).to_pandas()
    else:
        if compression == "gzip":
            raw = gzip.decompress(raw)
        elif compression == "snappy":
            import snappy
            raw = snappy.StreamDecompressor().decompress(raw)
        df = read_csv(raw) if fmt == "csv" else pd.DataFrame(json.loads(raw))
    assert len(df) == 120 and df.shape[1] == 6


def test_other_owner_cannot_download(api, one_generation):
    r = httpx.get(f"{api}/api/tabular/download/{one_generation['id']}", headers={"X-API-Key": OTHER_KEY})
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"


def test_unicode_data_through_the_api(api):
    df = pd.DataFrame({"città": ["Zürich", "東京", "São Paulo", "Kraków"] * 15,
                       "名前": ["Ünal", "José", "Zoë", "李"] * 15, "n": range(60)})
    r = generate(api, {"algorithm": "sdv", "num_rows": "40"}, df.to_csv(index=False).encode())
    assert r.status_code == 200, r.text
    out = read_csv(download(api, r.json()["id"]).content)
    assert list(out.columns) == ["città", "名前", "n"]
    assert set(out["città"]) <= {"Zürich", "東京", "São Paulo", "Kraków"}


def test_run_visible_in_prefect_with_tasks_and_quality_artifact(api, one_generation):
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, FlowRunFilter

    from inferloop.core import db

    with db.session_scope() as s:
        flow_run_id = s.get(db.Job, one_generation["id"]).flow_run_id

    async def inspect():
        async with get_client() as client:
            fr = await client.read_flow_run(flow_run_id)
            tasks = await client.read_task_runs(flow_run_filter=FlowRunFilter(id={"any_": [fr.id]}))
            arts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[fr.id])))
            dep = await client.read_deployment(fr.deployment_id)
            return fr, tasks, arts, dep

    fr, tasks, arts, dep = asyncio.run(inspect())
    assert fr.state.is_completed() and dep.name == "generate" and dep.work_pool_name == "test-gpu"
    assert {"load", "profile", "train", "sample", "validate", "export"} <= {t.name.split("-")[0] for t in tasks}
    assert "quality-report" in {a.key for a in arts}
    assert any(a.type == "progress" and float(a.data) == 100.0 for a in arts)


def test_a_sync_call_estimated_past_the_limit_answers_202_with_its_job_at_once(api, settings):
    """The 504 after waiting is tested in test_multitable (a request whose size is unknown has no estimate),
    and so is the Python client following a 202 to its result."""
    from api.main import create_app

    quick = settings.model_copy(update={"sync_timeout_seconds": 0.2})
    with ApiServer(create_app(quick, run_watcher=False)) as server:
        started = time.monotonic()
        r = generate(server.url, {"algorithm": "sdv", "num_rows": "10"})
        answered = time.monotonic() - started
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["job_id"].startswith("gen-") and body["status"] == "pending" and answered < 30
    assert body["status_url"] == f"/api/tabular/jobs/{body['job_id']}" == r.headers["location"]
    assert body["estimated_time"] > body["sync_timeout_seconds"] == 0.2 and "estimated" in body["message"]
    # the job goes on; its output becomes downloadable once the run completes
    from tests.api.jobs_helpers import wait_for

    job = wait_for(api, body["job_id"], {"completed", "failed"})
    assert job["status"] == "completed", job
    assert len(read_csv(download(api, body["job_id"]).content)) == 10


def test_profile_estimated_past_the_limit_answers_202_too(api, settings):
    from api.main import create_app

    quick = settings.model_copy(update={"sync_timeout_seconds": 0.2})
    with ApiServer(create_app(quick, run_watcher=False)) as server:
        r = httpx.post(f"{server.url}/api/tabular/profile", headers=H, timeout=60,
                       files={"file": ("customers.csv", customers(50).to_csv(index=False).encode())})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["job_id"].startswith("prof-") and body["estimated_time"] > 0.2
    r = httpx.post(f"{api}/api/tabular/jobs/{body['job_id']}/cancel", headers=H, timeout=60)  # not needed here
    assert r.status_code in (202, 409), r.text


def test_ready_checks_everything(api):
    r = httpx.get(f"{api}/ready", timeout=300)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready" and body["database_connected"] and body["prefect_connected"]
    assert {"sdv", "ctgan"} <= set(body["models_loaded"])
    # ydata: listed where its environment and work pool exist (tests/api/test_ydata.py), else said not installed
    assert ("ydata" in body["models_loaded"]) != ("ydata" in body["models_not_installed"])
