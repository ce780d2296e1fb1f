"""POST /batch: one flow run of `batch` that runs a `generate` child run per file; GET /batch/{id}: its files.

Every file URL is checked before anything starts; a file that exists but cannot be read fails alone, in
its own child run, and the batch reports it with its documented error.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from prefect.client.schemas.objects import FlowRun
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api import dispatch
from api.tabular import ydata
from api.tabular.batches import child_runs, get_batch, link_children
from api.tabular.data_urls import resolve_data_url
from api.deps import CurrentOwner, CurrentPrincipal, SettingsDep
from api.jobs import failure_error, get_job, read_manifest, start_job
from inferloop.core import db
from tasks.tabular.batch_spec import batch_status, check_files, check_output_format, run_options
from inferloop.core.errors import InferloopError
from inferloop.core.ratelimit import check_generation
from tasks.tabular.synthesizers import resolve

router = APIRouter(tags=["batch"])


class BatchFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="s3://bucket/key, upload://<upload_id>, a path under an allowed root, "
                                 "or a public https:// URL")
    name: str | None = Field(None, description="unique in the batch; default: the file's stem")


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    files: list[BatchFile]
    algorithm: str = "sdv"
    common_parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="num_rows, seed and the algorithm's parameters (sdv_model, epochs, ...)")
    output_format: str = Field("csv",
                               description="csv, parquet or json: the format of each file's download_url")


@router.post("/batch", status_code=202, summary="Generate synthetic data for several files in one batch")
async def start_batch(body: BatchRequest, principal: CurrentPrincipal, settings: SettingsDep):
    files = check_files([f.model_dump() for f in body.files])
    output_format = check_output_format(body.output_format)
    num_rows, seed, algorithm_params = run_options(body.common_parameters, settings.max_rows)
    _, params = resolve(body.algorithm, algorithm_params)
    await ydata.require(body.algorithm, settings, "batch")
    for i, f in enumerate(files):
        uri, fmt, known = await run_in_threadpool(resolve_data_url, f["url"], principal.owner, settings,
                                                  f"files[{i}].url")
        f.update(uri=uri, format=fmt, job_id=db.new_id("gen"), rows=known.get("rows"))
    rows = num_rows * len(files) if num_rows else sum(f["rows"] or 0 for f in files)
    await run_in_threadpool(check_generation, principal, settings, rows)

    batch_id = db.new_id("batch")
    options = {"algorithm": body.algorithm, "output_format": output_format, "num_rows": num_rows,
               "seed": seed, "parameters": params}
    stored = [{k: f[k] for k in ("url", "name", "uri", "format", "job_id")} for f in files]
    # the batch and its parent Job (same id, kind "batch": the watcher sees its final state)
    await start_job("batch", "batch", {
        "files": [{"url": f["uri"], "name": f["name"], "data_format": f["format"], "job_id": f["job_id"]}
                  for f in files],
        "algorithm": body.algorithm, "common_parameters": {"num_rows": num_rows, "seed": seed, **params},
        "output_format": output_format}, principal.owner, job_id=batch_id, tags=["async", "batch"],
        options={"format": output_format, "batch_id": batch_id}, variant=ydata.variant(body.algorithm),
        records=[db.Batch(id=batch_id, owner=principal.owner, job_id=batch_id, files=stored, options=options)],
        algorithm=body.algorithm)
    return {"batch_id": batch_id, "status": "processing", "total_files": len(files), "completed": 0,
            "failed": 0, "status_url": f"/api/tabular/batch/{batch_id}"}


@router.get("/batch/{batch_id}", summary="A batch's status and the result of each of its files")
async def batch_result(batch_id: str, request: Request, owner: CurrentOwner):
    batch = await run_in_threadpool(get_batch, batch_id, owner)
    job = await run_in_threadpool(get_job, batch.job_id, owner)
    if not job.flow_run_id:  # the moment between recording the batch and creating its run
        raise InferloopError("NOT_FOUND", f"batch '{batch_id}' was not found", status=404)
    parent = await dispatch.read(job.flow_run_id)
    runs = await child_runs(job.flow_run_id)
    await run_in_threadpool(link_children, batch, runs)
    base = str(request.base_url).rstrip("/")
    parent_status = dispatch.public_status(parent)
    files = [await run_in_threadpool(_file_result, f, runs.get(f["job_id"]), parent, batch.options, base)
             for f in batch.files]
    counts = {s: sum(f["status"] == s for f in files) for s in ("completed", "failed", "running", "pending")}
    counts["failed"] += sum(f["status"] == "cancelled" for f in files)
    body: dict[str, Any] = {
        "batch_id": batch.id, "status": _overall(parent_status, counts["completed"], len(files)),
        "total_files": len(files), **counts,
        "progress": int(100 * (counts["completed"] + counts["failed"]) / len(files)),
        "algorithm": batch.options["algorithm"], "output_format": batch.options["output_format"],
        "created_at": _iso(batch.created_at),
        "completed_at": _iso(parent.end_time) if parent.state and parent.state.is_final() else None,
        "prefect_flow_run_id": str(parent.id), "status_url": f"/api/tabular/batch/{batch.id}",
        "files": files,
    }
    if parent_status in ("failed", "cancelled"):
        err = await run_in_threadpool(failure_error, str(parent.id), parent)
        body["error"] = {"code": "CANCELLED" if parent_status == "cancelled" else err.code,
                         "message": err.message}
    return body


def _overall(parent_status: str, completed: int, total: int) -> str:
    """processing while the batch run is pending or running; then completed / partially_failed / failed."""
    if parent_status in ("pending", "running"):
        return "processing"
    if parent_status == "completed":
        return batch_status(completed, total)
    return parent_status


def _file_result(f: dict, run: FlowRun | None, parent: FlowRun, options: dict, base: str) -> dict:
    """One file's status from its child run; rows, quality and download_url once done, error if it failed."""
    out: dict[str, Any] = {"name": f["name"], "url": f["url"], "job_id": f["job_id"], "status": "pending",
                           "rows": None, "quality_score": None, "download_url": None, "error": None,
                           "prefect_flow_run_id": str(run.id) if run else None}
    parent_final = bool(parent.state and parent.state.is_final())
    status = dispatch.public_status(run) if run else "pending"
    if status == "completed":
        m = read_manifest(str(run.id)) or {}
        out.update(status="completed", rows=m.get("generated_rows"), quality_score=m.get("quality_score"),
                   download_url=f"{base}/api/tabular/download/{f['job_id']}?format={options['output_format']}")
    elif status in ("failed", "cancelled"):
        err = failure_error(str(run.id), run)
        out.update(status=status, error={"code": "CANCELLED" if status == "cancelled" else err.code,
                                         "message": err.message})
    elif parent_final:  # the batch run ended before this file started or finished
        out.update(status="cancelled" if dispatch.public_status(parent) == "cancelled" else "failed",
                   error={"code": "GENERATION_FAILED",
                          "message": f"the batch run ended before this file finished ({parent.state.name})"})
    else:
        out["status"] = status
    return out


def _iso(dt) -> str | None:
    return db.as_utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


