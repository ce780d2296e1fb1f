"""Batch processing end to end: a parent run, one `generate` child run per file; a bad file fails alone."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import time
from uuid import UUID

import httpx
import pandas as pd
import pytest
from sqlalchemy import func, select

from inferloop.core import db, storage
from tests.api.jobs_helpers import SLOW, flow_run_process
from tests.support import API_KEY, OTHER_KEY
from tests.tabular_data import customers

H = {"X-API-Key": API_KEY}
OTHER = {"X-API-Key": OTHER_KEY}


def put(uri: str, content: bytes) -> str:
    with storage.open_uri(uri, "wb") as f:
        f.write(content)
    return uri


def parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def post_batch(api: str, headers: dict | None = None, **body) -> httpx.Response:
    return httpx.post(f"{api}/api/tabular/batch", json=body, headers=headers or H, timeout=60)


def get_batch(api: str, batch_id: str, headers: dict | None = None) -> httpx.Response:
    return httpx.get(f"{api}/api/tabular/batch/{batch_id}", headers=headers or H, timeout=60)


def wait_until_done(api: str, batch_id: str, timeout: float = 600) -> dict:
    end = time.monotonic() + timeout
    while True:
        r = get_batch(api, batch_id)
        assert r.status_code == 200, r.text
        body = r.json()
        if body["status"] != "processing":
            return body
        assert time.monotonic() < end, body
        time.sleep(1)


def flow_runs(**filters) -> list:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter

    async def read():
        async with get_client() as client:
            return await client.read_flow_runs(flow_run_filter=FlowRunFilter(**filters))
    return asyncio.run(read())


def error_of(r: httpx.Response, status: int, code: str, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["message"] and err["request_id"], err
    if field:
        assert err.get("field") == field, err
    return err


def test_batch_with_an_unreadable_file(api, s3_bucket):
    good1 = put(f"{s3_bucket}/batch/first.csv", customers(120, seed=1).to_csv(index=False).encode())
    good2 = put(f"{s3_bucket}/batch/second.parquet", parquet_bytes(customers(90, seed=2)))
    bad = put(f"{s3_bucket}/batch/broken.parquet", b"these bytes are not a parquet file")
    r = post_batch(api, files=[{"url": good1, "name": "first"}, {"url": bad, "name": "broken"},
                               {"url": good2}],   # named after its file: "second"
                   algorithm="sdv", output_format="parquet",
                   common_parameters={"num_rows": 40, "seed": 42, "sdv_model": "gaussian_copula"})
    assert r.status_code == 202, r.text
    started = r.json()
    batch_id = started["batch_id"]
    assert batch_id.startswith("batch-")
    assert started == {"batch_id": batch_id, "status": "processing", "total_files": 3, "completed": 0,
                       "failed": 0, "status_url": f"/api/tabular/batch/{batch_id}"}
    first = get_batch(api, batch_id).json()
    assert first["status"] == "processing" and first["total_files"] == 3
    assert [f["name"] for f in first["files"]] == ["first", "broken", "second"]

    # another owner sees neither the batch nor its files
    error_of(get_batch(api, batch_id, OTHER), 404, "NOT_FOUND")

    # the watcher alone (no status request in between) links each started file to its generation job and
    # records the final states: each file is a generation of its own, the batch job itself counts no rows
    end = time.monotonic() + 600
    job_ids = [batch_id, *(f["job_id"] for f in first["files"])]
    while True:
        with db.session_scope() as s:
            jobs = {j.id: j for j in s.scalars(select(db.Job).where(db.Job.id.in_(job_ids)))}
        if len(jobs) == 4 and all(j.final_status for j in jobs.values()):
            break
        assert time.monotonic() < end, {k: j.final_status for k, j in jobs.items()}
        time.sleep(0.5)
    assert [(jobs[i].kind, jobs[i].final_status, jobs[i].rows_generated) for i in job_ids] == [
        ("batch", "completed", 0),
        ("generate", "completed", 40), ("generate", "failed", 0), ("generate", "completed", 40)]

    done = wait_until_done(api, batch_id)
    assert done["status"] == "partially_failed", done
    assert (done["total_files"], done["completed"], done["failed"]) == (3, 2, 1)
    assert done["progress"] == 100 and done["completed_at"] and "error" not in done
    files = {f["name"]: f for f in done["files"]}
    broken = files["broken"]
    assert broken["status"] == "failed" and broken["url"] == bad and broken["download_url"] is None
    assert broken["error"]["code"] == "INVALID_FILE" and "Parquet" in broken["error"]["message"]
    for name, url in (("first", good1), ("second", good2)):
        f = files[name]
        assert f["status"] == "completed" and f["url"] == url and f["error"] is None, f
        assert f["rows"] == 40 and 0 <= f["quality_score"] <= 1
        assert f["download_url"].endswith(f"/api/tabular/download/{f['job_id']}?format=parquet")
        data = httpx.get(f["download_url"], headers=H, timeout=60)
        assert data.status_code == 200, data.text
        out = pd.read_parquet(io.BytesIO(data.content))
        assert len(out) == 40 and list(out.columns) == list(customers(5).columns)
        assert httpx.get(f["download_url"], headers=OTHER, timeout=60).status_code == 404
        job = httpx.get(f"{api}/api/tabular/jobs/{f['job_id']}", headers=H, timeout=60).json()
        assert job["status"] == "completed" and job["result"]["rows"] == 40

    # the batch is also a job: /jobs/{batch_id} shows its run, and its result once done
    job = httpx.get(f"{api}/api/tabular/jobs/{batch_id}", headers=H, timeout=60).json()
    assert job["status"] == "completed" and job["result"]["status"] == "partially_failed"

    # the parent and the children are real flow runs: `batch` from its deployment, `generate` under it
    from prefect.client.schemas.filters import FlowRunFilterId, FlowRunFilterParentFlowRunId

    parent_id = done["prefect_flow_run_id"]
    (parent,) = flow_runs(id=FlowRunFilterId(any_=[UUID(parent_id)]))
    assert parent.deployment_id is not None and parent.state.type.value == "COMPLETED"
    children = flow_runs(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[UUID(parent_id)]))
    assert {str(c.id) for c in children} == {f["prefect_flow_run_id"] for f in done["files"]}
    assert sorted(c.name for c in children) == ["broken", "first", "second"]
    assert sorted(c.state.type.value for c in children) == ["COMPLETED", "COMPLETED", "FAILED"]


def final_status(job_id: str, timeout: float = 300) -> str:
    """The job's final status once the watcher has recorded it."""
    end = time.monotonic() + timeout
    while True:
        with db.session_scope() as s:
            job = s.get(db.Job, job_id)
        if job is not None and job.final_status:
            return job.final_status
        assert time.monotonic() < end, f"job {job_id} never finished"
        time.sleep(0.5)


def test_batch_process_killed(api, s3_bucket):
    """SIGKILL of the batch run's process mid-file: the batch fails, and no file is left running for ever."""
    uri = put(f"{s3_bucket}/batch/slow.csv", customers(200).to_csv(index=False).encode())
    r = post_batch(api, files=[{"url": uri, "name": "one"}, {"url": uri, "name": "two"}],
                   common_parameters=SLOW)
    assert r.status_code == 202, r.text
    batch_id = r.json()["batch_id"]
    end = time.monotonic() + 300
    while (body := get_batch(api, batch_id).json())["files"][0]["status"] != "running":
        assert body["status"] == "processing" and time.monotonic() < end, body
        time.sleep(0.3)
    pid = flow_run_process(body["prefect_flow_run_id"])  # the children run in this same process
    assert pid, "batch flow-run process not found"
    os.kill(pid, signal.SIGKILL)

    # the watcher ends the child the dead batch run left Running, and reports it
    assert final_status(body["files"][0]["job_id"]) == "failed"
    done = wait_until_done(api, batch_id, timeout=300)
    assert done["status"] == "failed" and done["error"]["code"] == "GENERATION_FAILED", done
    assert (done["completed"], done["failed"]) == (0, 2)
    one, two = done["files"]
    assert one["status"] == "failed" and "batch run ended" in one["error"]["message"], one
    assert two["status"] == "failed" and two["prefect_flow_run_id"] is None and two["error"], two


def test_cancel_a_running_batch(api, s3_bucket):
    """POST /jobs/{batch_id}/cancel: the batch and the file it was running end cancelled."""
    uri = put(f"{s3_bucket}/batch/slow-cancel.csv", customers(200).to_csv(index=False).encode())
    batch_id = post_batch(api, files=[{"url": uri}], common_parameters=SLOW).json()["batch_id"]
    end = time.monotonic() + 300
    while (body := get_batch(api, batch_id).json())["files"][0]["status"] != "running":
        assert body["status"] == "processing" and time.monotonic() < end, body
        time.sleep(0.3)
    r = httpx.post(f"{api}/api/tabular/jobs/{batch_id}/cancel", headers=H, timeout=60)
    assert r.status_code == 202, r.text
    done = wait_until_done(api, batch_id, timeout=300)
    assert done["status"] == "cancelled" and done["error"]["code"] == "CANCELLED", done
    assert done["files"][0]["status"] == "cancelled" and done["files"][0]["error"]["code"] == "CANCELLED"
    assert final_status(done["files"][0]["job_id"]) == "cancelled"


def test_zero_files(api_no_prefect):
    error_of(post_batch(api_no_prefect, files=[]), 400, "INVALID_REQUEST", "files")
    error_of(post_batch(api_no_prefect, algorithm="sdv"), 400, "INVALID_REQUEST", "files")


def batches_of() -> int:
    with db.session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(db.Batch)) or 0)


@pytest.mark.parametrize("url,code", [
    ("file:///etc/passwd", "INVALID_REQUEST"), ("ftp://example.com/x.csv", "INVALID_REQUEST"),
    ("http://127.0.0.1:9/data.csv", "INVALID_REQUEST"), ("upload://upl-unknown", "INVALID_REQUEST"),
    ("/etc/passwd.csv", "INVALID_REQUEST"), ("s3://inferloop-test/batch/missing.csv", "INVALID_FILE"),
    ("s3://inferloop-test/batch/table.xml", "UNSUPPORTED_FORMAT"),
])
def test_invalid_url_stops_the_batch_before_it_starts(api_no_prefect, s3_bucket, url, code):
    good = put(f"{s3_bucket}/batch/ok.csv", b"a,b\n1,2\n3,4\n")
    before = batches_of()
    r = post_batch(api_no_prefect, files=[{"url": good, "name": "ok"}, {"url": url, "name": "bad"}])
    error_of(r, 400, code, "files[1].url")
    assert batches_of() == before


@pytest.mark.parametrize("body,code,field", [
    ({"files": [{"url": "s3://inferloop-test/batch/ok.csv", "name": "a"},
                {"url": "s3://inferloop-test/other/ok.csv", "name": "a"}]},
     "INVALID_REQUEST", "files[1].name"),
    ({"files": [{"url": "s3://inferloop-test/batch/ok.csv"}, {"url": "s3://inferloop-test/x/ok.csv"}]},
     "INVALID_REQUEST", "files[1].name"),
    ({"output_format": "xml"}, "INVALID_REQUEST", "output_format"),
    ({"algorithm": "nope"}, "INVALID_ALGORITHM", "algorithm"),
    ({"common_parameters": {"num_rows": 0}}, "INVALID_REQUEST", "num_rows"),
    ({"common_parameters": {"num_rows": "many"}}, "INVALID_REQUEST", "num_rows"),
    ({"common_parameters": {"seed": -1}}, "INVALID_REQUEST", "seed"),
    ({"algorithm": "ctgan", "common_parameters": {"epochs": 0}}, "INVALID_REQUEST", "epochs"),
    ({"files": [{"url": "s3://inferloop-test/batch/ok.csv", "extra": 1}]}, "INVALID_REQUEST", None),
    ({"unexpected": 1}, "INVALID_REQUEST", "unexpected"),
])
def test_bad_batch_bodies(api_no_prefect, s3_bucket, body, code, field):
    put(f"{s3_bucket}/batch/ok.csv", b"a,b\n1,2\n3,4\n")
    body = {"files": [{"url": f"{s3_bucket}/batch/ok.csv"}], **body}
    error_of(post_batch(api_no_prefect, **body), 400, code, field)


def test_unknown_batch_is_404(api_no_prefect):
    error_of(get_batch(api_no_prefect, "batch-nope"), 404, "NOT_FOUND")
