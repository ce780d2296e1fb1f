"""Every final state of a real job reaches webhooks and callback_url, signed — also crashes and cancels,
and also when the API restarted while the job ran (nothing lives only in the API's memory)."""

from __future__ import annotations

import os
import signal
import time

import httpx

from tests.api.jobs_helpers import (H, SLOW, flow_run_process, status, submit, upload, wait_for,
                                    wait_for_progress)
from tests.api.test_jobs import flow_run_id
from tests.conftest import api_settings
from tests.receiver import Receiver, assert_signed
from tests.spec_examples import load_spec_function, spec_or_skip
from tests.support import ApiServer

SECRET = "e2e-webhook-secret"
CALLBACK_SECRET = "e2e-callback-secret"


def verify_webhook():
    return load_spec_function(spec_or_skip(), "verify_webhook")


def register(api: str, url: str, events: list[str]) -> str:
    r = httpx.post(f"{api}/api/tabular/webhooks", json={"url": url, "events": events, "secret": SECRET},
                   headers=H)
    assert r.status_code == 201, r.text
    return r.json()["webhook_id"]


def unregister(api: str, webhook_id: str) -> None:
    httpx.delete(f"{api}/api/tabular/webhooks/{webhook_id}", headers=H)


def job_of(request) -> str | None:
    data = request.json.get("data") or {}
    return data.get("job_id") or data.get("generation_id")


def received(receiver: Receiver, job_ids: set[str], timeout: float = 60) -> list:
    """The deliveries about these jobs, once each has one. A webhook gets the events of every job of the
    account, so a job of an earlier test that ends late may be delivered to it too: those are left out."""
    end = time.monotonic() + timeout
    while True:
        mine = [r for r in receiver.requests if job_of(r) in job_ids]
        if {job_of(r) for r in mine} == job_ids:
            return mine
        assert time.monotonic() < end, f"deliveries for {len(mine)} of {len(job_ids)} jobs arrived"
        time.sleep(0.2)


def delivery_statuses(api: str, webhook_id: str, job_id: str, timeout: float = 30) -> list[str]:
    """The job's deliveries' statuses once none is pending (the receiver has a request a moment before the
    delivery's outcome is stored)."""
    end = time.monotonic() + timeout
    while True:
        listed = httpx.get(f"{api}/api/tabular/webhooks/{webhook_id}/deliveries",
                           headers=H).json()["deliveries"]
        statuses = [d["status"] for d in listed if d["job_id"] == job_id]
        if statuses and "pending" not in statuses or time.monotonic() > end:
            return statuses
        time.sleep(0.2)


def test_completed_job_notifies_webhook_and_callback(api):
    verify = verify_webhook()
    with Receiver() as hook, Receiver() as callback:
        wh = register(api, f"{hook.url}/hook", ["generation.completed", "job.failed"])
        try:
            up = upload(api, 80)
            job_id = submit(api, up["data_url"], num_rows=25, callback_url=f"{callback.url}/cb",
                            callback_secret=CALLBACK_SECRET).json()["job_id"]
            assert wait_for(api, job_id, {"completed", "failed"})["status"] == "completed"
            [to_hook], [to_callback] = received(hook, {job_id}), received(callback, {job_id})
        finally:
            unregister(api, wh)
    assert_signed(to_hook, SECRET, verify)
    assert_signed(to_callback, CALLBACK_SECRET, verify)
    for req in (to_hook, to_callback):
        p = req.json
        assert p["event"] == "generation.completed" and p["timestamp"].endswith("Z")
        d = p["data"]
        assert d["generation_id"] == job_id and d["rows_generated"] == 25 and d["algorithm"] == "sdv"
        assert 0 <= d["quality_score"] <= 1 and d["download_url"].endswith(f"/api/tabular/download/{job_id}")
    assert delivery_statuses(api, wh, job_id) == ["delivered"]


def test_failed_cancelled_and_crashed_jobs_notify(api):
    verify = verify_webhook()
    with Receiver() as hook:
        wh = register(api, hook.url, ["job.failed", "job.cancelled"])
        try:
            # fails inside the flow: a neural model cannot learn from one row
            one_row = upload(api, content=b"a,b\n1,x\n", name="one.csv")
            failed = submit(api, one_row["data_url"], parameters={"sdv_model": "ctgan", "epochs": 1,
                                                                  "batch_size": 10}).json()["job_id"]
            body = wait_for(api, failed, {"completed", "failed"})
            assert body["status"] == "failed" and body["error"]["code"] == "ALGORITHM_ERROR", body
            # cancelled while running
            up = upload(api, 200)
            cancelled = submit(api, up["data_url"], parameters=SLOW).json()["job_id"]
            wait_for_progress(api, cancelled, 11)
            assert httpx.post(f"{api}/api/tabular/jobs/{cancelled}/cancel", headers=H).status_code == 202
            assert wait_for(api, cancelled, {"cancelled", "failed", "completed"})["status"] == "cancelled"
            # crashed: its process is killed, so no flow hook can report it
            crashed = submit(api, up["data_url"], parameters=SLOW).json()["job_id"]
            wait_for_progress(api, crashed, 11)
            os.kill(flow_run_process(flow_run_id(crashed)), signal.SIGKILL)
            assert wait_for(api, crashed, {"failed", "cancelled", "completed"})["status"] == "failed"
            requests = received(hook, {failed, cancelled, crashed})
        finally:
            unregister(api, wh)
    by_job = {r.json["data"]["job_id"]: r for r in requests}
    assert set(by_job) == {failed, cancelled, crashed}
    for req in requests:
        assert_signed(req, SECRET, verify)
    assert by_job[failed].json["event"] == "job.failed"
    assert by_job[failed].json["data"]["error"]["code"] == "ALGORITHM_ERROR"
    assert by_job[cancelled].json["event"] == "job.cancelled"
    assert by_job[crashed].json["event"] == "job.failed"
    assert by_job[crashed].json["data"]["error"]["message"]


def test_status_and_notifications_survive_an_api_restart(prefect_platform, settings):
    """The API stops while a job runs; a new API process serves the right status and still notifies."""
    from api.main import create_app

    with Receiver() as callback:
        with ApiServer(create_app(api_settings(settings))) as first:
            up = upload(first.url, 100)
            job_id = submit(first.url, up["data_url"], num_rows=30,
                            parameters={"sdv_model": "tvae", "epochs": 1500, "batch_size": 50},
                            callback_url=callback.url, callback_secret=CALLBACK_SECRET).json()["job_id"]
            wait_for_progress(first.url, job_id, 11)  # ~10 s of epochs on a warm worker: still running below
        time.sleep(2)  # API down while the job goes on
        with ApiServer(create_app(api_settings(settings))) as second:
            assert status(second.url, job_id)["status"] in ("running", "completed")
            done = wait_for(second.url, job_id, {"completed", "failed"})
            assert done["status"] == "completed" and done["result"]["rows"] == 30
            [req] = received(callback, {job_id})
    assert req.json["event"] == "generation.completed" and req.json["data"]["job_id"] == job_id
