"""Handles on server-side work: a job (`/jobs/{id}`) and a batch (`/batch/{id}`): status, wait, cancel, logs."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inferloop_client.errors import APITimeoutError, JobCancelledError, JobFailedError

if TYPE_CHECKING:
    import pandas as pd

    from inferloop_client.tabular import TabularClient

FINAL = frozenset({"completed", "failed", "cancelled"})
OnUpdate = Callable[[dict[str, Any]], None]


class _Handle:
    """Polling, waiting and cancelling shared by jobs and batches."""

    kind = "job"

    def __init__(self, client: "TabularClient", ident: str, info: dict[str, Any] | None = None):
        self._client = client
        self.id = ident
        self.info: dict[str, Any] = dict(info or {})

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} {self.status or 'unknown'}>"

    @property
    def status(self) -> str | None:
        """The last status seen (call `refresh()` for the current one)."""
        return self.info.get("status")

    def refresh(self) -> dict[str, Any]:
        raise NotImplementedError

    def is_final(self, info: dict[str, Any]) -> bool:
        return info.get("status") in FINAL

    def done(self) -> bool:
        """Whether the work has ended (refreshes)."""
        return self.is_final(self.refresh())

    def cancel(self) -> dict[str, Any]:
        """Ask the server to cancel; returns {status: cancelled | cancelling}. 409 ConflictError when final."""
        return self._client._t.json("POST", f"{self._client.api_prefix}/jobs/{self.id}/cancel")

    def wait(self, timeout: float | None = None, poll_interval: float = 1.0, progress: bool = False,
             on_update: OnUpdate | None = None, raise_on_failure: bool = True) -> dict[str, Any]:
        """Poll until the work ends; returns its last status. Failed -> JobFailedError, cancelled ->
        JobCancelledError (unless `raise_on_failure` is False); `timeout` s -> APITimeoutError (it goes on).

        `progress=True` shows a rich progress bar; `on_update(status)` is called after every poll.
        """
        if progress:
            from inferloop_client.progress import progress_bar

            with progress_bar(f"{self.kind} {self.id}") as update:
                return self._wait(timeout, poll_interval, _both(update, on_update), raise_on_failure)
        return self._wait(timeout, poll_interval, on_update, raise_on_failure)

    def _wait(self, timeout: float | None, poll_interval: float, on_update: OnUpdate | None,
              raise_on_failure: bool) -> dict[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            info = self.refresh()
            if on_update is not None:
                on_update(info)
            if self.is_final(info):
                if raise_on_failure:
                    self.raise_for_status()
                return info
            if deadline is not None and time.monotonic() >= deadline:
                raise APITimeoutError(f"{self.kind} {self.id} is still {info.get('status')} after {timeout:g} s "
                                      "(it goes on; wait again or cancel it)", code="TIMEOUT",
                                      details={"job_id": self.id})
            time.sleep(poll_interval if deadline is None else max(0.0, min(poll_interval,
                                                                           deadline - time.monotonic())))

    def raise_for_status(self) -> None:
        """JobFailedError / JobCancelledError when the last status seen is failed / cancelled."""
        status = self.info.get("status")
        if status not in ("failed", "cancelled"):
            return
        err = self.info.get("error") or {}
        cls = JobCancelledError if status == "cancelled" else JobFailedError
        raise cls(err.get("message") or f"{self.kind} {self.id} {status}", code=err.get("code") or status.upper(),
                  job=self.info, details={"job_id": self.id})


class Job(_Handle):
    """An asynchronous job: generation, training, sampling (`GET /jobs/{id}`)."""

    def refresh(self, log_limit: int | None = None) -> dict[str, Any]:
        """The job's current status, progress, logs and (when done) result or error."""
        self.info = self._client._t.json("GET", f"{self._client.api_prefix}/jobs/{self.id}",
                                         params={"log_limit": log_limit})
        return self.info

    @property
    def progress(self) -> int | None:
        return self.info.get("progress")

    def logs(self, limit: int = 100) -> list[dict[str, Any]]:
        """The run's log lines ({timestamp, level, message}), oldest first, the last `limit` of them."""
        return self.refresh(log_limit=limit).get("logs", [])

    def result(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait for the job and return its `result` (rows, quality score, download URLs, ...)."""
        return self.wait(timeout=timeout).get("result") or {}

    def to_pandas(self, timeout: float | None = None) -> "pd.DataFrame":
        """Wait for a generation job and download its rows as a DataFrame."""
        self.wait(timeout=timeout)
        return self._client.download(self.id)

    def download(self, path: str | Path, format: str | None = None, compression: str | None = None,
                 timeout: float | None = None) -> Path:
        """Wait for a generation job and save its rows to `path` (format from the suffix unless given)."""
        self.wait(timeout=timeout)
        return self._client.download(self.id, path, format=format, compression=compression)


class Batch(_Handle):
    """A batch of files (`GET /batch/{id}`); its status ends completed, partially_failed, failed or cancelled."""

    kind = "batch"
    BATCH_FINAL = frozenset({"completed", "partially_failed", "failed", "cancelled"})

    def refresh(self) -> dict[str, Any]:
        self.info = self._client._t.json("GET", f"{self._client.api_prefix}/batch/{self.id}")
        return self.info

    def is_final(self, info: dict[str, Any]) -> bool:
        return info.get("status") in self.BATCH_FINAL

    @property
    def files(self) -> list[dict[str, Any]]:
        return self.info.get("files", [])

    def results(self, timeout: float | None = None) -> dict[str, "pd.DataFrame"]:
        """Wait, then download every completed file's rows: {name: DataFrame}."""
        self.wait(timeout=timeout)
        return {f["name"]: self._client.download(f["job_id"]) for f in self.files if f["status"] == "completed"}


def _both(first: OnUpdate, second: OnUpdate | None) -> OnUpdate:
    def call(info: dict[str, Any]) -> None:
        first(info)
        if second is not None:
            second(info)
    return call
