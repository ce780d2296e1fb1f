"""The SynthGen API (/api/synthgen): models of four types (plus tabular_argn), train and generate jobs.

It shares the registry and flows with the Tabular API: a SynthGen model is a registry model, its training
job is a `train_model` run and its generate job a `sample_model` run. Dataset versions (what models train
on) are registered through POST /api/synthgen/dataset-versions, our design (docs/tabular.md, "The SynthGen API").
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from api.tabular.data_urls import resolve_data_url
from api.openapi_schemas import body_schema
from api.deps import CurrentOwner, CurrentPrincipal, SettingsDep
from api.jobs import read_manifest
from api.tabular.models_service import (JOB_TYPES, TrainingRequest, current_model, delete_model, job_statuses,
                                        model_jobs, new_uuid, start_sampling, start_training)
from api.uploads import store_upload
from inferloop.core import db, storage
from tasks.tabular import export_stream
from inferloop.core.errors import InferloopError, not_found
from tasks.tabular.tables import validate_upload

router = APIRouter(prefix="/api/synthgen", tags=["synthgen"])

# id, name, description, and the registry algorithm + sdv_model behind it
MODEL_TYPES: list[dict[str, str]] = [
    {"id": "ctgan", "name": "CTGAN", "description": "Conditional Tabular GAN - best for general tabular data"},
    {"id": "copulagan", "name": "CopulaGAN", "description": "Copula-based GAN - good for capturing correlations"},
    {"id": "tvae", "name": "TVAE", "description": "Tabular VAE - faster training, good for large datasets"},
    {"id": "gaussian_copula", "name": "Gaussian Copula",
     "description": "Statistical copula model - fastest, good baseline"},
    {"id": "tabular_argn", "name": "TabularARGN",
     "description": "Autoregressive network (mostlyai-engine) - highest fidelity, early stopping, "
                    "optional differential privacy"},
]
# the documented config options of each type (anything else is rejected, naming the field)
CONFIG_OPTIONS: dict[str, tuple[str, ...]] = {
    "ctgan": ("epochs", "batch_size", "embedding_dim", "generator_dim", "discriminator_dim", "pac", "seed"),
    "copulagan": ("epochs", "batch_size", "embedding_dim", "generator_dim", "discriminator_dim", "pac", "seed"),
    "tvae": ("epochs", "batch_size", "embedding_dim", "seed"),
    "gaussian_copula": ("seed",),
}
STATUSES = ("pending", "running", "completed", "failed", "cancelled")


class CreateModel(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    project_id: str = Field(min_length=1, max_length=64)
    dataset_version_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=256)
    model_type: str = "ctgan"
    config: dict[str, Any] = Field(default_factory=dict)


class GenerateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    num_rows: int = Field(1000, ge=1)
    seed: int | None = Field(None, ge=0, lt=2**32)
    conditions: dict[str, Any] | None = None


class DatasetVersionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_url: str = Field(description="s3://, upload://<id>, a path under an allowed root, or https://")
    name: str = Field(min_length=1, max_length=256)
    project_id: str | None = Field(None, max_length=64)
    project_name: str | None = Field(None, max_length=256)
    id: str | None = Field(None, description="a UUID of your choosing (default: a new one)")
    dataset_id: str | None = Field(None, description="groups versions of one dataset (default: a new UUID)")
    version: int | None = Field(None, ge=0, description="default: the next version of dataset_id")


def _iso(dt: datetime | None) -> str | None:
    return db.as_utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def to_registry(model_type: str, config: dict) -> tuple[str, dict, int | None]:
    """(algorithm, parameters, seed) for a SynthGen model type and its config."""
    kind = (model_type or "ctgan").strip().lower()
    known = [t["id"] for t in MODEL_TYPES]
    if kind not in known:
        raise InferloopError("INVALID_REQUEST", f"model_type '{model_type}' is not supported. "
                             f"Valid options are: {', '.join(known)}", "model_type")
    config = dict(config or {})
    seed = config.pop("seed", None)
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32):
        raise InferloopError("INVALID_REQUEST", "config.seed must be an integer between 0 and 2^32-1",
                             "config.seed")
    if kind == "tabular_argn":
        return "tabular_argn", config, seed
    allowed = CONFIG_OPTIONS[kind]
    for key in config:
        if key not in allowed:
            raise InferloopError("INVALID_REQUEST", f"config option '{key}' is not supported by {kind}. "
                                 f"Valid options are: {', '.join(allowed)}", f"config.{key}")
    return "sdv", {"sdv_model": kind, **config}, seed


def dataset_row(v: db.DatasetVersion) -> dict:
    return {"id": v.id, "dataset_id": v.dataset_id, "name": v.name, "version": v.version,
            "project_id": v.project_id, "project_name": v.project_name, "rows": v.rows, "columns": v.columns,
            "format": v.format, "created_at": _iso(v.created_at)}


def _dataset(version_id: str | None, owner: str) -> db.DatasetVersion | None:
    if not version_id:
        return None
    with db.session_scope() as s:
        v = s.get(db.DatasetVersion, version_id)
    return v if v is not None and v.owner == owner else None


# --- dataset versions (our design: the document names dataset_version_id but not how one is made) -------

@router.post("/dataset-versions", status_code=201, summary="Register a dataset version (upload or storage URL)",
             openapi_extra={"requestBody": {"content": {
                 "application/json": {"schema": body_schema(DatasetVersionBody)},
                 "multipart/form-data": {"schema": {"type": "object", "properties": {
                     "file": {"type": "string", "format": "binary"}, "name": {"type": "string"},
                     "project_id": {"type": "string"}, "project_name": {"type": "string"},
                     "id": {"type": "string"}, "dataset_id": {"type": "string"},
                     "version": {"type": "integer"}}, "required": ["file", "name"]}}}}})
async def register_dataset_version(request: Request, owner: CurrentOwner, settings: SettingsDep):
    stored_dir = None
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        fields = {k: form.get(k) for k in ("name", "project_id", "project_name", "id", "dataset_id", "version")}
        body = _dataset_body({**{k: v for k, v in fields.items() if isinstance(v, str) and v != ""},
                              "data_url": "upload"})
        version_id = _version_id(body.id)
        stored_dir = storage.join("datasets", version_id)
        uri, fmt = await store_upload(form.get("file"), stored_dir, "data", settings.max_upload_mb)
    else:
        try:
            body = _dataset_body(await request.json())
        except ValueError as exc:
            if isinstance(exc, InferloopError):
                raise
            raise InferloopError("INVALID_REQUEST", f"the body is not valid JSON: {exc}")
        version_id = _version_id(body.id)
        uri, fmt, _ = await run_in_threadpool(resolve_data_url, body.data_url, owner, settings, "data_url")
    try:
        info = await run_in_threadpool(validate_upload, uri, fmt) if not uri.startswith(("http://", "https://")) \
            else {"rows": None, "columns": None}
        version = await run_in_threadpool(_add_version, owner, version_id, body, uri, fmt, info)
    except Exception:
        if stored_dir:
            await run_in_threadpool(storage.remove, stored_dir)
        raise
    return dataset_row(version)


def _dataset_body(raw: Any) -> DatasetVersionBody:
    try:
        return DatasetVersionBody.model_validate(raw)
    except ValueError as exc:
        errors = getattr(exc, "errors", lambda: [])()
        first = errors[0] if errors else {}
        field = ".".join(str(p) for p in first.get("loc", ())) or None
        raise InferloopError("INVALID_REQUEST", f"{field}: {first.get('msg', exc)}" if field else str(exc), field)


def _version_id(given: str | None) -> str:
    if not given:
        return new_uuid()
    try:
        return str(uuid.UUID(given))
    except ValueError:
        raise InferloopError("INVALID_REQUEST", f"id must be a UUID, got '{given}'", "id")


def _add_version(owner: str, version_id: str, body: DatasetVersionBody, uri: str, fmt: str | None,
                 info: dict) -> db.DatasetVersion:
    with db.session_scope() as s:
        if s.get(db.DatasetVersion, version_id) is not None:
            raise InferloopError("CONFLICT", f"dataset version '{version_id}' already exists", "id", status=409)
        dataset_id = body.dataset_id or new_uuid()
        version = body.version
        if version is None:
            latest = s.scalars(select(db.DatasetVersion.version).where(
                db.DatasetVersion.owner == owner, db.DatasetVersion.dataset_id == dataset_id)
                .order_by(db.DatasetVersion.version.desc()).limit(1)).first()
            version = 0 if latest is None else latest + 1
        row = db.DatasetVersion(id=version_id, owner=owner, project_id=body.project_id,
                                project_name=body.project_name, dataset_id=dataset_id, name=body.name,
                                version=version, uri=uri, format=fmt, rows=info.get("rows"),
                                columns=info.get("columns"))
        s.add(row)
    return row


@router.get("/dataset-versions", summary="List dataset versions")
async def list_dataset_versions(owner: CurrentOwner, project_id: str | None = None,
                                limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)):
    def load():
        query = select(db.DatasetVersion).where(db.DatasetVersion.owner == owner)
        if project_id:
            query = query.where(db.DatasetVersion.project_id == project_id)
        with db.session_scope() as s:
            rows = list(s.scalars(query.order_by(db.DatasetVersion.created_at.desc())))
        return rows
    rows = await run_in_threadpool(load)
    return {"items": [dataset_row(v) for v in rows[offset:offset + limit]], "total": len(rows),
            "limit": limit, "offset": offset}


@router.get("/dataset-versions/{version_id}", summary="A dataset version")
async def get_dataset_version(version_id: str, owner: CurrentOwner):
    version = await run_in_threadpool(_dataset, version_id, owner)
    if version is None:
        raise not_found("dataset version", version_id)
    return dataset_row(version)


# --- models --------------------------------------------------------------------------------------------

def _model_item(m: db.Model, dataset: db.DatasetVersion | None) -> dict:
    return {"id": m.id, "name": m.name, "model_type": m.model_type, "status": m.status,
            "project_id": m.project_id, "dataset_version_id": m.dataset_version_id,
            "dataset_name": dataset.name if dataset else None,
            "dataset_version": dataset.version if dataset else None,
            "quality_score": m.quality_score, "created_at": _iso(m.created_at)}


@router.get("/model-types", summary="Available model architectures")
async def model_types(owner: CurrentOwner):
    return {"model_types": MODEL_TYPES}


@router.post("/models", status_code=201, summary="Create a model and enqueue its training job")
async def create_model(body: CreateModel, principal: CurrentPrincipal, settings: SettingsDep):
    algorithm, params, seed = to_registry(body.model_type, body.config)
    dataset = await run_in_threadpool(_dataset, body.dataset_version_id, principal.owner)
    if dataset is None:
        raise InferloopError("NOT_FOUND", f"dataset version '{body.dataset_version_id}' was not found; register "
                             "it with POST /api/synthgen/dataset-versions", "dataset_version_id", status=404)
    model, job_id = await start_training(principal, settings, TrainingRequest(
        name=body.name, algorithm=algorithm, parameters=params, data_uri=dataset.uri, data_format=dataset.format,
        seed=seed, project_id=body.project_id, dataset_version_id=dataset.id, model_id=new_uuid(),
        job_id=new_uuid()))
    return {"id": model.id, "model_id": model.id, "job_id": job_id, "status": "pending"}


@router.get("/models", summary="List models")
async def list_models(owner: CurrentOwner, project_id: str | None = None, limit: int = Query(50, ge=1, le=500),
                      offset: int = Query(0, ge=0)):
    def load():
        query = select(db.Model).where(db.Model.owner == owner)
        if project_id:
            query = query.where(db.Model.project_id == project_id)
        with db.session_scope() as s:
            return list(s.scalars(query.order_by(db.Model.created_at.desc(), db.Model.id)))
    rows = await run_in_threadpool(load)
    page = [await current_model(m.id, owner) if m.status == "training" else m for m in rows[offset:offset + limit]]
    items = [_model_item(m, await run_in_threadpool(_dataset, m.dataset_version_id, owner)) for m in page]
    return {"items": items, "total": len(rows), "limit": limit, "offset": offset}


@router.get("/models/{model_id}", summary="Model metadata and its training / generation jobs")
async def get_model(model_id: str, owner: CurrentOwner):
    m = await current_model(model_id, owner)
    dataset = await run_in_threadpool(_dataset, m.dataset_version_id, owner)
    jobs = await run_in_threadpool(model_jobs, m.id)
    statuses = await job_statuses(jobs)
    config = {k: v for k, v in (m.parameters or {}).items() if k != "sdv_model"}
    return {"model": {**_model_item(m, dataset), "config": config,
                      "dataset_id": dataset.dataset_id if dataset else None,
                      "metadata": m.model_metadata, "error": m.error},
            "jobs": [{"id": j.id, "job_type": JOB_TYPES.get(j.kind, j.kind), "status": statuses[j.id],
                      "created_at": _iso(j.created_at)} for j in jobs]}


@router.delete("/models/{model_id}", summary="Delete a model, its jobs and stored artifacts")
async def remove_model(model_id: str, owner: CurrentOwner):
    await delete_model(await current_model(model_id, owner))
    return {"ok": True, "model_id": model_id}


@router.post("/models/{model_id}/generate", summary="Enqueue a generation job of a ready model")
async def generate(model_id: str, body: GenerateBody, principal: CurrentPrincipal, settings: SettingsDep):
    model = await current_model(model_id, principal.owner)
    job_id, fr = await start_sampling(principal, settings, model, body.num_rows, body.seed, body.conditions,
                                      job_id=new_uuid())
    return {"job_id": str(fr.id), "synthgen_job_id": job_id, "status": "pending"}


# --- jobs ------------------------------------------------------------------------------------------------

def _owner_jobs(owner: str, model_id: str | None, project_id: str | None) -> list[tuple[db.Job, db.Model]]:
    query = (select(db.Job, db.Model).join(db.Model, db.Model.id == db.Job.model_id)
             .where(db.Job.owner == owner))
    if model_id:
        query = query.where(db.Job.model_id == model_id)
    if project_id:
        query = query.where(db.Model.project_id == project_id)
    with db.session_scope() as s:
        return [(j, m) for j, m in s.execute(query.order_by(db.Job.created_at.desc(), db.Job.id))]


def _job_item(job: db.Job, model: db.Model, status: str) -> dict:
    config = ({k: v for k, v in (job.options or {}).items() if k in ("num_rows", "seed", "conditions") and v}
              if job.kind == "sample" else {k: v for k, v in (model.parameters or {}).items() if k != "sdv_model"})
    return {"id": job.id, "model_id": model.id, "model_name": model.name, "model_type": model.model_type,
            "project_id": model.project_id, "job_type": JOB_TYPES.get(job.kind, job.kind), "status": status,
            "config": config, "created_at": _iso(job.created_at)}


@router.get("/jobs", summary="Training and generation jobs, with filters")
async def list_jobs(owner: CurrentOwner, project_id: str | None = None, model_id: str | None = None,
                    status: str | None = None, limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)):
    if status is not None and status not in STATUSES:
        raise InferloopError("INVALID_REQUEST", f"status must be one of {', '.join(STATUSES)}", "status")
    pairs = await run_in_threadpool(_owner_jobs, owner, model_id, project_id)
    statuses = await job_statuses([j for j, _ in pairs])
    items = [_job_item(j, m, statuses[j.id]) for j, m in pairs if status is None or statuses[j.id] == status]
    return {"items": items[offset:offset + limit], "total": len(items), "limit": limit, "offset": offset}


async def _owned_job(job_id: str, owner: str) -> tuple[db.Job, db.Model]:
    def load():
        with db.session_scope() as s:
            job = s.get(db.Job, job_id) or s.scalars(  # a generate response's job_id is the flow run's id
                select(db.Job).where(db.Job.flow_run_id == job_id, db.Job.owner == owner)).first()
            model = s.get(db.Model, job.model_id) if job is not None and job.model_id else None
        return job, model
    job, model = await run_in_threadpool(load)
    if job is None or model is None or job.owner != owner:
        raise not_found("job", job_id)
    return job, model


@router.get("/jobs/{job_id}", summary="A training or generation job")
async def get_job(job_id: str, owner: CurrentOwner):
    job, model = await _owned_job(job_id, owner)
    status = (await job_statuses([job]))[job.id]
    dataset = await run_in_threadpool(_dataset, model.dataset_version_id, owner)
    body = {**_job_item(job, model, status), "project_name": dataset.project_name if dataset else None,
            "output_artifact_id": None, "prefect_flow_run_id": job.flow_run_id}
    if status == "completed" and job.kind == "sample":
        manifest = await run_in_threadpool(read_manifest, job.flow_run_id)
        if manifest:
            body.update(output_artifact_id=job.flow_run_id, rows_generated=manifest["generated_rows"],
                        download_url=f"/api/synthgen/jobs/{job.id}/download")
    return body


@router.get("/jobs/{job_id}/download", summary="Download a generation job's output (409 until ready)",
            response_class=StreamingResponse)
async def download(job_id: str, owner: CurrentOwner, format: str = Query("csv", description="csv, parquet or json"),
                   compression: str = Query("none", description="gzip, snappy or none")):
    export_stream.check_options(format, compression)
    job, _ = await _owned_job(job_id, owner)
    manifest = await run_in_threadpool(read_manifest, job.flow_run_id) if (
        job.kind == "sample" and job.flow_run_id) else None
    if manifest is None:
        raise InferloopError("CONFLICT", f"job '{job_id}' has no output (yet)", status=409)
    name = export_stream.filename("synthetic_data", format, compression)
    return StreamingResponse(export_stream.stream(manifest["output_uri"], format, compression),
                             media_type=export_stream.media_type(format, compression),
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})
