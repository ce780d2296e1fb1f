"""`TabularClient`: the Tabular API from Python, with DataFrames in and out."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from inferloop_client import config as client_config
from inferloop_client.data import (DataInput, config_part, file_part, is_remote, json_part, output_options,
                                   read_frame)
from inferloop_client.errors import APITimeoutError
from inferloop_client.http import RetryPolicy, Transport
from inferloop_client.jobs import Batch, Job
from inferloop_client.resources import Constraints, Models, constraint_list
from inferloop_client.sse import RecordDecoder, iter_events, stream_error

if TYPE_CHECKING:
    import pandas as pd

# algorithm parameters the generate form takes as fields (tabular-api.md); others travel in a config file
FORM_PARAMETERS = frozenset({"sdv_model", "default_distribution", "enforce_min_max", "epochs", "batch_size",
                             "embedding_dim", "discriminator_steps", "noise_dim", "layers_dim", "privacy_level"})


class TabularClient:
    """Client of the Inferloop Tabular API.

    >>> client = TabularClient(api_key="il_...", base_url="http://localhost:8000")
    >>> synthetic = client.generate("customers.csv", algorithm="sdv", num_rows=1000)   # a DataFrame

    `api_key` defaults to INFERLOOP_API_KEY, then the CLI's config (`inferloop-tabular config set api.key`);
    `base_url` to INFERLOOP_API_URL, then the config, then http://localhost:8000. A JWT works as api_key too.
    """

    api_prefix = "/api/tabular"

    def __init__(self, api_key: str | None = None, base_url: str | None = None, *, timeout: float = 60.0,
                 sync_timeout: float = 960.0, max_retries: int = 3, max_retry_wait: float = 60.0,
                 headers: dict[str, str] | None = None, http_client: httpx.Client | None = None):
        self.api_key = client_config.api_key(api_key)
        self.base_url = client_config.api_url(base_url)
        self.sync_timeout = sync_timeout  # how long calls that wait on the server (generate, validate) may take
        self._t = Transport(self.base_url, self.api_key, timeout=timeout, headers=headers, http_client=http_client,
                            retry=RetryPolicy(max_retries=max_retries, max_wait=max_retry_wait))
        self.models = Models(self)
        self.constraints = Constraints(self)

    def __repr__(self) -> str:
        return f"TabularClient(base_url={self.base_url!r})"

    def __enter__(self) -> "TabularClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._t.close()

    # --- low level ---------------------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Any endpoint: `path` relative to the base URL (e.g. "/api/synthgen/models"); returns parsed JSON."""
        return self._t.json(method, path, **kwargs)

    def _api(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._t.json(method, f"{self.api_prefix}{path}", **kwargs)

    def _sync(self, method: str, path: str, **kwargs: Any) -> Any:
        """A call the server answers when its run is done. Its early answer (202: the run is estimated to
        take longer than the server waits) raises APITimeoutError with the job id, as a 504 does, so that
        the caller follows the job."""
        response = self._t.request(method, f"{self.api_prefix}{path}", timeout=self.sync_timeout, **kwargs)
        body = response.json()
        if response.status_code == 202 and isinstance(body, dict) and body.get("job_id"):
            raise APITimeoutError(body.get("message") or "the run goes on as a job", code="TIMEOUT", status=202,
                                  details=body, headers=dict(response.headers))
        return body

    def health(self) -> dict[str, Any]:
        return self._t.json("GET", "/health")

    # --- data in ------------------------------------------------------------------------------------------

    def upload(self, data: DataInput) -> dict[str, Any]:
        """Store a file (path, DataFrame, bytes) on the server once: {upload_id, data_url: upload://..., rows}."""
        return self._api("POST", "/uploads", files=[file_part("file", data)], timeout=self.sync_timeout)

    def data_url(self, data: DataInput) -> str:
        """A URL the server reads: remote URLs as they are, anything local uploaded first."""
        return data.strip() if is_remote(data) else self.upload(data)["data_url"]

    # --- generation ---------------------------------------------------------------------------------------

    def generate(self, data: DataInput, algorithm: str = "sdv", num_rows: int | None = None, *,
                 seed: int | None = None, format: str = "csv", constraints: Any = None,
                 constraint_id: str | None = None, config: Any = None, output: str | Path | None = None,
                 progress: bool = False, wait_timeout: float | None = None,
                 **parameters: Any) -> "pd.DataFrame | Path":
        """Synthetic rows like `data` (a file path, a DataFrame, or an s3:// / https:// / upload:// URL).

        Returns a DataFrame (its `.attrs["inferloop"]` holds the API's answer: id, quality score, ...),
        or, with `output`, writes the file (format and compression from its suffix) and returns its path.
        Algorithm parameters (epochs, sdv_model, batch_size, ...) are keyword arguments; `constraints` is a
        list of constraint dicts or a JSON file, `constraint_id` a stored set. URLs run as an
        async job (`progress=True` shows a bar); a sync call that outlives the server's limit is followed
        up as the job it became.
        """
        if is_remote(data):
            params = {**(config if isinstance(config, dict) else {}), **parameters}
            if config is not None and not isinstance(config, dict):
                raise TypeError("with a data URL, config must be a dict of parameters")
            job = self.generate_async(data, algorithm, num_rows, seed=seed, format=format, constraints=constraints,
                                      constraint_id=constraint_id, **params)
            result = self._follow(job, wait_timeout, progress)
        else:
            result = self.generate_sync(data, algorithm, num_rows, seed, format, constraints, config, parameters,
                                         wait_timeout, progress, constraint_id=constraint_id)
        if output is not None:
            return self.download(result["id"], output)
        df = self.download(result["id"])
        df.attrs["inferloop"] = result
        return df

    def generate_sync(self, data: DataInput, algorithm: str = "sdv", num_rows: int | None = None,
                      seed: int | None = None, fmt: str = "csv", constraints: Any = None, config: Any = None,
                      parameters: dict | None = None, wait_timeout: float | None = None,
                      progress: bool = False, constraint_id: str | None = None) -> dict[str, Any]:
        """POST /generate with a local file; the API's answer (id, metadata, download_formats), no download."""
        parameters = parameters or {}
        form: dict[str, Any] = {"algorithm": algorithm, "num_rows": num_rows, "seed": seed, "format": fmt,
                                "constraint_id": constraint_id}
        extra = {k: v for k, v in parameters.items() if k not in FORM_PARAMETERS}
        form.update({k: _form_value(v) for k, v in parameters.items() if k in FORM_PARAMETERS})
        if extra and config is not None and not isinstance(config, dict):
            raise TypeError(f"put {', '.join(sorted(extra))} in the config file, or pass config as a dict")
        if isinstance(config, dict) or extra:
            config = {**(config or {}), **extra}
        files = [file_part("file", data)]
        if constraints is not None:
            files.append(json_part("constraints", constraints, "constraints"))
        if config is not None:
            files.append(config_part(config))
        try:
            return self._sync("POST", "/generate", data=form, files=files)
        except APITimeoutError as exc:
            if not exc.job_id:
                raise
            return self._follow(self.job(exc.job_id), wait_timeout, progress)

    def _follow(self, job: Job, wait_timeout: float | None, progress: bool) -> dict[str, Any]:
        """Wait for a generation job; its result with the generation id under "id" like a sync answer."""
        info = job.wait(timeout=wait_timeout, progress=progress)
        return {"id": job.id, "status": info["status"], "algorithm": info.get("algorithm"),
                "metadata": info.get("result", {}), **{k: v for k, v in info.get("result", {}).items()
                                                        if k in ("download_url", "download_formats")}}

    def generate_async(self, data: DataInput, algorithm: str = "sdv", num_rows: int | None = None, *,
                       seed: int | None = None, format: str = "csv", callback_url: str | None = None,
                       callback_secret: str | None = None, constraints: Any = None, constraint_id: str | None = None,
                       **parameters: Any) -> Job:
        """Start a generation job and return its handle at once (local data is uploaded first)."""
        body = {"data_url": self.data_url(data), "algorithm": algorithm, "num_rows": num_rows, "seed": seed,
                "format": format, "callback_url": callback_url, "callback_secret": callback_secret,
                "parameters": parameters, "constraints": constraint_list(constraints),
                "constraint_id": constraint_id}
        answer = self._api("POST", "/generate/async", json={k: v for k, v in body.items() if v is not None})
        return Job(self, answer["job_id"], answer)

    def job(self, job_id: str) -> Job:
        """A handle on an existing job (refresh, wait, cancel, logs, download)."""
        return Job(self, job_id)

    def jobs(self, *, status: str | None = None, kind: str | None = None, page: int = 1,
             per_page: int = 20) -> dict[str, Any]:
        """The caller's jobs, newest first: `{"jobs": [...], "pagination": {...}}`."""
        params = {"status": status, "kind": kind, "page": page, "per_page": per_page}
        return self._api("GET", "/jobs", params={k: v for k, v in params.items() if v is not None})

    # --- analysis -----------------------------------------------------------------------------------------

    def profile(self, data: DataInput, sample_size: int | None = None) -> dict[str, Any]:
        """Column types, statistics, distributions and correlations of `data` (path or DataFrame)."""
        return self._sync("POST", "/profile", data={"sample_size": sample_size}, files=[file_part("file", data)])

    def validate(self, original: DataInput, synthetic: DataInput, metrics: str | list[str] | None = None, *,
                 target_column: str | None = None, quasi_identifiers: list[str] | None = None,
                 holdout: DataInput | None = None) -> dict[str, Any]:
        """Score synthetic data against the original: overall_score, metrics, expectations, report_url."""
        files = [file_part("original", original, "original"), file_part("synthetic", synthetic, "synthetic")]
        if holdout is not None:
            files.append(file_part("holdout", holdout, "holdout"))
        form = {"metrics": _csv(metrics), "target_column": target_column,
                "quasi_identifiers": _csv(quasi_identifiers)}
        return self._sync("POST", "/validate", data=form, files=files)

    def privacy_analyze(self, data: DataInput, quasi_identifiers: list[str], sensitive_attributes: list[str] | None
                        = None, analysis_types: list[str] | None = None, *, k: int | None = None,
                        l: int | None = None, t: float | None = None) -> dict[str, Any]:  # noqa: E741
        """k-anonymity, l-diversity and t-closeness risks of `data` (URL, path or DataFrame)."""
        fields = {"quasi_identifiers": list(quasi_identifiers), "sensitive_attributes": sensitive_attributes,
                  "analysis_types": analysis_types, "k": k, "l": l, "t": t}
        fields = {key: v for key, v in fields.items() if v is not None}
        if is_remote(data):
            return self._sync("POST", "/privacy/analyze", json={"data_url": data.strip(), **fields})
        form = {key: json.dumps(v) if isinstance(v, list) else v for key, v in fields.items()}
        return self._sync("POST", "/privacy/analyze", data=form, files=[file_part("file", data)])

    # --- streaming, batch, multi-table --------------------------------------------------------------------

    def stream_events(self, model_id: str, rate: float | str | None = None, *, format: str = "json",
                      duration: float | None = None, seed: int | None = None) -> Iterator[tuple[str, Any]]:
        """Every event of a stream: ("header", columns), ("record", dict), ("stats", {...}), ("complete", {...}).

        An `error` event raises its typed error. Closing the iterator ends the stream on the server.
        """
        params = {"rate": rate, "format": format, "duration": duration, "seed": seed}
        decoder = RecordDecoder(format)
        timeout = httpx.Timeout(self._t.timeout, read=max(180.0, self._t.timeout))
        with self._t.stream("GET", f"{self.api_prefix}/stream/{model_id}", params=params, timeout=timeout,
                            headers={"Accept": "text/event-stream"}) as response:
            for event, data in iter_events(response.iter_lines()):
                if event == "record":
                    yield event, decoder.record(data)
                elif event == "header":
                    decoder.header(data)
                    yield event, decoder.columns
                elif event == "error":
                    raise stream_error(data)
                else:
                    yield event, _json_or_text(data)
                    if event == "complete":
                        return

    def stream(self, model_id: str, rate: float | str | None = None, *, format: str = "json",
               duration: float | None = None, seed: int | None = None, limit: int | None = None
               ) -> Iterator[dict[str, Any]]:
        """Records (dicts) streamed from a saved model at `rate` per second ("max": unpaced).

        Stops after `limit` records, at the end of `duration`, or when you stop iterating.
        """
        if limit is not None and limit <= 0:
            return
        count = 0
        events = self.stream_events(model_id, rate, format=format, duration=duration, seed=seed)
        try:
            for event, payload in events:
                if event != "record":
                    continue
                yield payload
                count += 1
                if limit is not None and count >= limit:
                    return
        finally:
            events.close()

    def batch(self, files: list[Any], algorithm: str = "sdv", *, num_rows: int | None = None,
              seed: int | None = None, output_format: str = "csv", **parameters: Any) -> Batch:
        """Start a batch: one generation per file (URL, path, DataFrame, or {"url", "name"}); returns its handle."""
        entries = []
        for i, f in enumerate(files):
            if isinstance(f, dict):
                entries.append({"url": self.data_url(f["url"]), **({"name": f["name"]} if f.get("name") else {})})
            else:
                name = Path(str(f)).stem if isinstance(f, (str, Path)) and not is_remote(f) else None
                entries.append({"url": self.data_url(f), **({"name": name} if name else {})})
        common = {"num_rows": num_rows, "seed": seed, **parameters}
        answer = self._api("POST", "/batch", json={
            "files": entries, "algorithm": algorithm, "output_format": output_format,
            "common_parameters": {k: v for k, v in common.items() if v is not None}})
        return Batch(self, answer["batch_id"], answer)

    def get_batch(self, batch_id: str) -> Batch:
        batch = Batch(self, batch_id)
        batch.refresh()
        return batch

    def multitable_generate(self, tables: dict[str, Any], relationships: list[dict[str, Any]] | None = None,
                            algorithm: str = "sdv", *, output_dir: str | Path | None = None, fmt: str = "csv",
                            **options: Any) -> dict[str, Any]:
        """Related tables generated together, keys kept consistent; waits for the result.

        `tables`: {name: URL, path or DataFrame}; `relationships`: [{parent, child, parent_key, child_key}];
        options: scale_factor, seed, parameters, method, primary_keys, orphans (error|drop|null), save_model,
        model_name.
        Returns {name: DataFrame} (each `.attrs["inferloop"]` is the API's answer), or, with `output_dir`,
        writes <name>.<fmt> files there and returns {name: Path}.
        """
        body = {"tables": {name: {"url": self.data_url(t["url"] if isinstance(t, dict) else t)}
                           for name, t in tables.items()},
                "relationships": relationships or [], "algorithm": algorithm, **options}
        try:
            answer = self._sync("POST", "/multitable/generate", json=body)
        except APITimeoutError as exc:
            if not exc.job_id:
                raise
            answer = self.job(exc.job_id).wait()["result"]
        out: dict[str, Any] = {}
        for name in answer["tables_generated"]:
            if output_dir is not None:
                out[name] = self.download(answer["generation_id"], Path(output_dir) / f"{name}.{fmt}", table=name)
            else:
                out[name] = self.download(answer["generation_id"], table=name)
                out[name].attrs["inferloop"] = answer
        return out

    # --- account and results ------------------------------------------------------------------------------

    def usage(self, period: str = "7d", timezone: str = "UTC") -> dict[str, Any]:
        """Generations, rows and compute hours of the period, and the limits left."""
        return self._api("GET", "/usage", params={"period": period, "timezone": timezone})

    def download(self, generation_id: str, path: str | Path | None = None, *, format: str | None = None,
                 compression: str | None = None, table: str | None = None) -> "pd.DataFrame | Path":
        """A generation's rows: a DataFrame, or written to `path` (format/compression from its suffix);
        `table` names one table of a multi-table generation."""
        url = f"{self.api_prefix}/download/{generation_id}" + (f"/{table}" if table else "")
        if path is None:
            fmt = format or _frame_format()
            response = self._t.request("GET", url, params={"format": fmt}, timeout=self.sync_timeout)
            return read_frame(response.content, fmt)
        fmt, comp = output_options(path, format, compression)
        target = Path(path).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as sink, self._t.stream(
                    "GET", url, params={"format": fmt, "compression": comp}, timeout=self.sync_timeout) as response:
                for chunk in response.iter_bytes():
                    sink.write(chunk)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target


def _frame_format() -> str:
    """Parquet keeps column types; CSV when pyarrow is not installed."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return "csv"
    return "parquet"


def _form_value(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value


def _csv(values: str | list[str] | None) -> str | None:
    if values is None or isinstance(values, str):
        return values
    return ",".join(values)


def _json_or_text(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return data
