"""Context jobs (context-api.md): the job kinds, their records, their view under /api/v1/jobs, export, download.

A context job is one public id that moves through stages, each a flow run: a sample (`context_sample`,
waited for), maybe feedback and another sample, then a corpus (`context_corpus`). The job row always
points at the current run (its state is that run's state); `options` keeps what Prefect does not know:
the spec, the seed, the runs so far, feedback changes and exports. Exports are flow runs of
`context_export` recorded on the job; download streams their files.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from prefect.client.schemas.objects import FlowRun
from pydantic import BaseModel, Field
from sqlalchemy import update
from starlette.concurrency import run_in_threadpool

from api import dispatch, job_kinds
from api.deps import SettingsDep
from api.errors import context_code
from api.jobs import failure_error, get_job, start_job, with_run
from api.context.limits import ContextPrincipal
from inferloop.core import db, storage, webhooks
from inferloop.core.errors import InferloopError
from inferloop.core.settings import Settings
from tasks.context.export import ALL, EXTENSIONS, MEDIA_TYPES, check_export, export_key
from tasks.context.spec import public_schemas

router = APIRouter(tags=["context"])

SAMPLE, CORPUS = "context_sample", "context_corpus"
KINDS = (SAMPLE, CORPUS)
STAGES = {SAMPLE: {"pending": "sample_queued", "running": "sample_generating", "completed": "sample_generated"},
          CORPUS: {"pending": "corpus_queued", "running": "corpus_generating", "completed": "corpus_generated"}}


# --- records ---------------------------------------------------------------------------------------------

def add_run(job_id: str, kind: str, flow_run_id: str) -> None:
    """Point the job at its new run; it is unfinished again (the watcher reports the new run's end)."""
    with db.session_scope() as s:
        job = s.get(db.Job, job_id)
        s.execute(update(db.Job).where(db.Job.id == job_id).values(
            kind=kind, flow_run_id=flow_run_id, options=with_run(job.options, kind, flow_run_id), final_status=None, notified_at=None, finished_at=None,
            cancel_requested_at=None, rows_generated=None, compute_seconds=None))


def update_options(job_id: str, **values: Any) -> dict[str, Any]:
    with db.session_scope() as s:
        job = s.get(db.Job, job_id)
        opts = {**(job.options or {}), **values}
        job.options = opts
    return opts


def context_job(job_id: str, owner: str) -> db.Job:
    """The owner's context job (404 for any other id, owner or system)."""
    job = get_job(job_id, owner)
    if job.kind not in KINDS:
        raise InferloopError("NOT_FOUND", f"job '{job_id}' was not found", status=404)
    return job


def result_of(flow_run_id: str) -> dict[str, Any] | None:
    uri = f"{storage.run_dir(flow_run_id)}/result.json"
    return storage.read_json(uri) if storage.exists(uri) else None


async def start(job_id: str, kind: str, owner: str, parameters: dict[str, Any], options: dict[str, Any]) -> FlowRun:
    """Start a context job with its first stage's run (api.jobs.start_job; options["runs"] keeps its runs)."""
    return await start_job(kind, kind, parameters, owner, job_id=job_id, options={**options, "runs": []},
                           tags=["context"])


async def next_run(job_id: str, kind: str, parameters: dict[str, Any]) -> FlowRun:
    """Create the run of an existing job's next stage (e.g. its corpus after its sample) and point the job at it."""
    fr = await dispatch.submit(kind, parameters, tags=["api", "context", f"job:{job_id}"])
    await run_in_threadpool(add_run, job_id, kind, str(fr.id))
    return fr


async def wait_result(job_id: str, fr: FlowRun, settings: Settings, what: str) -> dict[str, Any]:
    """Wait for a run the request answers with; its result.json, its error, or 504 TIMEOUT with the job id."""
    fr = await dispatch.wait(fr.id, settings.sync_timeout_seconds)
    status = dispatch.public_status(fr)
    if status == "completed":
        result = await run_in_threadpool(result_of, str(fr.id))
        if result is None:
            raise InferloopError("GENERATION_FAILED", f"the {what} run completed without a result", status=500)
        return result
    if status in ("failed", "cancelled"):
        raise await run_in_threadpool(failure_error, str(fr.id), fr)
    raise InferloopError("TIMEOUT", f"the {what} did not finish within {settings.sync_timeout_seconds:g} s; poll "
                         f"/api/v1/jobs/{job_id}", status=504, extra={"job_id": job_id,
                                                                     "status_url": f"/api/v1/jobs/{job_id}/status"})


# --- the job kinds: stage, view, webhooks, delete ---------------------------------------------------------

def stage(job: db.Job, status: str) -> str:
    if status in ("failed", "cancelled"):
        return status
    return STAGES.get(job.kind, {}).get(status, status)


def _progress(job: db.Job, status: str, result: dict | None) -> dict[str, Any]:
    spec = (job.options or {}).get("spec") or {"schemas": []}
    names = [s["name"] for s in spec["schemas"]]
    if job.kind == CORPUS and job.flow_run_id:
        uri = f"{storage.run_dir(job.flow_run_id)}/progress.json"
        if storage.exists(uri):
            p = storage.read_json(uri)
            if status == "completed":
                p.update(completed_schemas=p["total_schemas"], current_schema=None, percent_complete=100.0)
            return p
        total = (job.options or {}).get("request", {}).get("corpus_size", 0)
        return {"total_schemas": len(names), "completed_schemas": 0, "current_schema": None,
                "total_records": total, "generated_records": 0, "percent_complete": 0.0}
    records = (result or {}).get("records", 0) if status == "completed" else 0
    return {"total_schemas": len(names), "completed_schemas": len(names) if status == "completed" else 0,
            "current_schema": None, "total_records": records, "generated_records": records,
            "percent_complete": 100.0 if status == "completed" else 0.0}


def exports_of(job: db.Job, result: dict | None) -> dict[str, Any]:
    """The job's exports of its current data (recorded export runs, plus one the corpus run made)."""
    found = dict((result or {}).get("exports") or {})
    for key, e in ((job.options or {}).get("exports") or {}).items():
        if e.get("source_run") == job.flow_run_id:
            found[key] = e
    return found


def download_paths(job_id: str, export: dict[str, Any]) -> dict[str, str]:
    fmt, opts = export["format"], export.get("options") or {}
    q = f"?format={fmt}" + (f"&sql_dialect={opts['sql_dialect']}" if fmt == "sql" else "")
    return {name: f"/api/v1/jobs/{job_id}/download/{name}{q}" for name in export["files"]}


def _view_sync(job: db.Job, status: str) -> dict[str, Any]:
    opts = job.options or {}
    result = result_of(job.flow_run_id) if status == "completed" and job.flow_run_id else None
    body: dict[str, Any] = {"stage": stage(job, status), "progress": _progress(job, status, result),
                            "schemas": public_schemas(opts["spec"]) if opts.get("spec") else [],
                            "domain": (opts.get("spec") or {}).get("domain"), "seed": opts.get("seed"),
                            "warnings": list(opts.get("warnings") or []) + list((result or {}).get("warnings") or []),
                            "runs": opts.get("runs", [])}
    if opts.get("feedback"):
        body["feedback"] = opts["feedback"]
    if result is not None:
        exports = exports_of(job, result)
        body["result"] = {
            "records": result.get("records"),
            "generated_records": result.get("generated_records", result.get("records")),
            "validation": {k: v for k, v in (result.get("validation") or {}).items() if k != "checks"},
            "generation_time_ms": result.get("generation_time_ms") or int(1000 * result.get("generation_seconds", 0)),
            "rows_per_second": result.get("rows_per_second"),
            "peak_rss_mb": result.get("peak_rss_mb"),
            "cpu_seconds": result.get("cpu_seconds"),
            "batches": len(result.get("batches", [])) or None,
            "exports": {k: {"format": e["format"], "files": {n: {"rows": f["rows"], "bytes": f["bytes"]}
                                                             for n, f in e["files"].items()},
                            "download": download_paths(job.id, e)} for k, e in exports.items()},
        }
    return body


async def view(job: db.Job, fr: FlowRun | None, status: str) -> dict[str, Any]:
    return await run_in_threadpool(_view_sync, job, status)


def event_data(job: db.Job, fr: FlowRun, status: str, base_url: str) -> dict[str, Any]:
    data: dict[str, Any] = {"job_id": job.id, "kind": job.kind, "stage": stage(job, status), "status": status,
                            "status_url": f"{base_url}/api/v1/jobs/{job.id}"}
    if status == "completed":
        result = result_of(job.flow_run_id) or {}
        records = result.get("records")
        data["records"] = records
        data["rows_generated"] = sum(records.values()) if isinstance(records, dict) else records
        data["export_url"] = f"{base_url}/api/v1/jobs/{job.id}/export"
    else:
        err = failure_error(job.flow_run_id, fr)
        data["error"] = {"code": "CANCELLED" if status == "cancelled" else context_code(err),
                         "message": (fr.state.message or "cancelled") if status == "cancelled" else err.message}
    return data


async def on_delete(job: db.Job) -> None:
    """Remove the folders of the job's earlier runs and of its exports (the current run's goes too)."""
    opts = job.options or {}
    runs = {r["flow_run_id"] for r in opts.get("runs", [])}
    runs |= {e["flow_run_id"] for e in (opts.get("exports") or {}).values() if e.get("flow_run_id")}
    runs.discard(job.flow_run_id)
    for run_id in runs:
        await run_in_threadpool(storage.remove, storage.run_dir(run_id))


EVENTS = {SAMPLE: "sample.completed", CORPUS: "corpus.completed"}
webhooks.register_events(*EVENTS.values())
for _kind in KINDS:
    job_kinds.register(job_kinds.JobKind(
        _kind, api="v1", events={"completed": EVENTS[_kind], "failed": "job.failed", "cancelled": "job.cancelled"},
        event_data=event_data, view=view, on_delete=on_delete, stage=stage))


# --- export and download ---------------------------------------------------------------------------------

class ExportRequest(BaseModel):
    format: str = Field(default="csv", description="csv, json, xlsx or sql")
    schemas: list[str] = Field(default_factory=list, description="schemas to export (default: all)")
    options: dict[str, Any] = Field(default_factory=dict,
                                    description="sql_dialect (postgresql, mysql, sqlite), rows_per_insert, "
                                                "drop_existing; json_lines")


async def _completed_data(job: db.Job) -> dict[str, Any]:
    """The result of the job's current run, which must have completed."""
    if not job.flow_run_id:
        raise InferloopError("CONFLICT", f"job '{job.id}' has no data yet", status=409)
    fr = await dispatch.read(job.flow_run_id)
    status = dispatch.public_status(fr)
    if status != "completed":
        raise InferloopError("CONFLICT", f"job '{job.id}' is {status}; its data can be exported once it has "
                             "completed", status=409, extra={"job_status": status})
    result = await run_in_threadpool(result_of, job.flow_run_id)
    if result is None:
        raise InferloopError("GENERATION_FAILED", "the job's run completed without a result", status=500)
    return result


def _schemas(result: dict, wanted: list[str]) -> list[str] | None:
    known = list(result["data"])
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise InferloopError("INVALID_REQUEST", f"unknown schema(s) {', '.join(map(repr, unknown))}; this job has: "
                             f"{', '.join(known)}", "schemas")
    return wanted or None


async def ensure_export(job: db.Job, fmt: str, options: dict, wanted: list[str], settings: Settings
                        ) -> dict[str, Any]:
    """The job's export in this format (made now by a `context_export` run unless it exists)."""
    fmt, opts = check_export(fmt, options)
    result = await _completed_data(job)
    schemas = _schemas(result, wanted)
    key = export_key(fmt, opts)
    have = exports_of(job, result).get(key)
    if have and have.get("options", {}) == opts and set(schemas or result["data"]) <= set(have["files"]):
        return have  # an earlier export holds every schema asked for (a partial one never stands in for all)
    fr = await dispatch.submit("context_export", {"spec": result["spec"], "data": result["data"], "export_format": fmt,
                                                  "options": opts, "schemas": schemas},
                               tags=["api", "context", f"job:{job.id}", "export"])
    done = await wait_result(job.id, fr, settings, "export")
    export = {**done, "flow_run_id": str(fr.id), "source_run": job.flow_run_id}
    exports = {**((job.options or {}).get("exports") or {}), key: export}
    await run_in_threadpool(update_options, job.id, exports=exports)
    return export


@router.post("/jobs/{job_id}/export", summary="Export completed job results to a format")
async def export_job(job_id: str, body: ExportRequest, principal: ContextPrincipal, settings: SettingsDep):
    job = await run_in_threadpool(context_job, job_id, principal.owner)
    check_export(body.format, body.options)
    export = await ensure_export(job, body.format, body.options, body.schemas, settings)
    files = {n: {"rows": f["rows"], "bytes": f["bytes"], **({"sheets": f["sheets"]} if "sheets" in f else {})}
             for n, f in export["files"].items()}
    out = {"job_id": job.id, "export_paths": download_paths(job.id, export), "format": export["format"],
           "files": files, "load_order": export.get("load_order", [])}
    if export["format"] == "sql":
        out["sql_dialect"] = export["options"]["sql_dialect"]
    return out


@router.get("/jobs/{job_id}/download/{schema_name}", summary="Download an exported file for a schema")
async def download(job_id: str, schema_name: str, principal: ContextPrincipal, settings: SettingsDep,
                   format: str = Query("csv", description="csv, json, xlsx or sql"),
                   sql_dialect: str = Query("postgresql", description="for sql: postgresql, mysql or sqlite")):
    job = await run_in_threadpool(context_job, job_id, principal.owner)
    options = {"sql_dialect": sql_dialect} if format == "sql" else {}
    check_export(format, options)
    result = await _completed_data(job)
    if schema_name not in result["data"] and not (format == "sql" and schema_name == ALL):
        raise InferloopError("NOT_FOUND", f"job '{job_id}' has no schema '{schema_name}' (it has "
                             f"{', '.join(result['data'])}{', and _all for sql' if format == 'sql' else ''})",
                             status=404)
    export = await ensure_export(job, format, options, [], settings)
    entry = export["files"].get(schema_name)
    if entry is None:
        raise InferloopError("NOT_FOUND", f"the {format} export of '{job_id}' has no '{schema_name}'", status=404)
    uri = entry["uri"]

    def chunks():
        with storage.open_uri(uri, "rb") as f:
            while block := f.read(1 << 16):
                yield block

    name = f"{schema_name}.{EXTENSIONS[format]}"
    return StreamingResponse(chunks(), media_type=MEDIA_TYPES[format],
                             headers={"Content-Disposition": f'attachment; filename="{name}"',
                                      "Content-Length": str(entry["bytes"])})


__all__ = ["CORPUS", "KINDS", "SAMPLE", "add_run", "context_job", "next_run", "router", "start", "update_options",
           "wait_result"]
