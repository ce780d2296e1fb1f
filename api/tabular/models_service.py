"""The model registry's operations, shared by the Tabular and SynthGen routers.

Training and sampling are flow runs (`train_model`, `sample_model`) recorded as jobs of kind "train" and
"sample" linked to the model. A model is `training` until its training run ends; then `finalize_model`
copies the run's manifest (artifact, size, quality score, metadata) into the record — called by the
watcher and by any read that sees the run ended first, whichever comes first (it is idempotent).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from prefect.client.schemas.objects import FlowRun
from sqlalchemy import select, update
from starlette.concurrency import run_in_threadpool

from api import dispatch
from api.tabular import ydata
from api.jobs import failure_error, read_manifest, start_job, stop_run
from inferloop.core import db, registry, storage
from inferloop.core.auth import Principal
from inferloop.core.errors import InferloopError
from inferloop.core.ratelimit import check_generation
from inferloop.core.settings import Settings
from tasks.tabular.request_checks import check_num_rows, check_seed
from tasks.tabular.synthesizers import resolve

JOB_TYPES = {"train": "train", "sample": "generate"}  # job kind -> the SynthGen document's job_type


def model_type_of(model_key: str) -> str:
    """The SynthGen model type of a model key: sdv:ctgan -> ctgan, ctgan (the library) -> ctgan, ..."""
    return model_key.split(":", 1)[-1]


@dataclass
class TrainingRequest:
    """What a new registry entry is trained from (already validated by the router)."""

    name: str
    algorithm: str
    parameters: dict
    data_uri: str
    data_format: str | None
    description: str = ""
    seed: int | None = None
    constraints: list[dict] | None = None
    constraint_id: str | None = None
    project_id: str | None = None
    dataset_version_id: str | None = None
    model_id: str | None = None
    job_id: str | None = None


async def start_training(principal: Principal, settings: Settings, req: TrainingRequest) -> tuple[db.Model, str]:
    """Record the model and its training job, then create the `train_model` flow run; returns (model, job_id)."""
    model_key, params = resolve(req.algorithm, req.parameters)
    await ydata.require(req.algorithm, settings, "train_model")
    if not req.name or not req.name.strip():
        raise InferloopError("INVALID_REQUEST", "name must not be empty", "name")
    if len(req.name) > 256:
        raise InferloopError("INVALID_REQUEST", "name must be at most 256 characters", "name")
    await run_in_threadpool(check_generation, principal, settings, 0)
    model_id = req.model_id or db.new_id("model")
    job_id = req.job_id or db.new_id("job")
    model = db.Model(id=model_id, owner=principal.owner, name=req.name.strip(), algorithm=req.algorithm,
                     model_key=model_key, model_type=model_type_of(model_key), parameters=params,
                     description=req.description or "", status="training", training_job_id=job_id,
                     training_data_uri=req.data_uri, constraint_id=req.constraint_id,
                     project_id=req.project_id, dataset_version_id=req.dataset_version_id,
                     model_metadata={"seed": req.seed, "constraints": req.constraints or []})
    await start_job("train", "train_model", {
        "data": req.data_uri, "algorithm": req.algorithm, "parameters": params, "seed": req.seed,
        "data_format": req.data_format, "constraints": req.constraints, "model_id": model_id},
        principal.owner, job_id=job_id, options={"parameters": params, "seed": req.seed,
                                                 "constraint_id": req.constraint_id},
        tags=["train", f"model:{model_id}"], variant=ydata.variant(req.algorithm), records=[model],
        algorithm=req.algorithm, input_uri=req.data_uri, model_id=model_id)
    return model, job_id


async def start_sampling(principal: Principal, settings: Settings, model: db.Model, num_rows: int,
                         seed: int | None, conditions: dict | None, out_format: str = "csv",
                         job_id: str | None = None) -> tuple[str, FlowRun]:
    """Record a sample job of a ready model and create its `sample_model` flow run; returns (job_id, run)."""
    registry.require_ready(model)
    if (model.model_key or "").startswith("multitable:"):
        raise InferloopError("INVALID_REQUEST", f"model '{model.id}' is a multi-table model: generate with "
                             f"POST /api/tabular/multitable/models/{model.id}/generate", "model_id")
    check_num_rows(num_rows, settings.max_rows)
    check_seed(seed)
    if seed is None:  # a model trained with a seed samples reproducibly by default
        seed = (model.model_metadata or {}).get("seed")
    if conditions:
        check_model_conditions(model, conditions)
    await ydata.require(model.algorithm, settings, "sample_model")
    await run_in_threadpool(check_generation, principal, settings, num_rows)
    job_id = job_id or db.new_id("gen")
    fr = await start_job("sample", "sample_model", {
        "model_uri": model.artifact_uri, "num_rows": num_rows, "seed": seed,
        "conditions": conditions or None, "model_id": model.id},
        principal.owner, job_id=job_id,
        options={"format": out_format, "num_rows": num_rows, "seed": seed, "conditions": conditions or {}},
        tags=["sample", f"model:{model.id}"], variant=ydata.variant(model.algorithm),
        algorithm=model.algorithm, input_uri=model.artifact_uri, model_id=model.id)
    await run_in_threadpool(registry.touch, model.id)
    return job_id, fr


def check_model_conditions(model: db.Model, conditions: dict) -> None:
    """Parse `conditions` and check them against what the model learned (400 before any run starts)."""
    from tasks.tabular.conditions import check_conditions, parse_conditions

    if not isinstance(conditions, dict):
        raise InferloopError("INVALID_REQUEST", "conditions must be an object of column: condition", "conditions")
    check_conditions(parse_conditions(conditions), (model.model_metadata or {}).get("columns", {}))


async def current_model(model_id: str, owner: str) -> db.Model:
    """The owner's model with its status brought up to date from its training run."""
    model = await run_in_threadpool(registry.get_model, model_id, owner)
    if model.status != "training":
        return model
    job = await run_in_threadpool(_job, model.training_job_id)
    if job is None or not job.flow_run_id:
        return model
    fr = await dispatch.read(job.flow_run_id)
    if fr.state is not None and fr.state.is_final():
        await run_in_threadpool(finalize_model, job, fr, dispatch.public_status(fr))
        model = await run_in_threadpool(registry.get_model, model_id, owner)
    return model


def finalize_model(job: db.Job, fr: FlowRun, status: str) -> None:
    """Copy a finished training run's manifest (or its error) into the model record, once."""
    if job.kind == "multitable":  # a multi-table model trained by POST /multitable/generate (save_model)
        from api.tabular.multitable_results import finalize_multitable_model

        return finalize_multitable_model(job, fr, status)
    if job.kind != "train" or not job.model_id:
        return
    values: dict
    manifest = read_manifest(job.flow_run_id) if status == "completed" else None
    if manifest is not None:
        values = {"status": "ready", "artifact_uri": manifest["model_uri"],
                  "size_mb": round(manifest["size_bytes"] / 1e6, 3), "quality_score": manifest["quality_score"],
                  "model_metadata": {"seed": manifest.get("seed"), "constraints": manifest.get("constraints", []),
                                     "training_rows": manifest["training_rows"], "columns_count": manifest["columns"],
                                     "training_time": manifest["training_time"], "device": manifest.get("device"),
                                     **(manifest.get("model_metadata") or {})}}
    else:
        err = failure_error(job.flow_run_id, fr)
        code = "CANCELLED" if status == "cancelled" else err.code
        values = {"status": "failed", "error": {"code": code, "message": err.message}}
    with db.session_scope() as s:
        s.execute(update(db.Model).where(db.Model.id == job.model_id, db.Model.status == "training").values(**values))


async def delete_model(model: db.Model) -> None:
    """Stop the model's unfinished jobs (a run still starting too: waited for, bounded), then remove its stored
    artifacts, jobs and record."""
    jobs = await run_in_threadpool(model_jobs, model.id)
    runs = await dispatch.read_many([j.flow_run_id for j in jobs if j.flow_run_id])
    for job in jobs:
        fr = runs.get(job.flow_run_id) if job.flow_run_id else None
        if fr is not None and fr.state is not None and not fr.state.is_final():
            try:
                await stop_run(job, fr)
            except InferloopError:
                pass  # ended meanwhile
    for job in jobs:
        if job.flow_run_id:
            await run_in_threadpool(storage.remove, storage.run_dir(job.flow_run_id))
    await run_in_threadpool(_remove_records, model.id)


def model_job_result(job: db.Job) -> dict:
    """The `result` of a finished train or sample job, from its run's manifest."""
    m = read_manifest(job.flow_run_id) or {}
    if job.kind == "train":
        meta = m.get("model_metadata") or {}
        out = {"model_id": job.model_id, "quality_score": m.get("quality_score"),
               "training_rows": m.get("training_rows"), "training_time": m.get("training_time"),
               "size_mb": round(m.get("size_bytes", 0) / 1e6, 3), "model_url": f"/api/tabular/models/{job.model_id}"}
        if meta.get("differential_privacy"):
            out["differential_privacy"] = meta["differential_privacy"]
        return out
    fmt = (job.options or {}).get("format", "csv")
    return {"model_id": job.model_id, "rows": m.get("generated_rows"), "generated_rows": m.get("generated_rows"),
            "columns": m.get("columns"), "generation_time": m.get("generation_time"),
            "download_url": f"/api/tabular/download/{job.id}?format={fmt}"}


def model_jobs(model_id: str) -> list[db.Job]:
    """The model's train and sample jobs, oldest first."""
    with db.session_scope() as s:
        return list(s.scalars(select(db.Job).where(db.Job.model_id == model_id).order_by(db.Job.created_at)))


async def job_statuses(jobs: list[db.Job]) -> dict[str, str]:
    """Public status of each job (final status when recorded, else from Prefect), by job id."""
    open_runs = [j.flow_run_id for j in jobs if j.flow_run_id and j.final_status is None]
    runs = await dispatch.read_many(open_runs)
    out = {}
    for job in jobs:
        fr = runs.get(job.flow_run_id or "")
        out[job.id] = job.final_status or (dispatch.public_status(fr) if fr else "pending")
    return out


def new_uuid() -> str:
    """A plain UUID (the SynthGen document's id style)."""
    return str(uuid.uuid4())


def _job(job_id: str | None) -> db.Job | None:
    if not job_id:
        return None
    with db.session_scope() as s:
        return s.get(db.Job, job_id)


def _remove_records(model_id: str) -> None:
    with db.session_scope() as s:
        for job in s.scalars(select(db.Job).where(db.Job.model_id == model_id)):
            s.delete(job)
        model = s.get(db.Model, model_id)
        if model is not None:
            s.delete(model)
