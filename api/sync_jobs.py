"""Operations answered in the request (profile, validate, privacy analysis): one flow run, waited for.

The router validates and stores inputs, then `run_and_wait` records the job (owner, public id), creates
the flow run of the operation's deployment, waits up to the sync time limit and returns the run's
`result.json`; failures come back as the flow's documented error, a time-out as 504 with the job id.
Reports the flow wrote (`report.html` in its run folder) are served by `report_response`.
"""

from __future__ import annotations

from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api import dispatch
from api.jobs import failure_error, get_job, link_run
from inferloop import db, storage
from inferloop.errors import InferloopError
from inferloop.settings import Settings


def _record(job_id: str, kind: str, owner: str, options: dict) -> None:
    with db.session_scope() as s:
        s.add(db.Job(id=job_id, kind=kind, owner=owner, options=options))



def result_uri(flow_run_id: str, name: str = "result.json") -> str:
    return f"{storage.run_dir(flow_run_id)}/{name}"


async def run_and_wait(job_id: str, kind: str, flow_name: str, owner: str, parameters: dict,
                       settings: Settings) -> tuple[str, dict]:
    """Run `flow_name` for this request; returns (flow_run_id, result)."""
    await run_in_threadpool(_record, job_id, kind, owner, {"parameters": parameters})
    fr = await dispatch.submit(flow_name, parameters, tags=["api", "sync", f"job:{job_id}"])
    await run_in_threadpool(link_run, job_id, str(fr.id))
    fr = await dispatch.wait(fr.id, settings.sync_timeout_seconds)
    status = dispatch.public_status(fr)
    if status == "completed":
        uri = result_uri(str(fr.id))
        if not await run_in_threadpool(storage.exists, uri):
            raise InferloopError("GENERATION_FAILED", f"the {kind} run completed without a result", status=500)
        return str(fr.id), await run_in_threadpool(storage.read_json, uri)
    if status in ("failed", "cancelled"):
        raise await run_in_threadpool(failure_error, str(fr.id), fr)
    raise InferloopError("TIMEOUT", f"{kind} did not finish within {settings.sync_timeout_seconds:g} s; "
                         f"poll /api/tabular/jobs/{job_id}", status=504,
                         extra={"job_id": job_id, "status_url": f"/api/tabular/jobs/{job_id}"})


async def report_response(job_id: str, owner: str, kind: str, name: str = "report.html") -> StreamingResponse:
    """Stream the HTML report a run wrote; 404 for other owners and unknown ids alike."""
    job = await run_in_threadpool(get_job, job_id, owner)
    if job.kind != kind or not job.flow_run_id:
        raise InferloopError("NOT_FOUND", f"{kind} '{job_id}' was not found", status=404)
    uri = result_uri(job.flow_run_id, name)
    if not await run_in_threadpool(storage.exists, uri):
        raise InferloopError("CONFLICT", f"the report of '{job_id}' is not ready", status=409)

    def chunks():
        with storage.open_uri(uri, "rb") as f:
            while block := f.read(1 << 16):
                yield block

    return StreamingResponse(chunks(), media_type="text/html; charset=utf-8")
