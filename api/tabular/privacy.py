"""POST /privacy/analyze: JSON `{data_url, ...}` or multipart `file` -> `privacy_analysis` flow run -> report."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from api.tabular.data_urls import resolve_data_url
from api.openapi_schemas import body_schema
from api.deps import CurrentOwner, SettingsDep
from api.sync_jobs import run_and_wait
from api.uploads import store_upload
from inferloop.core import db, storage
from inferloop.core.errors import InferloopError
from inferloop.core.settings import Settings
from tasks.tabular.tables import read_table, validate_upload
from tasks.tabular.privacy import ANALYSIS_TYPES, DEFAULT_K, DEFAULT_L, DEFAULT_T, check_request

router = APIRouter(tags=["privacy"])

LIST_FIELDS = ("quasi_identifiers", "sensitive_attributes", "analysis_types")


class PrivacyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_url: str | None = Field(None, description="upload://<id>, s3://bucket/key, a path under an allowed root "
                                                   "or a public https:// URL (JSON body: required)")
    quasi_identifiers: list[str] = Field(description="columns an attacker may know (at least one)")
    sensitive_attributes: list[str] = Field(default_factory=list, description="columns to protect")
    analysis_types: list[str] | None = Field(None, description=f"any of {', '.join(ANALYSIS_TYPES)}; default: "
                                             "all (only k_anonymity without sensitive attributes)")
    k: int = Field(DEFAULT_K, ge=1, description="target k: classes smaller than this violate k-anonymity")
    l: int = Field(DEFAULT_L, ge=1, description="target distinct l per sensitive attribute")  # noqa: E741
    t: float = Field(DEFAULT_T, ge=0, le=1, description="target t: largest acceptable EMD, in [0, 1]")


_FORM_SCHEMA = {"type": "object", "required": ["file", "quasi_identifiers"], "properties": {
    "file": {"type": "string", "format": "binary", "description": "CSV, Parquet or JSON (instead of data_url)"},
    "data_url": {"type": "string"},
    **{f: {"type": "string", "description": "comma-separated column names (or a JSON array)"}
       for f in LIST_FIELDS},
    "k": {"type": "integer"}, "l": {"type": "integer"}, "t": {"type": "number"}}}
_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": body_schema(PrivacyRequest)},
    "multipart/form-data": {"schema": _FORM_SCHEMA}}}}


@router.post("/privacy/analyze", summary="Privacy risks of a table: k-anonymity, l-diversity, t-closeness",
             openapi_extra=_BODY)
async def analyze(request: Request, owner: CurrentOwner, settings: SettingsDep):
    form = await request.form() if request.headers.get("content-type", "").lower().startswith(
        "multipart/form-data") else None
    try:
        body = _validated(_form_fields(form) if form is not None else await _json_body(request))
        file = form.get("file") if form is not None else None
        return await _analyze(body, file if isinstance(file, UploadFile) and file.filename else None, owner,
                              settings)
    finally:
        if form is not None:
            await form.close()


async def _analyze(body: PrivacyRequest, file: UploadFile | None, owner: str, settings: Settings) -> dict:
    """Check the request and the table's columns, then run the flow and answer with its report."""
    if file is not None and body.data_url:
        raise InferloopError("INVALID_REQUEST", "send either a file or a data_url, not both", "data_url")
    if file is None and not body.data_url:
        raise InferloopError("INVALID_REQUEST", "data_url is required (or a multipart 'file')", "data_url")
    check_request(None, body.quasi_identifiers, body.sensitive_attributes, body.analysis_types,
                  body.k, body.l, body.t)

    job_id = db.new_id("priv")
    job_dir = storage.run_dir(job_id)
    try:
        if body.data_url:
            uri, fmt, _ = await run_in_threadpool(resolve_data_url, body.data_url, owner, settings)
            columns = await run_in_threadpool(read_columns, uri, fmt, settings)
        else:
            uri, fmt = await store_upload(file, job_dir, "file", settings.max_upload_mb)
            columns = (await run_in_threadpool(validate_upload, uri, fmt))["column_names"]
        qis, sensitive, types = check_request(columns, body.quasi_identifiers, body.sensitive_attributes,
                                              body.analysis_types, body.k, body.l, body.t)
    except Exception:
        await run_in_threadpool(storage.remove, job_dir)
        raise
    _, result = await run_and_wait(job_id, "privacy", "privacy_analysis", owner, {
        "data": uri, "quasi_identifiers": qis, "sensitive_attributes": sensitive, "analysis_types": types,
        "k": body.k, "l": body.l, "t": body.t, "data_format": fmt}, settings)
    return {"analysis_id": job_id, **result}


async def _json_body(request: Request) -> Any:
    """The request's JSON body, or INVALID_REQUEST."""
    try:
        return json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise InferloopError("INVALID_REQUEST", "the body must be a JSON object (or multipart form data)")


def _form_fields(form: FormData) -> dict:
    """Form fields as the JSON body's fields: lists from comma-separated text or a JSON array."""
    out: dict[str, Any] = {}
    for name in {n for n in form.keys() if n != "file"}:
        values = [v for v in form.getlist(name) if isinstance(v, str)]
        if name not in LIST_FIELDS:
            out[name] = values[-1] if values else None
        elif len(values) == 1 and values[0].strip().startswith("["):
            try:
                out[name] = json.loads(values[0])
            except ValueError:
                raise InferloopError("INVALID_REQUEST", f"{name} is not a valid JSON array", name)
        else:
            out[name] = [part.strip() for v in values for part in v.split(",") if part.strip()]
    return {k: v for k, v in out.items() if v is not None and v != ""}


def _validated(raw: Any) -> PrivacyRequest:
    """The request as a PrivacyRequest, or the envelope's INVALID_REQUEST naming the field."""
    if not isinstance(raw, dict):
        raise InferloopError("INVALID_REQUEST", "the body must be a JSON object")
    try:
        return PrivacyRequest.model_validate(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors())


def read_columns(uri: str, fmt: str, settings: Settings) -> list[str]:
    """The column names of a stored table, reading only its header when the format allows."""
    try:
        if fmt == "parquet":
            with storage.open_uri(uri, "rb") as f:
                return [str(c) for c in pq.ParquetFile(f).schema_arrow.names]
        if fmt == "csv":
            with storage.open_uri(uri, "rb") as raw:
                gzipped = raw.read(2) == b"\x1f\x8b"
                raw.seek(0)
                src = gzip.GzipFile(fileobj=raw) if gzipped else raw
                return [str(c) for c in pd.read_csv(src, nrows=0, encoding="utf-8-sig", index_col=False).columns]
        return [str(c) for c in read_table(uri, fmt, max_rows=settings.max_rows).columns]
    except InferloopError as exc:
        exc.field = "data_url"
        raise
    except (pd.errors.ParserError, pd.errors.EmptyDataError, pa.ArrowException, UnicodeDecodeError, OSError,
            EOFError, ValueError) as exc:
        raise InferloopError("INVALID_FILE", f"could not read the columns of data_url: {exc}", "data_url")
