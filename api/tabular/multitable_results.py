"""A multi-table job's results: the documented response of a completed job and the registry record of the
model it saved. Used by the multi-table router, the job status router and the model registry's service."""

from __future__ import annotations

from prefect.client.schemas.objects import FlowRun
from sqlalchemy import update

from api.jobs import failure_error, read_manifest
from inferloop.core import db
from inferloop.core.errors import InferloopError
from tasks.tabular.export_stream import FORMATS


def job_result(job: db.Job) -> dict:
    """The documented response of a completed multi-table job (also GET /jobs/{id}'s `result`)."""
    m = read_manifest(job.flow_run_id)
    if m is None:
        raise InferloopError("GENERATION_FAILED", "the run completed but wrote no manifest", status=500)
    tables = {}
    for name, t in m["tables"].items():
        url = f"/api/tabular/download/{job.id}/{name}"
        tables[name] = {"rows": t["rows"], "columns": t["columns"], "original_rows": t.get("original_rows"),
                        "download_url": url, "download_formats": {f: f"{url}?format={f}" for f in FORMATS}}
    integrity = m["relationship_integrity"]
    out = {"generation_id": job.id, "status": "completed", "method": m["method"], "algorithm": job.algorithm,
           "scale_factor": m["scale_factor"], "seed": m.get("seed"), "tables_generated": tables,
           "relationship_integrity": {"score": integrity["score"], "valid": integrity["valid"],
                                      "checks": integrity["checks"]},
           "quality_score": m.get("quality_score"), "quality": m.get("quality"),
           "orphans": m.get("orphans"), "orphans_dropped": m.get("orphans_dropped") or {},
           "orphans_nulled": m.get("orphans_nulled") or {}, "generated_rows": m["generated_rows"],
           "generation_time": m["generation_time"]}
    if m.get("method_choice"):
        out["method_choice"] = m["method_choice"]
    if m.get("notes"):
        out["notes"] = m["notes"]
    if job.model_id:
        out["model_id"] = job.model_id
        out["model_url"] = f"/api/tabular/models/{job.model_id}"
    return out


def finalize_multitable_model(job: db.Job, fr: FlowRun, status: str) -> None:
    """Copy a finished `multitable` run's saved model (or its error) into the registry record, once."""
    if job is None or job.kind != "multitable" or not job.model_id:
        return
    manifest = read_manifest(job.flow_run_id) if status == "completed" else None
    if manifest is not None and manifest.get("size_bytes") is not None:  # this run saved a model
        meta = manifest.get("model_metadata") or {}
        values: dict = {"status": "ready", "artifact_uri": manifest["model_uri"],
                        "size_mb": round(manifest["size_bytes"] / 1e6, 3),
                        "quality_score": manifest.get("quality_score"),
                        "model_key": f"multitable:{manifest['method']}",
                        "model_metadata": {**meta, "seed": manifest.get("seed"),
                                           "scale_factor": manifest.get("scale_factor"),
                                           "training_rows": manifest.get("training_rows"),
                                           "columns_count": manifest.get("columns"),
                                           "training_time": manifest.get("training_time"),
                                           "orphans_dropped": manifest.get("orphans_dropped") or {},
                                           "orphans_nulled": manifest.get("orphans_nulled") or {},
                                           "quality": manifest.get("quality"),
                                           "relationship_integrity": manifest["relationship_integrity"]["score"]}}
    elif status == "completed":
        return  # a run sampling a saved model: its model is already ready
    else:
        err = failure_error(job.flow_run_id, fr)
        values = {"status": "failed", "error": {"code": "CANCELLED" if status == "cancelled" else err.code,
                                                "message": err.message}}
    with db.session_scope() as s:
        s.execute(update(db.Model).where(db.Model.id == job.model_id, db.Model.status == "training",
                                         db.Model.training_job_id == job.id).values(**values))
