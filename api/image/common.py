"""What the image routers share: per-minute rate limits, jobs (record, run, wait), progress, queue position,
results, and the image job kinds shown under /api/v1/jobs.

Job ids: `img_<hex>` for generations, `batch_<hex>` for batches, `imgval_`, `imgprof_`, `imgexp_` for the
others; image ids are `<job id>_<n>`, so an image id leads to its job (and its owner) and the job's manifest
to the file.
"""

from __future__ import annotations

import secrets
from typing import Any

import limits
from fastapi import Request
from prefect.client.schemas.objects import FlowRun, StateType
from starlette.concurrency import run_in_threadpool

from api import dispatch, job_kinds
from api.errors import image_error
from api import jobs
from api.jobs import failure_error, get_job, read_manifest
from inferloop.core import db, storage
from inferloop.core.auth import Principal
from inferloop.core.errors import InferloopError
from inferloop.core.ratelimit import RateState, check_generation, item_state, limiter_for, rate_headers
from inferloop.core.settings import Settings
from tasks.image.area import owner_root, sidecar_uri, to_virtual

V1 = "/api/v1"
GENERATION_KINDS = ("image_generate", "image_batch")
SYNC_KINDS = ("image_validate_quality", "image_validate_privacy", "image_profile", "image_export")
STEP_EVENT = "inferloop.image.step"  # emitted per denoising step by tasks.image.generate


def new_job_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


# --- rate limits (image-api.md "Rate Limiting": per minute, per category) ---------------------------------------

def check_rate(request: Request | None, principal: Principal, settings: Settings, category: str) -> RateState | None:
    """Count one request of `category` (generation, validation, export) for the caller; 429 over the limit.

    Every such request starts a job, so the tier's limits of every job on the platform come first (concurrent
    jobs, compute hours this month: inferloop.core.ratelimit.check_generation), then image-api.md's per-minute
    limit. The enterprise tier is unlimited, as everywhere on the platform. The X-RateLimit-* headers of the
    response then describe this category's window.
    """
    check_generation(principal, settings, 0)
    if principal.tier == "enterprise":
        return None
    item = limits.parse(getattr(settings, f"image_rate_{category}"))
    limiter = limiter_for(settings)
    allowed = limiter.hit(item, "image", category, principal.owner)
    state = item_state(limiter, item, "image", category, principal.owner)
    if request is not None:
        request.state.rate = state
    if not allowed:
        raise InferloopError("RATE_LIMITED", f"Rate limit exceeded: {item.amount} {category} requests per "
                             f"{item.GRANULARITY.name}; retry in {state.reset_after} s", status=429,
                             extra={"details": {"limit": item.amount, "category": category,
                                                "retry_after": state.reset_after}},
                             headers={**rate_headers(state), "Retry-After": str(state.reset_after)})
    return state


# --- jobs ----------------------------------------------------------------------------------------------------

async def start_image_job(job_id: str, kind: str, owner: str, flow_name: str, parameters: dict,
                          options: dict | None = None) -> FlowRun:
    """Start an image job (api.jobs.start_job): generations are recorded as made with diffusers."""
    return await jobs.start_job(kind, flow_name, parameters, owner, job_id=job_id, options=options or {},
                                tags=["image"], algorithm="diffusers" if kind in GENERATION_KINDS else None)


async def wait_final(job_id: str, fr: FlowRun, settings: Settings) -> FlowRun:
    """Wait for the run (sync endpoints); failed/cancelled raise their error, a time-out 504 with the job id."""
    fr = await dispatch.wait(fr.id, settings.sync_timeout_seconds, poll=0.25)
    status = dispatch.public_status(fr)
    if status == "completed":
        return fr
    if status == "cancelled":
        raise InferloopError("CANCELLED", f"job '{job_id}' was cancelled", status=409,
                             extra={"details": {"job_id": job_id}})
    if status == "failed":
        raise await run_in_threadpool(failure_error, str(fr.id), fr)
    raise InferloopError("TIMEOUT", f"the job did not finish within {settings.sync_timeout_seconds:g} s; poll "
                         f"{V1}/jobs/{job_id}", status=504,
                         extra={"details": {"job_id": job_id, "status_url": f"{V1}/jobs/{job_id}"}})


def run_result(flow_run_id: str, name: str = "result.json") -> dict:
    uri = f"{storage.run_dir(flow_run_id)}/{name}"
    if not storage.exists(uri):
        raise InferloopError("GENERATION_FAILED", "the run completed without a result", status=500)
    return storage.read_json(uri)


# --- generation results ------------------------------------------------------------------------------------------

def base_url(request: Request | None) -> str:
    if request is None:
        return ""
    return str(request.base_url).rstrip("/")


def image_view(img: dict, base: str) -> dict:
    """One generated image as the API shows it."""
    return {"image_id": img["image_id"], "image_path": img["path"], "prompt": img["prompt"], "seed": img["seed"],
            "width": img["width"], "height": img["height"], "size_bytes": img.get("size_bytes"),
            "download_url": f"{base}{V1}/images/{img['image_id']}",
            **({"profile": img["profile"]} if img.get("profile") else {})}


def generation_result(manifest: dict, base: str) -> dict:
    return {"images": [image_view(i, base) for i in manifest["images"]], "model": manifest["model"]["model_id"],
            "device": manifest["device"], "seed": manifest["seed"], "parameters": manifest["parameters"],
            "generation_time": manifest["generation_time"], "images_per_second": manifest["images_per_second"],
            "timings": manifest["timings"]}


def image_by_id(image_id: str, owner: str) -> dict:
    """The manifest record of an owner's image (404 for unknown ids and other owners' images alike)."""
    job_id, _, index = image_id.rpartition("_")
    if not job_id or not index.isdigit():
        raise InferloopError("NOT_FOUND", f"image '{image_id}' was not found", status=404)
    try:
        job = get_job(job_id, owner)
    except InferloopError:
        raise InferloopError("NOT_FOUND", f"image '{image_id}' was not found", status=404)
    manifest = read_manifest(job.flow_run_id) if job.kind in GENERATION_KINDS and job.flow_run_id else None
    images = (manifest or {}).get("images") or []
    if int(index) >= len(images):
        raise InferloopError("NOT_FOUND", f"image '{image_id}' was not found", status=404)
    return images[int(index)]


# --- progress and queue position -----------------------------------------------------------------------------

async def latest_step(flow_run_id: str, since=None) -> dict | None:
    """The newest per-step progress event the server has stored for this run (None before the first)."""
    from prefect import get_client
    from prefect.events.filters import (EventFilter, EventNameFilter, EventOccurredFilter, EventOrder,
                                        EventResourceFilter)

    flt = EventFilter(event=EventNameFilter(name=[STEP_EVENT]),
                      resource=EventResourceFilter(id=[f"prefect.flow-run.{flow_run_id}"]), order=EventOrder.DESC)
    if since is not None:
        flt.occurred = EventOccurredFilter(since=since)
    async with get_client() as client:
        page = await client.read_events(filter=flt, limit=1)
    return step_view(page.events[0].payload) if page.events else None


def step_view(payload: dict) -> dict:
    keys = ("step", "total_steps", "batch", "batches", "images_done", "images_total", "progress")
    return {k: payload.get(k) for k in keys}


async def queue_position(fr: FlowRun, settings: Settings) -> int | None:
    """ComfyUI-style: how many runs of the work pool are ahead of this one (running, or waiting since earlier)."""
    if fr.state is None or fr.state.type not in (StateType.SCHEDULED, StateType.PENDING):
        return 0 if fr.state is not None and fr.state.type == StateType.RUNNING else None
    from prefect import get_client
    from prefect.client.schemas.filters import (FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType,
                                                WorkPoolFilter, WorkPoolFilterName)

    active = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=active))),
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[settings.work_pool])), limit=200)
    mine = fr.expected_start_time or fr.created
    ahead = 0
    for r in runs:
        if r.id == fr.id or r.state is None:
            continue
        if r.state.type in (StateType.RUNNING, StateType.CANCELLING):
            ahead += 1
        elif (r.expected_start_time or r.created) and mine and (r.expected_start_time or r.created) < mine:
            ahead += 1
    return ahead


# --- job kinds -----------------------------------------------------------------------------------------------

async def _generation_view(job: db.Job, fr: FlowRun | None, status: str) -> dict[str, Any]:
    out: dict[str, Any] = {"options": {k: v for k, v in (job.options or {}).items() if k != "parameters"},
                           "parameters": (job.options or {}).get("parameters")}
    settings = _settings()
    if fr is not None and status == "pending":
        out["queue_position"] = await queue_position(fr, settings)
    if fr is not None and status in ("pending", "running"):
        step = await latest_step(str(fr.id))
        if step:
            out["progress"] = step
    if status == "completed" and job.flow_run_id:
        manifest = await run_in_threadpool(read_manifest, job.flow_run_id)
        if manifest:
            out["result"] = generation_result(manifest, settings.public_url.rstrip("/"))
    if status == "cancelled" and job.flow_run_id:
        uri = f"{storage.run_dir(job.flow_run_id)}/cancel.json"
        if await run_in_threadpool(storage.exists, uri):
            c = await run_in_threadpool(storage.read_json, uri)
            out["cancelled_after_step"] = {"step": c["stopped_after_step"], "total_steps": c["total_steps"],
                                           "batch": c["batch"], "steps_done": c["steps_done"], "how": c["how"]}
    return out


async def _sync_view(job: db.Job, fr: FlowRun | None, status: str) -> dict[str, Any]:
    out: dict[str, Any] = {"parameters": (job.options or {}).get("parameters")}
    if status == "completed" and job.flow_run_id:
        uri = f"{storage.run_dir(job.flow_run_id)}/result.json"
        if await run_in_threadpool(storage.exists, uri):
            out["result"] = await run_in_threadpool(storage.read_json, uri)
    return out


def _event_data(job: db.Job, fr: FlowRun, status: str, base: str) -> dict:
    data: dict[str, Any] = {"job_id": job.id, "kind": job.kind, "status": status}
    if status == "completed" and job.kind in GENERATION_KINDS:
        manifest = read_manifest(job.flow_run_id) or {}
        data["images"] = [image_view(i, base) for i in manifest.get("images", [])]
    elif status in ("failed", "cancelled"):
        err = failure_error(job.flow_run_id, fr)
        data["error"] = {"code": "CANCELLED" if status == "cancelled" else image_error(err)["code"],
                         "message": (fr.state.message or "cancelled") if status == "cancelled" else err.message}
    return data


async def _delete_images(job: db.Job) -> None:
    """Deleting a generation job removes its images (and their sidecars) from the owner's data."""
    if not job.flow_run_id:
        return
    manifest = await run_in_threadpool(read_manifest, job.flow_run_id)
    root = owner_root(job.owner)
    for img in (manifest or {}).get("images", []):
        uri = img.get("uri", "")
        if uri.startswith(root + "/"):
            await run_in_threadpool(storage.remove, uri, False)
            await run_in_threadpool(storage.remove, sidecar_uri(uri), False)


def _settings() -> Settings:
    from inferloop.core.settings import get_settings

    return get_settings()


# the platform's webhook events (inferloop.core.webhooks.EVENTS): an image generation is a generation
EVENTS = {"completed": "generation.completed", "failed": "job.failed", "cancelled": "job.cancelled"}
for _kind in GENERATION_KINDS:
    job_kinds.register(job_kinds.JobKind(_kind, api="v1", events=EVENTS, event_data=_event_data,
                                         view=_generation_view, on_delete=_delete_images))
for _kind in SYNC_KINDS:
    job_kinds.register(job_kinds.JobKind(_kind, api="v1", events={"failed": "job.failed"}, event_data=_event_data,
                                         view=_sync_view))


def virtual_or_none(owner: str, uri: str) -> str | None:
    try:
        return to_virtual(owner, uri)
    except ValueError:
        return None
