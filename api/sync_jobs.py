"""Operations answered in the request: one flow run, waited for, and the early answer of every sync endpoint.

Every endpoint that waits (POST /generate, /models/{id}/generate, /multitable/generate,
/multitable/models/{id}/generate, /profile, /validate, /privacy/analyze) waits through `wait_for_run`:
up to the sync time limit (INFERLOOP_SYNC_TIMEOUT_SECONDS), then 504 TIMEOUT with the job id. Before
waiting, `early_answer` answers 202 with the job (job_id, status_url, estimated_time) when the run's
estimate already exceeds that limit, instead of holding the connection open until a proxy or client gives
up. For profile, validate and privacy analysis, `run_and_wait` records the job (owner, public id), creates
the flow run of the operation's deployment, waits and returns the run's `result.json`; failures come back
as the flow's documented error. Reports the flow wrote (`report.html` in its run folder) are served by
`report_response`.
"""

from __future__ import annotations

import math

from fastapi.responses import JSONResponse, StreamingResponse
from prefect.client.schemas.objects import FlowRun
from starlette.concurrency import run_in_threadpool

from api import dispatch
from api.jobs import failure_error, get_job, start_job
from inferloop.core import storage
from inferloop.core.errors import InferloopError
from inferloop.core.settings import Settings


EARLY_ANSWER = {202: {"description": "The run is estimated to take longer than this endpoint waits "
                            "(INFERLOOP_SYNC_TIMEOUT_SECONDS): it goes on as a job; poll status_url",
                      "content": {"application/json": {"example": {
                          "job_id": "gen-123", "status": "pending", "status_url": "/api/tabular/jobs/gen-123",
                          "estimated_time": 240, "sync_timeout_seconds": 55.0,
                          "message": "generation is estimated to take about 240 s, longer than this endpoint "
                                     "waits (55 s): it runs as a job; poll status_url for its result"}}}}}


def status_url(job_id: str) -> str:
    return f"/api/tabular/jobs/{job_id}"


def early_answer(job_id: str, estimate: float | None, settings: Settings, what: str,
                 extra: dict | None = None) -> JSONResponse | None:
    """202 Accepted with the job when the run is estimated to take longer than the sync limit; None: wait."""
    limit = settings.sync_timeout_seconds
    if estimate is None or estimate <= limit:
        return None
    url = status_url(job_id)
    body = {"job_id": job_id, "status": "pending", "status_url": url, "estimated_time": int(math.ceil(estimate)),
            "sync_timeout_seconds": limit,
            "message": f"{what} is estimated to take about {int(math.ceil(estimate))} s, longer than this "
                       f"endpoint waits ({limit:g} s): it runs as a job; poll status_url for its result",
            **(extra or {})}
    return JSONResponse(body, status_code=202, headers={"Location": url, "Retry-After": str(int(min(estimate, 60)))})


async def wait_for_run(job_id: str, fr: FlowRun, settings: Settings, what: str) -> FlowRun:
    """The run once it has ended (completed, failed or cancelled), or 504 TIMEOUT with the job id."""
    fr = await dispatch.wait(fr.id, settings.sync_timeout_seconds)
    if dispatch.public_status(fr) in ("completed", "failed", "cancelled"):
        return fr
    raise InferloopError("TIMEOUT", f"{what} did not finish within {settings.sync_timeout_seconds:g} s; "
                         f"poll {status_url(job_id)}", status=504,
                         extra={"job_id": job_id, "status_url": status_url(job_id)})



def result_uri(flow_run_id: str, name: str = "result.json") -> str:
    return f"{storage.run_dir(flow_run_id)}/{name}"


async def run_and_wait(job_id: str, kind: str, flow_name: str, owner: str, parameters: dict,
                       settings: Settings, estimate: float | None = None) -> tuple[str, dict] | JSONResponse:
    """Run `flow_name` for this request; returns (flow_run_id, result), or the early 202 answer when
    `estimate` (seconds) exceeds the sync limit."""
    options = {"parameters": parameters, **({"estimated_time": int(estimate)} if estimate is not None else {})}
    fr = await start_job(kind, flow_name, parameters, owner, job_id=job_id, options=options, tags=["sync"])
    if (early := early_answer(job_id, estimate, settings, kind)) is not None:
        return early
    fr = await wait_for_run(job_id, fr, settings, kind)
    if dispatch.public_status(fr) != "completed":
        raise await run_in_threadpool(failure_error, str(fr.id), fr)
    uri = result_uri(str(fr.id))
    if not await run_in_threadpool(storage.exists, uri):
        raise InferloopError("GENERATION_FAILED", f"the {kind} run completed without a result", status=500)
    return str(fr.id), await run_in_threadpool(storage.read_json, uri)


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
