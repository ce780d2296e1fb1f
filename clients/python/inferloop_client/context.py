"""`ContextClient`: the context API (context-api.md, /api/v1) from Python.

>>> ctx = ContextClient(api_key="il_...", base_url="http://localhost:8000")
>>> analysis = ctx.analyze("Online store with customers, orders and order lines")
>>> sample = ctx.sample("Online store with customers, orders and order lines", sample_size=5)
>>> ctx.feedback(sample["job_id"], approved=True, start_corpus=True, corpus_size=100_000)
>>> job = ctx.job(sample["job_id"]); job.wait(progress=True)
>>> orders = ctx.download(job.id, "orders")                  # a DataFrame (csv), or a file with `path`

Errors are the typed errors of inferloop_client (ValidationError for 400 VALIDATION_ERROR, NotFoundError,
RateLimitError, ServerError for LLM_ERROR 502, ...), with the document's code in `.code`; 429 answers are
retried after their reset like the Tabular client's.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from inferloop_client import config as client_config
from inferloop_client.errors import InferloopAPIError, JobCancelledError, JobFailedError, from_response
from inferloop_client.http import RetryPolicy, Transport
from inferloop_client.jobs import _Handle

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("csv", "json", "xlsx", "sql")


class ContextTransport(Transport):
    """The shared transport, reading context-api.md's error envelope {detail, error_code, status_code}."""

    @staticmethod
    def _error(response: httpx.Response) -> InferloopAPIError:
        err = Transport._error(response)  # reads the body (the platform's envelope)
        try:
            body = response.json()
        except Exception:
            return err
        if not isinstance(body, dict) or "error_code" not in body:
            return err
        extra = {k: v for k, v in body.items() if k not in ("detail", "error_code", "status_code")}
        return from_response(response.status_code, {"error": {"code": body["error_code"],
                                                              "message": body.get("detail"), **extra}},
                             dict(response.headers))


class ContextJob(_Handle):
    """A context job (`GET /api/v1/jobs/{id}`): statuses pending, in_progress, completed, failed."""

    kind = "context job"

    def refresh(self) -> dict[str, Any]:
        self.info = self._client._t.json("GET", f"/api/v1/jobs/{self.id}")
        return self.info

    @property
    def stage(self) -> str | None:
        return self.info.get("stage")

    @property
    def progress(self) -> float | None:
        return (self.info.get("progress") or {}).get("percent_complete")

    def wait(self, timeout: float | None = None, poll_interval: float = 1.0, progress: bool = False,
             on_update=None, raise_on_failure: bool = True) -> dict[str, Any]:
        if progress:
            from inferloop_client.progress import progress_bar

            with progress_bar(f"{self.kind} {self.id}") as bar:
                def both(info: dict[str, Any]) -> None:
                    bar({"status": info.get("status"), "progress": (info.get("progress") or {}).get(
                        "percent_complete")})
                    if on_update is not None:
                        on_update(info)
                return self._wait(timeout, poll_interval, both, raise_on_failure)
        return self._wait(timeout, poll_interval, on_update, raise_on_failure)

    def raise_for_status(self) -> None:
        if self.info.get("status") != "failed":
            return
        errors = self.info.get("errors") or []
        first = errors[0] if errors else {}
        if self.info.get("stage") == "cancelled":
            raise JobCancelledError(f"job {self.id} was cancelled", code="CANCELLED", job=self.info,
                                    details={"job_id": self.id})
        message = first.get("message") if isinstance(first, dict) else str(first)
        raise JobFailedError(message or f"job {self.id} failed", code=(first.get("code") if isinstance(first, dict)
                                                                       else None) or "FAILED",
                             job=self.info, details={"job_id": self.id})

    def export(self, format: str = "csv", **kwargs: Any) -> dict[str, Any]:
        return self._client.export(self.id, format, **kwargs)

    def download(self, schema: str, format: str = "csv", path: str | Path | None = None, **kwargs: Any):
        return self._client.download(self.id, schema, format, path, **kwargs)


class ContextClient:
    """Client of the context API: analyze, sample, feedback, corpus, jobs, export, download."""

    api_prefix = "/api/v1"

    def __init__(self, api_key: str | None = None, base_url: str | None = None, *, timeout: float = 60.0,
                 sync_timeout: float = 960.0, max_retries: int = 3, max_retry_wait: float = 60.0,
                 headers: dict[str, str] | None = None, http_client: httpx.Client | None = None):
        self.api_key = client_config.api_key(api_key)
        self.base_url = client_config.api_url(base_url)
        self.sync_timeout = sync_timeout
        self._t = ContextTransport(self.base_url, self.api_key, timeout=timeout, headers=headers,
                                   http_client=http_client,
                                   retry=RetryPolicy(max_retries=max_retries, max_wait=max_retry_wait))

    def __repr__(self) -> str:
        return f"ContextClient(base_url={self.base_url!r})"

    def __enter__(self) -> "ContextClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._t.close()

    def _post(self, path: str, body: dict[str, Any], timeout: float | None = None) -> Any:
        return self._t.json("POST", f"{self.api_prefix}{path}", json={k: v for k, v in body.items() if v is not None},
                            timeout=timeout)

    # --- the document's operations ----------------------------------------------------------------------

    def analyze(self, context: str, domain_hint: str | None = None) -> dict[str, Any]:
        """Domain, requirements, proposed schemas (fields, types), relationships and rules of a context."""
        return self._post("/context/analyze", {"context": context, "domain_hint": domain_hint})

    def sample(self, context: str, sample_size: int = 5, schemas: list[str] | None = None, seed: int | None = None,
               domain_hint: str | None = None) -> dict[str, Any]:
        """A small sample (waits for its run): {job_id, status, schemas, samples: {schema: [rows]}, ...}."""
        return self._post("/generate/sample", {"context": context, "sample_size": sample_size, "schemas": schemas,
                                               "seed": seed, "domain_hint": domain_hint}, timeout=self.sync_timeout)

    def corpus(self, context: str, corpus_size: int, batch_size: int | None = None, schemas: list[str] | None = None,
               export_format: str | None = None, export_options: dict[str, Any] | None = None,
               seed: int | None = None, domain_hint: str | None = None, wait: bool = False,
               timeout: float | None = None, progress: bool = False) -> ContextJob:
        """Start a corpus; returns its job handle (`wait=True` waits for it, raising if it fails)."""
        info = self._post("/generate/corpus", {
            "context": context, "corpus_size": corpus_size, "batch_size": batch_size, "schemas": schemas,
            "export_format": export_format, "export_options": export_options, "seed": seed,
            "domain_hint": domain_hint})
        job = ContextJob(self, info["job_id"], info)
        if wait:
            job.wait(timeout=timeout, progress=progress)
        return job

    def feedback(self, job_id: str, approved: bool = False, schema_feedback: list[dict[str, Any]] | None = None,
                 start_corpus: bool = False, corpus_size: int | None = None, **extra: Any) -> dict[str, Any]:
        """Apply feedback to a sample job: a new sample (same seed) or, with start_corpus, the corpus."""
        return self._post("/generate/feedback", {"job_id": job_id, "approved": approved,
                                                 "schema_feedback": schema_feedback or [],
                                                 "start_corpus": start_corpus, "corpus_size": corpus_size, **extra},
                          timeout=self.sync_timeout)

    def job(self, job_id: str) -> ContextJob:
        return ContextJob(self, job_id)

    def jobs(self, status: str | None = None, kind: str | None = None, skip: int = 0, limit: int = 20
             ) -> dict[str, Any]:
        return self._t.json("GET", f"{self.api_prefix}/jobs", params={"status": status, "kind": kind, "skip": skip,
                                                                      "limit": limit})

    def status(self, job_id: str) -> dict[str, Any]:
        return self._t.json("GET", f"{self.api_prefix}/jobs/{job_id}/status")

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._post(f"/jobs/{job_id}/cancel", {})

    def delete(self, job_id: str) -> dict[str, Any]:
        return self._t.json("DELETE", f"{self.api_prefix}/jobs/{job_id}", timeout=max(self._t.timeout, 120))

    def export(self, job_id: str, format: str = "csv", schemas: list[str] | None = None,
               sql_dialect: str | None = None, **options: Any) -> dict[str, Any]:
        """Export a completed job: {export_paths: {schema: download path}, files, load_order, ...}."""
        if sql_dialect:
            options["sql_dialect"] = sql_dialect
        return self._post(f"/jobs/{job_id}/export", {"format": format, "schemas": schemas or [], "options": options},
                          timeout=self.sync_timeout)

    def download(self, job_id: str, schema: str, format: str = "csv", path: str | Path | None = None,
                 sql_dialect: str | None = None) -> "pd.DataFrame | Path":
        """A schema's exported file: saved to `path`, or read into a DataFrame (csv, json, xlsx)."""
        params = {"format": format, "sql_dialect": sql_dialect if format == "sql" else None}
        with self._t.stream("GET", f"{self.api_prefix}/jobs/{job_id}/download/{schema}", params=params,
                            timeout=self.sync_timeout) as r:
            if path is not None:
                target = Path(path)
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "wb") as f:
                    for block in r.iter_bytes(1 << 16):
                        f.write(block)
                return target
            content = r.read()
        import pandas as pd

        if format == "csv":
            return pd.read_csv(io.BytesIO(content))
        if format == "json":
            return pd.read_json(io.BytesIO(content))
        if format == "xlsx":
            return pd.read_excel(io.BytesIO(content))
        raise ValueError("an SQL export is a script: give path= to save it")
