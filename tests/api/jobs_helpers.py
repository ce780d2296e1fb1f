"""Helpers for the job tests: submitting async jobs, polling them, finding their processes."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx

from tests.support import API_KEY
from tests.tabular_data import customers

H = {"X-API-Key": API_KEY}
SLOW = {"sdv_model": "ctgan", "epochs": 3000, "batch_size": 100}   # trains for minutes: time to act on it
# the embedded Prefect server keeps its state in SQLite: with Prefect's own 60 s busy timeout its writers now and
# then queued behind one lock for that long (about once per full run on these 2 cores; the platform now runs it
# with 5 s, inferloop/runtime/prefect_server.py). A request caught in such a wait is slow, not failed: give it time.
HTTP_TIMEOUT = 150


def upload(api: str, rows: int = 200, content: bytes | None = None, name: str = "customers.csv") -> dict:
    content = content if content is not None else customers(rows).to_csv(index=False).encode()
    r = httpx.post(f"{api}/api/tabular/uploads", files={"file": (name, content)}, headers=H,
                   timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    return r.json()


def submit(api: str, data_url: str, headers: dict | None = None, **body) -> httpx.Response:
    return httpx.post(f"{api}/api/tabular/generate/async", json={"data_url": data_url, **body},
                      headers=headers or H, timeout=HTTP_TIMEOUT)


def status(api: str, job_id: str, headers: dict | None = None) -> dict:
    r = httpx.get(f"{api}/api/tabular/jobs/{job_id}", headers=headers or H, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    return r.json()


def wait_for(api: str, job_id: str, statuses: set[str], timeout: float = 300, every: float = 0.5,
             headers: dict | None = None) -> dict:
    end = time.monotonic() + timeout
    while True:
        body = status(api, job_id, headers)
        if body["status"] in statuses:
            return body
        assert time.monotonic() < end, f"job {job_id} still {body['status']} ({body['prefect_state']})"
        time.sleep(every)


def wait_for_state(flow_run_id: str, state_types: set[str], timeout: float = 120, every: float = 0.05):
    """Poll Prefect directly (fast) until the run is in one of the state types (e.g. {'PENDING'})."""
    from api import dispatch

    end = time.monotonic() + timeout
    while True:
        fr = asyncio.run(dispatch.read(flow_run_id))
        if fr.state.type.value in state_types:
            return fr
        assert time.monotonic() < end, f"run {flow_run_id} still {fr.state.name}"
        time.sleep(every)


def wait_for_progress(api: str, job_id: str, minimum: float, timeout: float = 300) -> dict:
    end = time.monotonic() + timeout
    while True:
        body = status(api, job_id)
        if body["status"] == "running" and body["progress"] >= minimum:
            return body
        assert body["status"] in ("pending", "running"), body
        assert time.monotonic() < end, body
        time.sleep(0.5)


def flow_run_process(flow_run_id: str) -> int | None:
    """The pid of the process executing this flow run (found by its PREFECT__FLOW_RUN_ID)."""
    marker = f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0") and b"prefect.engine" in cmdline:
            return int(entry.name)
    return None
