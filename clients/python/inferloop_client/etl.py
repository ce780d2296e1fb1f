"""`EtlClient`: the ETL pipeline API (etl-api.md, /api/v1) from Python.

>>> client = EtlClient.login("me@example.com", "password", base_url="http://localhost:8000")
>>> src = client.connectors.create("postgresql", {"host": "127.0.0.1", "database": "shop"})
>>> dst = client.connectors.create("mariadb", {"host": "127.0.0.1", "database": "reporting"})
>>> pipeline = client.pipelines.generate("Load orders from postgres to mariadb every night at 2")
>>> pipeline.deploy(schedule="0 2 * * *")
>>> run = pipeline.run(params={"date": "2024-01-26"})
>>> run.wait()["rows"]          # {'extracted': ..., 'transformed': ..., 'validated': ..., 'loaded': ...}

Errors are the client's typed errors (ValidationError for 400 VALIDATION_ERROR, AuthenticationError,
NotFoundError, RateLimitError, ...), with `field` taken from the envelope's details.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from inferloop_client import config as client_config
from inferloop_client.errors import APITimeoutError, InferloopAPIError, JobCancelledError, JobFailedError
from inferloop_client.http import RetryPolicy, Transport

FINAL = frozenset({"success", "failed", "cancelled"})


class EtlClient:
    """Client of the ETL API. `api_key` may be an API key or a JWT (e.g. from `EtlClient.login`)."""

    api_prefix = "/api/v1"

    def __init__(self, api_key: str | None = None, base_url: str | None = None, *, timeout: float = 120.0,
                 sync_timeout: float = 960.0, max_retries: int = 3, max_retry_wait: float = 60.0,
                 http_client: httpx.Client | None = None):
        self.api_key = client_config.api_key(api_key)
        self.base_url = client_config.api_url(base_url)
        self.sync_timeout = sync_timeout
        self._opts = dict(timeout=timeout, http_client=http_client,
                          retry=RetryPolicy(max_retries=max_retries, max_wait=max_retry_wait))
        self._t = Transport(self.base_url, self.api_key, **self._opts)
        self.refresh_token: str | None = None
        self.connectors = Connectors(self)
        self.pipelines = Pipelines(self)
        self.data = Data(self)
        self.webhooks = Webhooks(self)

    @classmethod
    def login(cls, email: str, password: str, base_url: str | None = None, **kwargs: Any) -> "EtlClient":
        """A client authenticated with a token from POST /auth/login."""
        c = cls(api_key=None, base_url=base_url, **kwargs)
        tokens = c.request("POST", "/auth/login", json={"email": email, "password": password})
        c.use_token(tokens["access_token"], tokens.get("refresh_token"))
        return c

    def use_token(self, access_token: str, refresh_token: str | None = None) -> None:
        self._t.close()
        self.api_key = access_token
        self.refresh_token = refresh_token or self.refresh_token
        self._t = Transport(self.base_url, access_token, **self._opts)

    def refresh(self) -> dict[str, Any]:
        """New tokens for the refresh token of the last login."""
        if not self.refresh_token:
            raise InferloopAPIError("no refresh token: log in with EtlClient.login first", code="UNAUTHORIZED")
        tokens = self.request("POST", "/auth/refresh", json={"refresh_token": self.refresh_token})
        self.use_token(tokens["access_token"], tokens.get("refresh_token"))
        return tokens

    def __repr__(self) -> str:
        return f"EtlClient(base_url={self.base_url!r})"

    def __enter__(self) -> "EtlClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._t.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Any /api/v1 endpoint (path relative to the prefix); parsed JSON. Errors carry the field at fault."""
        try:
            return self._t.json(method, f"{self.api_prefix}{path}", **kwargs)
        except InferloopAPIError as exc:
            details = exc.details.get("details")
            if exc.field is None and isinstance(details, list) and details and isinstance(details[0], dict):
                exc.field = details[0].get("field")
            raise

    # --- AI services, storage, monitoring ------------------------------------------------------------------

    def nl_query(self, question: str, *, tables: list[str] | None = None, source: str | None = None,
                 execute: bool = False, limit: int = 100) -> dict[str, Any]:
        """SQL for a question, checked against the source's schema (and its rows with execute=True)."""
        return self.request("POST", "/nl-query", json={"question": question, "schema": {"tables": tables or []},
                                                       "source": source, "execute": execute, "limit": limit})

    def storage_recommend(self, data_profile: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/storage/recommend", json={"data_profile": data_profile})

    def metrics(self, metric: str = "pipeline_executions", *, start: str | None = None, end: str | None = None,
                interval: str = "hour", pipeline_id: str | None = None) -> dict[str, Any]:
        return self.request("GET", "/observability/metrics", params={
            "metric": metric, "start": start, "end": end, "interval": interval, "pipeline_id": pipeline_id})


class Connectors:
    def __init__(self, client: EtlClient):
        self._c = client

    def list(self, page: int = 1, per_page: int = 100) -> list[dict[str, Any]]:
        return self._c.request("GET", "/connectors", params={"page": page, "per_page": per_page})["connectors"]

    def types(self) -> list[dict[str, Any]]:
        return self._c.request("GET", "/connectors", params={"per_page": 1})["available_types"]

    def create(self, type: str, configuration: dict[str, Any], credentials: dict[str, Any] | None = None, *,
               name: str = "", role: str = "both", description: str = "") -> dict[str, Any]:
        """Configure a connector; the server tests it first (400 ValidationError when it cannot connect)."""
        return self._c.request("POST", "/connectors", json={
            "type": type, "configuration": configuration, "credentials": credentials or {}, "name": name,
            "role": role, "description": description})

    def configure_ai(self, description: str, type: str = "source", hints: dict[str, Any] | None = None,
                     credentials: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._c.request("POST", "/connectors-ai/configure", json={
            "description": description, "type": type, "hints": hints or {}, "credentials": credentials or {}})

    def get(self, connector_id: str) -> dict[str, Any]:
        return self._c.request("GET", f"/connectors/{connector_id}")

    def test(self, connector_id: str) -> dict[str, Any]:
        return self._c.request("POST", f"/connectors/{connector_id}/test")

    def schema(self, connector_id: str) -> dict[str, Any]:
        return self._c.request("GET", f"/connectors/{connector_id}/schema")

    def delete(self, connector_id: str) -> dict[str, Any]:
        return self._c.request("DELETE", f"/connectors/{connector_id}")


class Data:
    def __init__(self, client: EtlClient):
        self._c = client

    def profile(self, source: str, table: str, sample_size: int = 1000) -> dict[str, Any]:
        return self._c.request("POST", "/data/profile", json={"source": source, "table": table,
                                                               "sample_size": sample_size})

    def preview(self, source: str, table: str, limit: int = 100) -> dict[str, Any]:
        return self._c.request("GET", "/data/preview", params={"source": source, "table": table, "limit": limit})

    def query(self, source: str, sql: str, params: dict[str, Any] | None = None, limit: int = 100) -> dict[str, Any]:
        """One read-only SELECT (anything that writes is refused with ValidationError)."""
        return self._c.request("POST", "/data/query", json={"source": source, "sql": sql, "params": params or {},
                                                             "limit": limit})


class Webhooks:
    def __init__(self, client: EtlClient):
        self._c = client

    def create(self, url: str, events: list[str] | None = None, secret: str | None = None) -> dict[str, Any]:
        return self._c.request("POST", "/webhooks", json={
            "url": url, "events": events or ["pipeline.completed", "pipeline.failed"], "secret": secret})

    def list(self) -> list[dict[str, Any]]:
        return self._c.request("GET", "/webhooks", params={"per_page": 100})["webhooks"]

    def delete(self, webhook_id: str) -> dict[str, Any]:
        return self._c.request("DELETE", f"/webhooks/{webhook_id}")


class Pipelines:
    def __init__(self, client: EtlClient):
        self._c = client

    def generate(self, description: str, *, source: str | None = None, target: str | None = None,
                 project_id: str | None = None, optimize: bool = False, validate: bool = True) -> "Pipeline":
        """A pipeline from a description (400 ValidationError naming the words it did not understand)."""
        body = self._c.request("POST", "/pipelines:generate", json={
            "description": description, "project_id": project_id, "source": source, "target": target,
            "options": {"optimize": optimize, "validate": validate}})
        return Pipeline(self._c, body["pipeline_id"], {**body.get("pipeline", {}), "generated": body})

    def create(self, name: str, source: str, target: str, target_table: str, *, sql: str | None = None,
               table: str | None = None, **fields: Any) -> "Pipeline":
        """Configure a pipeline explicitly (load_mode, transform, validations, schedule, ...)."""
        body = self._c.request("POST", "/pipelines", json={"name": name, "source": source, "target": target,
                                                           "target_table": target_table, "sql": sql,
                                                           "table": table, **fields})
        return Pipeline(self._c, body["pipeline_id"], body)

    def get(self, pipeline_id: str) -> "Pipeline":
        return Pipeline(self._c, pipeline_id, self._c.request("GET", f"/pipelines/{pipeline_id}"))

    def list(self, page: int = 1, per_page: int = 20) -> list[dict[str, Any]]:
        return self._c.request("GET", "/pipelines", params={"page": page, "per_page": per_page})["pipelines"]


class Pipeline:
    """A pipeline handle: deploy, run, status, pause/resume, configure, delete."""

    def __init__(self, client: EtlClient, pipeline_id: str, info: dict[str, Any] | None = None):
        self._c = client
        self.id = pipeline_id
        self.info = dict(info or {})

    def __repr__(self) -> str:
        return f"<Pipeline {self.id} {self.info.get('status', '')}>"

    def refresh(self) -> dict[str, Any]:
        self.info = self._c.request("GET", f"/pipelines/{self.id}")
        return self.info

    def deploy(self, schedule: str | None = None, environment: str = "production") -> dict[str, Any]:
        self.info = self._c.request("POST", f"/pipelines/{self.id}:deploy",
                                    json={"environment": environment, "schedule": schedule})
        return self.info

    def pause(self) -> dict[str, Any]:
        self.info = self._c.request("POST", f"/pipelines/{self.id}:pause")
        return self.info

    def resume(self) -> dict[str, Any]:
        self.info = self._c.request("POST", f"/pipelines/{self.id}:resume")
        return self.info

    def remove_schedule(self) -> dict[str, Any]:
        return self._c.request("DELETE", f"/pipelines/{self.id}/schedule")

    def configure(self, **changes: Any) -> dict[str, Any]:
        self.info = self._c.request("PATCH", f"/pipelines/{self.id}", json=changes)
        return self.info

    def run(self, params: dict[str, Any] | None = None) -> "PipelineRun":
        body = self._c.request("POST", f"/pipelines/{self.id}:run", json={"params": params or {}, "async": True})
        return PipelineRun(self._c, self.id, body["run_id"], body)

    def status(self) -> dict[str, Any]:
        return self._c.request("GET", f"/pipelines/{self.id}/status")

    def runs(self, page: int = 1, per_page: int = 20) -> list[dict[str, Any]]:
        return self._c.request("GET", f"/pipelines/{self.id}/runs", params={"page": page, "per_page": per_page})["runs"]

    def delete(self) -> dict[str, Any]:
        return self._c.request("DELETE", f"/pipelines/{self.id}")


class PipelineRun:
    """One run: its status, and waiting for it."""

    def __init__(self, client: EtlClient, pipeline_id: str, run_id: str, info: dict[str, Any] | None = None):
        self._c = client
        self.pipeline_id = pipeline_id
        self.id = run_id
        self.info = dict(info or {})

    def __repr__(self) -> str:
        return f"<PipelineRun {self.id} {self.info.get('status', '')}>"

    def get_status(self) -> dict[str, Any]:
        self.info = self._c.request("GET", f"/pipelines/{self.pipeline_id}/status", params={"run_id": self.id})
        return self.info

    def wait(self, timeout: float | None = None, poll_interval: float = 1.0,
             raise_on_failure: bool = True) -> dict[str, Any]:
        """Poll until the run ends; failed -> JobFailedError, cancelled -> JobCancelledError."""
        end = time.monotonic() + (timeout if timeout is not None else self._c.sync_timeout)
        while True:
            info = self.get_status()
            if info.get("status") in FINAL:
                break
            if time.monotonic() >= end:
                raise APITimeoutError(f"run {self.id} is still {info.get('status')}; it goes on",
                                      code="TIMEOUT", details={"job_id": self.id})
            time.sleep(poll_interval)
        if raise_on_failure and info["status"] != "success":
            err = info.get("error") or {}
            cls = JobCancelledError if info["status"] == "cancelled" else JobFailedError
            raise cls(err.get("message") or f"run {self.id} {info['status']}", code=err.get("code"), job=info)
        return info
