"""Helpers of the image tests: requests, the WebSocket client, waiting for jobs."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from inferloop.core import db
from tests.support import API_KEY

H = {"X-API-Key": API_KEY}
SMALL = {"width": 64, "height": 64, "num_inference_steps": 3}


def post(api: str, path: str, body: dict | None = None, headers: dict | None = None, timeout: float = 600,
         **kwargs) -> httpx.Response:
    return httpx.post(f"{api}/api/v1{path}", json=body, headers=headers or H, timeout=timeout, **kwargs)


def get(api: str, path: str, headers: dict | None = None, **kwargs) -> httpx.Response:
    return httpx.get(f"{api}/api/v1{path}", headers=headers or H, timeout=60, **kwargs)


def job_row(job_id: str) -> db.Job | None:
    with db.session_scope() as s:
        return s.get(db.Job, job_id)


def wait_job(api: str, job_id: str, statuses: set[str], timeout: float = 300) -> dict:
    end = time.monotonic() + timeout
    while True:
        r = get(api, f"/jobs/{job_id}")
        assert r.status_code == 200, r.text
        body = r.json()
        if body["stage"] in statuses or time.monotonic() > end:
            return body
        time.sleep(0.3)


def ws_url(api: str, key: str = API_KEY) -> str:
    return api.replace("http://", "ws://") + f"/api/v1/ws/generation?api_key={key}"


def ws_messages(ws, until: set[str], timeout: float = 300, on_message=None) -> list[dict[str, Any]]:
    """Messages of a websockets (sync) connection until one of type in `until` (inclusive)."""
    out: list[dict[str, Any]] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        msg = json.loads(ws.recv(timeout=max(0.1, end - time.monotonic())))
        out.append(msg)
        if on_message is not None:
            on_message(msg)
        if msg["type"] in until:
            return out
    raise TimeoutError(f"no {until} message in {timeout} s; got {out[-3:]}")
