"""Model management (Tabular API): train once, generate many.

POST /models starts a `train_model` flow run; GET /models lists the registry; POST /models/{id}/generate
runs `sample_model` and waits for it like /generate does.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from api import dispatch
from api.tabular.data_urls import resolve_data_url
from api.openapi_schemas import body_schema
from api.deps import CurrentOwner, CurrentPrincipal, SettingsDep
from api.jobs import failure_error, read_manifest
from api.tabular.models_service import (TrainingRequest, current_model, delete_model, start_sampling,
                                        start_training)
from api.sync_jobs import EARLY_ANSWER, early_answer, wait_for_run
from api.uploads import store_upload
from inferloop.core import db, storage
from inferloop.core.errors import InferloopError
from tasks.tabular.estimates import estimate_sampling_seconds
from tasks.tabular.export_stream import FORMATS
from tasks.tabular.tables import validate_upload
from tasks.tabular.synthesizers import resolve

router = APIRouter(tags=["models"])

SORTS = {"name": db.Model.name, "created_at": db.Model.created_at, "quality_score": db.Model.quality_score,
         "last_used": db.Model.last_used}
DEFAULT_ORDER = {"name": "asc", "created_at": "desc", "quality_score": "desc", "last_used": "desc"}


class CreateModelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    name: str = Field(min_length=1, max_length=256)
    algorithm: str = "sdv"
    training_data_url: str = Field(description="s3://, upload://<id>, a path under an allowed root, or https://")
    parameters: dict[str, Any] = Field(default_factory=dict)
    description: str = Field("", max_length=10_000)
    seed: int | None = Field(None, ge=0, lt=2**32, description="makes training (and default sampling) reproducible")
    constraint_id: str | None = Field(None, description="a constraint set from POST /constraints")
    constraints: list[dict[str, Any]] | None = Field(None, description="inline constraints (documented format)")


class ModelGenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    num_rows: int = Field(1000, ge=1)
    conditions: dict[str, Any] | None = Field(None, description='column: value, ">30", "<=5", "!=x" or a list')
    format: str = "csv"
    seed: int | None = Field(None, ge=0, lt=2**32)


def _iso(dt: datetime | None) -> str | None:
    return db.as_utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def model_summary(m: db.Model) -> dict:
    """A model as listed (documented fields, plus status and parameters)."""
    return {"model_id": m.id, "name": m.name, "algorithm": m.algorithm, "model_type": m.model_type,
            "status": m.status, "created_at": _iso(m.created_at), "last_used": _iso(m.last_used),
            "quality_score": m.quality_score, "size_mb": m.size_mb, "description": m.description,
            "parameters": m.parameters}


def model_detail(m: db.Model) -> dict:
    meta = m.model_metadata or {}
    return {**model_summary(m), "training_job_id": m.training_job_id, "constraint_id": m.constraint_id,
            "project_id": m.project_id, "dataset_version_id": m.dataset_version_id,
            "metadata": meta, "columns": sorted((meta.get("columns") or {}).keys()), "error": m.error}


@router.post("/models", status_code=202, summary="Train and save a model for reuse (JSON or multipart upload)",
             openapi_extra={"requestBody": {"content": {
                 "application/json": {"schema": body_schema(CreateModelRequest)},
                 "multipart/form-data": {"schema": {"type": "object", "properties": {
                     "file": {"type": "string", "format": "binary"}, "name": {"type": "string"},
                     "algorithm": {"type": "string"}, "parameters": {"type": "string"},
                     "description": {"type": "string"}, "seed": {"type": "integer"},
                     "constraint_id": {"type": "string"},
                     "constraints": {"type": "string", "format": "binary"}}, "required": ["file", "name"]}}}}})
async def create_model(request: Request, principal: CurrentPrincipal, settings: SettingsDep):
    owner = principal.owner
    job_dir = None
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        body = _form_body(form)
        resolve(body.algorithm, body.parameters)  # bad algorithm or parameters: 400 before the upload is stored
        constraints = await _constraints(body.constraints, body.constraint_id, owner,
                                         form.get("constraints"))
        job_id = db.new_id("job")
        job_dir = storage.run_dir(job_id)
        try:
            uri, fmt = await store_upload(form.get("file"), job_dir, "file", settings.max_upload_mb)
            await run_in_threadpool(validate_upload, uri, fmt)
        except Exception:
            await run_in_threadpool(storage.remove, job_dir)
            raise
    else:
        try:
            body = CreateModelRequest.model_validate(await request.json())
        except json.JSONDecodeError as exc:
            raise InferloopError("INVALID_REQUEST", f"the body is not valid JSON: {exc}")
        except ValueError as exc:
            raise _validation_error(exc)
        resolve(body.algorithm, body.parameters)
        constraints = await _constraints(body.constraints, body.constraint_id, owner, None)
        job_id = db.new_id("job")
        uri, fmt, _ = await run_in_threadpool(resolve_data_url, body.training_data_url, owner, settings,
                                              "training_data_url")
    try:
        model, job_id = await start_training(principal, settings, TrainingRequest(
            name=body.name, algorithm=body.algorithm, parameters=body.parameters, data_uri=uri, data_format=fmt,
            description=body.description, seed=body.seed, constraints=constraints,
            constraint_id=body.constraint_id, job_id=job_id))
    except Exception:
        if job_dir:
            await run_in_threadpool(storage.remove, job_dir)
        raise
    return {"model_id": model.id, "name": model.name, "status": "training", "created_at": _iso(model.created_at),
            "training_job_id": job_id, "status_url": f"/api/tabular/models/{model.id}",
            "job_url": f"/api/tabular/jobs/{job_id}"}


def _form_body(form) -> CreateModelRequest:
    """The multipart fields as the JSON body's model (training_data_url is the uploaded file)."""
    raw_params = form.get("parameters") or "{}"
    try:
        params = json.loads(raw_params) if isinstance(raw_params, str) else {}
    except json.JSONDecodeError as exc:
        raise InferloopError("INVALID_REQUEST", f"parameters must be a JSON object: {exc}", "parameters")
    if not isinstance(params, dict):
        raise InferloopError("INVALID_REQUEST", "parameters must be a JSON object", "parameters")
    fields = {k: form.get(k) for k in ("name", "algorithm", "description", "seed", "constraint_id")}
    try:
        return CreateModelRequest.model_validate({
            **{k: v for k, v in fields.items() if isinstance(v, str) and v != ""},
            "parameters": params, "training_data_url": "upload"})
    except ValueError as exc:
        raise _validation_error(exc)


def _validation_error(exc: ValueError) -> InferloopError:
    errors = getattr(exc, "errors", lambda: [])()
    first = errors[0] if errors else {}
    field = ".".join(str(p) for p in first.get("loc", ())) or None
    return InferloopError("INVALID_REQUEST", f"{field}: {first.get('msg', exc)}" if field else str(exc), field)


async def _constraints(inline: list | None, constraint_id: str | None, owner: str, upload) -> list[dict] | None:
    """The constraints to train with: an uploaded file, a stored set by id, or an inline list (one of them)."""
    given = [x for x in (inline, constraint_id, getattr(upload, "filename", None)) if x]
    if len(given) > 1:
        raise InferloopError("INVALID_REQUEST", "give constraints one way: a file, constraint_id or a list",
                             "constraints")
    if not given:
        return None
    from tasks.tabular.constraint_specs import constraints_for, load_constraint_file, parse_constraints

    if upload is not None and getattr(upload, "filename", None):
        return load_constraint_file(await upload.read(1 << 20))
    if constraint_id:
        return await run_in_threadpool(constraints_for, constraint_id, owner)
    return parse_constraints(inline)


@router.get("/models", summary="List saved models")
async def list_models(owner: CurrentOwner, page: int = Query(1, ge=1, le=1_000_000), per_page: int = Query(20, ge=1, le=100),
                      algorithm: str | None = None,
                      sort: Literal["name", "created_at", "quality_score", "last_used"] = "created_at",
                      order: Literal["asc", "desc"] | None = Query(
                          None, description="default: name ascending, the others descending (newest, best first)")):
    descending = (order or DEFAULT_ORDER[sort]) == "desc"
    total, rows = await run_in_threadpool(_page, owner, algorithm, SORTS[sort], descending, page, per_page)
    models = [await current_model(m.id, owner) if m.status == "training" else m for m in rows]
    return {"models": [model_summary(m) for m in models],
            "pagination": {"page": page, "per_page": per_page, "total": total,
                           "pages": math.ceil(total / per_page) if total else 0}}


def _page(owner: str, algorithm: str | None, column, descending: bool, page: int, per_page: int):
    query = select(db.Model).where(db.Model.owner == owner)
    if algorithm:
        query = query.where(db.Model.algorithm == algorithm.strip().lower())
    order = column.desc().nulls_last() if descending else column.asc().nulls_last()
    with db.session_scope() as s:
        total = s.scalar(select(func.count()).select_from(query.subquery()))
        rows = list(s.scalars(query.order_by(order, db.Model.id).offset((page - 1) * per_page).limit(per_page)))
    return total, rows


@router.get("/models/{model_id}", summary="A saved model: status, parameters, metadata")
async def get_model(model_id: str, owner: CurrentOwner):
    return model_detail(await current_model(model_id, owner))


@router.delete("/models/{model_id}", summary="Delete a model, its jobs and its stored artifacts")
async def remove_model(model_id: str, owner: CurrentOwner):
    model = await current_model(model_id, owner)
    await delete_model(model)
    return {"ok": True, "model_id": model_id}


@router.post("/models/{model_id}/generate", summary="Generate data with a saved model (waits for the result)",
             responses=EARLY_ANSWER)
async def generate_from_model(model_id: str, body: ModelGenerateRequest, request: Request,
                              principal: CurrentPrincipal, settings: SettingsDep):
    if body.format not in FORMATS:
        raise InferloopError("INVALID_REQUEST", f"format must be one of {', '.join(FORMATS)}", "format")
    model = await current_model(model_id, principal.owner)
    job_id, fr = await start_sampling(principal, settings, model, body.num_rows, body.seed, body.conditions,
                                      body.format)
    estimate = estimate_sampling_seconds(body.num_rows, len((model.model_metadata or {}).get("columns") or {}))
    if (early := early_answer(job_id, estimate, settings, "generation")) is not None:
        return early
    fr = await wait_for_run(job_id, fr, settings, "generation")
    if dispatch.public_status(fr) == "completed":
        manifest = await run_in_threadpool(read_manifest, str(fr.id))
        base = str(request.base_url).rstrip("/")
        return {"generation_id": job_id, "model_id": model_id, "status": "completed",
                "rows_generated": manifest["generated_rows"],
                "download_url": f"/api/tabular/download/{job_id}?format={body.format}",
                "data_url": f"{base}/api/tabular/download/{job_id}?format={body.format}",
                "generation_time": manifest["generation_time"]}
    raise await run_in_threadpool(failure_error, str(fr.id), fr)
