"""Async generation and jobs end to end: uploads, S3, status with progress and logs, cancel, bad input."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import time

import httpx
import pandas as pd
import pytest

from inferloop.core import db, storage
from tests.api.jobs_helpers import (H, SLOW, flow_run_process, status, submit, upload, wait_for,
                                    wait_for_progress, wait_for_state)
from tests.support import OTHER_KEY
from tests.tabular_data import customers


def flow_run_id(job_id: str) -> str:
    with db.session_scope() as s:
        return s.get(db.Job, job_id).flow_run_id


def download(api: str, job_id: str) -> httpx.Response:
    return httpx.get(f"{api}/api/tabular/download/{job_id}", headers=H, timeout=60)


def test_async_generation_from_an_upload(api):
    up = upload(api, 150)
    assert up["data_url"].startswith("upload://") and up["rows"] == 150 and up["columns"] == 6
    r = submit(api, up["data_url"], algorithm="sdv", num_rows=90, seed=5)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["job_id"].startswith("job-") and body["status"] == "pending"
    assert body["estimated_time"] > 0 and body["status_url"] == f"/api/tabular/jobs/{body['job_id']}"
    first = status(api, body["job_id"])
    assert first["status"] in ("pending", "running", "completed")
    done = wait_for(api, body["job_id"], {"completed", "failed"})
    assert done["status"] == "completed", done
    assert done["progress"] == 100 and done["started_at"] and done["completed_at"]
    assert done["result"]["rows"] == 90 and 0 <= done["result"]["quality_score"] <= 1
    end = time.monotonic() + 20  # flow-run logs reach Prefect in batches, possibly after the final state
    while not any("training" in line["message"] for line in done["logs"]) and time.monotonic() < end:
        time.sleep(0.5)
        done = status(api, done["job_id"])
    assert any("training" in line["message"] for line in done["logs"]), done["logs"]
    assert all({"timestamp", "message", "level"} <= set(line) for line in done["logs"])
    csv = httpx.get(f"{api}{done['result']['download_formats']['csv']}", headers=H).content
    assert len(pd.read_csv(io.BytesIO(csv))) == 90


def test_async_generation_from_s3(api, s3_bucket):
    uri = f"{s3_bucket}/inputs/jobs.csv"
    with storage.open_uri(uri, "wb") as f:
        f.write(customers(120).to_csv(index=False).encode())
    r = submit(api, uri, num_rows=40, parameters={"sdv_model": "gaussian_copula"})
    assert r.status_code == 202, r.text
    done = wait_for(api, r.json()["job_id"], {"completed", "failed"})
    assert done["status"] == "completed" and done["result"]["rows"] == 40


def test_progress_is_reported_per_epoch(api):
    up = upload(api, 100)
    r = submit(api, up["data_url"], num_rows=20, parameters={"sdv_model": "tvae", "epochs": 500, "batch_size": 50})
    job_id = r.json()["job_id"]
    seen = set()
    end = time.monotonic() + 300
    while time.monotonic() < end:
        body = status(api, job_id)
        seen.add(body["progress"])
        if body["status"] in ("completed", "failed"):
            break
        if body["status"] == "running" and body["progress"] > 20:
            assert body["estimated_completion"], body
        time.sleep(0.3)
    assert body["status"] == "completed", body
    between = {p for p in seen if 10 < p < 80}  # training spans 10..80 %
    assert len(between) >= 3, sorted(seen)


def test_cancel_while_running(api):
    up = upload(api, 200)
    job_id = submit(api, up["data_url"], parameters=SLOW).json()["job_id"]
    wait_for_progress(api, job_id, 11)
    r = httpx.post(f"{api}/api/tabular/jobs/{job_id}/cancel", headers=H)
    assert r.status_code == 202, r.text
    done = wait_for(api, job_id, {"cancelled", "failed", "completed"}, timeout=60)
    assert done["status"] == "cancelled", done
    assert download(api, job_id).status_code == 409
    again = httpx.post(f"{api}/api/tabular/jobs/{job_id}/cancel", headers=H)
    assert again.status_code == 409 and again.json()["error"]["code"] == "CONFLICT"


def test_second_job_waits_on_a_pool_of_one_and_cancel_while_scheduled(api, settings):
    assert settings.worker_limit == 1
    up = upload(api, 200)
    first = submit(api, up["data_url"], parameters=SLOW).json()["job_id"]
    second = submit(api, up["data_url"], num_rows=10).json()["job_id"]
    third = submit(api, up["data_url"], num_rows=10).json()["job_id"]
    wait_for_progress(api, first, 11)
    time.sleep(3)  # the worker polls every second; with its one slot taken the others must wait
    assert status(api, second)["status"] == "pending" and status(api, third)["status"] == "pending"
    # cancel the third while it is still scheduled
    r = httpx.post(f"{api}/api/tabular/jobs/{third}/cancel", headers=H)
    assert r.status_code == 202, r.text
    assert wait_for(api, third, {"cancelled", "failed", "completed"}, timeout=30)["status"] == "cancelled"
    # free the slot: the second job then runs to completion
    httpx.post(f"{api}/api/tabular/jobs/{first}/cancel", headers=H)
    assert wait_for(api, first, {"cancelled", "failed", "completed"}, timeout=60)["status"] == "cancelled"
    assert wait_for(api, second, {"completed", "failed", "cancelled"})["status"] == "completed"


def test_cancel_while_starting(api):
    up = upload(api, 200)
    job_id = submit(api, up["data_url"], parameters=SLOW).json()["job_id"]
    wait_for_state(flow_run_id(job_id), {"PENDING"})
    r = httpx.post(f"{api}/api/tabular/jobs/{job_id}/cancel", headers=H)
    assert r.status_code == 202, r.text
    done = wait_for(api, job_id, {"cancelled", "failed", "completed"}, timeout=90)
    assert done["status"] == "cancelled", done


def test_flow_process_killed_mid_training_then_retried(api):
    """SIGKILL of the run's process: failed within seconds, nothing to download; a retry completes."""
    from prefect import get_client
    from prefect.states import Scheduled

    up = upload(api, 200)
    job_id = submit(api, up["data_url"], num_rows=50,
                    parameters={"sdv_model": "ctgan", "epochs": 150, "batch_size": 100}).json()["job_id"]
    wait_for_progress(api, job_id, 11)
    pid = flow_run_process(flow_run_id(job_id))
    assert pid, "flow-run process not found"
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    done = wait_for(api, job_id, {"failed", "completed", "cancelled"}, timeout=60, every=0.2)
    assert done["status"] == "failed" and time.monotonic() - killed_at < 15, done
    assert done["error"]["code"] == "GENERATION_FAILED" and done["error"]["message"], done
    r = download(api, job_id)
    assert r.status_code == 409 and r.json()["error"]["code"] == "CONFLICT"

    async def retry():  # what the Prefect UI's "Retry" does for a crashed run
        async with get_client() as client:
            await client.set_flow_run_state(flow_run_id(job_id), Scheduled(), force=True)
    asyncio.run(retry())
    done = wait_for(api, job_id, {"completed", "failed"}, timeout=600)
    assert done["status"] == "completed" and done["result"]["rows"] == 50
    assert len(pd.read_csv(io.BytesIO(download(api, job_id).content))) == 50


# --- bad input -------------------------------------------------------------------------------------

def error_of(r: httpx.Response, status_code: int, code: str, field: str | None = None) -> dict:
    assert r.status_code == status_code, r.text
    err = r.json()["error"]
    assert err["code"] == code, err
    if field:
        assert err.get("field") == field, err
    return err


def test_unknown_job_is_404(api_no_prefect):
    r = httpx.get(f"{api_no_prefect}/api/tabular/jobs/job-nope", headers=H)
    error_of(r, 404, "NOT_FOUND")
    error_of(httpx.post(f"{api_no_prefect}/api/tabular/jobs/job-nope/cancel", headers=H), 404, "NOT_FOUND")


def test_other_owners_job_is_404(api):
    up = upload(api, 60)
    job_id = submit(api, up["data_url"], num_rows=5).json()["job_id"]
    other = {"X-API-Key": OTHER_KEY}
    error_of(httpx.get(f"{api}/api/tabular/jobs/{job_id}", headers=other), 404, "NOT_FOUND")
    error_of(httpx.post(f"{api}/api/tabular/jobs/{job_id}/cancel", headers=other), 404, "NOT_FOUND")
    # someone else's upload cannot be named either
    error_of(submit(api, up["data_url"], headers=other), 400, "INVALID_REQUEST", "data_url")
    wait_for(api, job_id, {"completed", "failed"})


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "http://127.0.0.1:8000/data.csv", "http://localhost/data.csv",
    "http://169.254.169.254/latest/meta-data/x.csv", "http://10.1.2.3/data.csv", "/etc/passwd.csv",
    "upload://upl-unknown", "ftp://example.com/x.csv",
])
def test_refused_data_urls(api_no_prefect, url):
    error_of(submit(api_no_prefect, url), 400, "INVALID_REQUEST", "data_url")


def test_missing_s3_object(api_no_prefect, s3_bucket):
    error_of(submit(api_no_prefect, f"{s3_bucket}/nope/missing.csv"), 400, "INVALID_FILE", "data_url")


@pytest.mark.parametrize("body,field", [
    ({"num_rows": 0}, "num_rows"), ({"num_rows": "many"}, "num_rows"), ({"algorithm": "nope"}, "algorithm"),
    ({"parameters": {"epochs": 0}, "algorithm": "ctgan"}, "epochs"), ({"format": "xml"}, "format"),
    ({"callback_url": "ftp://x/y"}, "callback_url"), ({"unexpected": 1}, "unexpected"),
])
def test_bad_async_bodies(api_no_prefect, s3_bucket, body, field):
    uri = f"{s3_bucket}/inputs/bad-bodies.csv"
    with storage.open_uri(uri, "wb") as f:
        f.write(b"a,b\n1,2\n")
    err = error_of(submit(api_no_prefect, uri, **body), 400,
                   "INVALID_ALGORITHM" if field == "algorithm" else "INVALID_REQUEST")
    assert err.get("field") == field, err


def test_data_url_required(api_no_prefect):
    r = httpx.post(f"{api_no_prefect}/api/tabular/generate/async", json={}, headers=H)
    error_of(r, 400, "INVALID_REQUEST", "data_url")


def test_worker_killed_mid_training(api, prefect_platform):
    """SIGKILL of the worker itself: the job fails within seconds with a clear message, nothing is
    downloadable, the platform restarts the worker and the next job completes."""
    up = upload(api, 200)
    job_id = submit(api, up["data_url"], parameters=SLOW).json()["job_id"]
    wait_for_progress(api, job_id, 11)
    worker = prefect_platform.procs["worker-1"]
    restarts = prefect_platform.restarts.get("worker-1", 0)
    killed_at = time.monotonic()
    os.kill(worker.pid, signal.SIGKILL)
    done = wait_for(api, job_id, {"failed", "completed", "cancelled"}, timeout=60, every=0.2)
    assert done["status"] == "failed" and time.monotonic() - killed_at < 20, done
    assert done["error"]["message"], done
    assert download(api, job_id).status_code == 409
    end = time.monotonic() + 30
    while prefect_platform.restarts.get("worker-1", 0) == restarts:
        assert time.monotonic() < end, "the worker was not restarted"
        time.sleep(0.2)
    after = submit(api, up["data_url"], num_rows=10).json()["job_id"]
    assert wait_for(api, after, {"completed", "failed"})["status"] == "completed"
