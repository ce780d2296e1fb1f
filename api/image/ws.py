"""image-api.md, WebSocket: /api/v1/ws/generation?api_key=... — generate and watch, step by step.

Client -> server messages:
  {"type": "generate", "prompt": ..., <the fields of POST /generate>}   start a generation job
  {"type": "subscribe", "job_id": ...}                                  watch one of your jobs
  {"type": "cancel", "job_id": ...}                                     cancel it (denoising stops within a step)
  {"type": "ping"}
Server -> client:
  {"type": "queued", "job_id", "queue_position"}                        once the flow run exists
  {"type": "progress", "job_id", "step", "total_steps", "progress", "batch", "batches", "images_done", ...}
  {"type": "result", "job_id", "image_path", "prompt", "image_id", "download_url", "seed", "images", ...}
  {"type": "cancelled", "job_id", ...} / {"type": "error", "job_id"?, "error": {code, message, details}}

Progress comes from the run's per-step Prefect events (pushed by the Prefect server's event stream, with the
last minute replayed on subscribe); the run's final state comes from the same stream, with a state poll as a
safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api import dispatch
from api.deps import authenticate
from api.jobs import failure_error, get_job, mark_cancel_requested, read_manifest
from api.image.generate import GenerateRequest, prepare, submit_generation
from api.image.common import (GENERATION_KINDS, STEP_EVENT, V1, check_rate, generation_result, queue_position,
                              step_view)
from inferloop.core.errors import InferloopError
from inferloop.core.ratelimit import request_limit

router = APIRouter(tags=["image generation"])
log = logging.getLogger("inferloop.image.ws")
FINAL_EVENTS = ("prefect.flow-run.Completed", "prefect.flow-run.Failed", "prefect.flow-run.Cancelled",
                "prefect.flow-run.Crashed")


def _error(err: InferloopError, job_id: str | None = None) -> dict:
    from api.errors import image_error

    out = {"type": "error", "error": image_error(err)}
    return {**out, "job_id": job_id} if job_id else out


class Session:
    """One connection: its principal, a send lock, and the jobs it follows."""

    def __init__(self, ws: WebSocket, principal, settings):
        self.ws, self.principal, self.settings = ws, principal, settings
        self.lock = asyncio.Lock()
        self.tasks: set[asyncio.Task] = set()

    async def send(self, message: dict) -> None:
        async with self.lock:
            await self.ws.send_json(message)

    def follow_in_background(self, job_id: str, flow_run_id: str, prompt: str | None) -> None:
        task = asyncio.create_task(self.follow(job_id, flow_run_id, prompt))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def generate(self, message: dict) -> None:
        body = GenerateRequest.model_validate({k: v for k, v in message.items() if k != "type"})
        check_rate(None, self.principal, self.settings, "generation")
        flow, public = await run_in_threadpool(prepare, body, [body.prompt], self.principal, self.settings, "prompt")
        job_id, fr = await submit_generation("image_generate", "img", flow, public, self.principal.owner)
        await self.send({"type": "queued", "job_id": job_id, "status_url": f"{V1}/jobs/{job_id}",
                         "queue_position": await queue_position(fr, self.settings), "parameters": public})
        self.follow_in_background(job_id, str(fr.id), body.prompt)

    async def subscribe(self, job_id: Any) -> None:
        job = await self._job(job_id)
        prompts = (job.options or {}).get("prompts") or [None]
        self.follow_in_background(job.id, job.flow_run_id, prompts[0])

    async def cancel(self, job_id: Any) -> None:
        job = await self._job(job_id)
        fr = await dispatch.read(job.flow_run_id)
        if fr.state is not None and fr.state.is_final():
            raise InferloopError("CONFLICT", f"job '{job.id}' has already ended", status=409)
        await run_in_threadpool(mark_cancel_requested, job.id)
        await dispatch.cancel(fr)
        await self.send({"type": "cancelling", "job_id": job.id})

    async def _job(self, job_id: Any):
        if not isinstance(job_id, str):
            raise InferloopError("INVALID_REQUEST", "job_id is required", "job_id")
        job = await run_in_threadpool(get_job, job_id, self.principal.owner)
        if job.kind not in GENERATION_KINDS or not job.flow_run_id:
            raise InferloopError("NOT_FOUND", f"generation job '{job_id}' was not found", status=404)
        return job

    async def follow(self, job_id: str, flow_run_id: str, prompt: str | None) -> None:
        """Progress messages for every denoising step, then the result (or the error)."""
        queue: asyncio.Queue = asyncio.Queue()
        listener = asyncio.create_task(self._listen(flow_run_id, queue))
        seen: set[tuple] = set()
        first = True
        try:
            while True:
                try:  # the first pass looks at the state at once (a job followed after it ended)
                    event = None if first else await asyncio.wait_for(queue.get(), timeout=2.0)
                except asyncio.TimeoutError:
                    event = None
                first = False
                if event is not None and event.event == STEP_EVENT:
                    step = step_view(event.payload)
                    key = (step["batch"], step["step"])
                    if key not in seen:
                        seen.add(key)
                        await self.send({"type": "progress", "job_id": job_id, **step})
                    continue
                if event is None or event.event in FINAL_EVENTS:
                    fr = await dispatch.read(flow_run_id)
                    if fr.state is not None and fr.state.is_final():
                        await self._drain(queue, job_id, seen)
                        await self.send(await self._final(job_id, fr, prompt))
                        return
        except (WebSocketDisconnect, RuntimeError):
            return
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener

    async def _drain(self, queue: asyncio.Queue, job_id: str, seen: set) -> None:
        """Step events that arrive just after the final state (they travel separately) still go out first."""
        await asyncio.sleep(0.3)
        while not queue.empty():
            event = queue.get_nowait()
            if event.event == STEP_EVENT:
                step = step_view(event.payload)
                if (step["batch"], step["step"]) not in seen:
                    seen.add((step["batch"], step["step"]))
                    await self.send({"type": "progress", "job_id": job_id, **step})

    async def _listen(self, flow_run_id: str, queue: asyncio.Queue) -> None:
        from prefect.events.clients import get_events_subscriber
        from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

        flt = EventFilter(event=EventNameFilter(prefix=["inferloop.image.", "prefect.flow-run."]),
                          resource=EventResourceFilter(id=[f"prefect.flow-run.{flow_run_id}"]))
        while True:
            try:
                async with get_events_subscriber(filter=flt) as sub:
                    async for event in sub:
                        await queue.put(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the state poll covers the gap; reconnect after a pause
                log.warning("event stream for %s: %r", flow_run_id, exc)
                await asyncio.sleep(1.0)

    async def _final(self, job_id: str, fr, prompt: str | None) -> dict:
        status = dispatch.public_status(fr)
        if status == "completed":
            manifest = await run_in_threadpool(read_manifest, str(fr.id))
            result = generation_result(manifest, self._base())
            first = result["images"][0]
            return {**result, "type": "result", "job_id": job_id, "image_path": first["image_path"],
                    "prompt": prompt if prompt is not None else first["prompt"], "image_id": first["image_id"],
                    "download_url": first["download_url"], "seed": first["seed"]}
        if status == "cancelled":
            return {"type": "cancelled", "job_id": job_id, "message": fr.state.message or "cancelled"}
        return _error(await run_in_threadpool(failure_error, str(fr.id), fr), job_id)

    def _base(self) -> str:
        url = self.ws.url
        scheme = "https" if url.scheme == "wss" else "http"
        return f"{scheme}://{url.netloc}"


@router.websocket("/ws/generation")
async def ws_generation(websocket: WebSocket, api_key: str | None = None):
    settings = websocket.app.state.settings
    await websocket.accept()
    try:
        principal = authenticate(settings, api_key or websocket.headers.get("x-api-key"),
                                 websocket.headers.get("authorization"))
        await run_in_threadpool(request_limit, principal, settings)
    except InferloopError as err:
        await websocket.send_json(_error(err))
        await websocket.close(code=1008)
        return
    session = Session(websocket, principal, settings)
    try:
        while True:
            try:
                message = await websocket.receive_json()
            except (ValueError, KeyError):
                await session.send(_error(InferloopError("INVALID_REQUEST", "messages are JSON objects")))
                continue
            await _handle(session, message)
    except WebSocketDisconnect:
        pass
    finally:
        for task in list(session.tasks):
            task.cancel()


async def _handle(session: Session, message: Any) -> None:
    kind = message.get("type") if isinstance(message, dict) else None
    try:
        if kind == "generate":
            await session.generate(message)
        elif kind == "subscribe":
            await session.subscribe(message.get("job_id"))
        elif kind == "cancel":
            await session.cancel(message.get("job_id"))
        elif kind == "ping":
            await session.send({"type": "pong"})
        else:
            raise InferloopError("INVALID_REQUEST", "type must be generate, subscribe, cancel or ping", "type")
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or None
        await session.send(_error(InferloopError("INVALID_REQUEST", f"{field}: {first.get('msg')}", field)))
    except InferloopError as err:
        await session.send(_error(err, message.get("job_id") if isinstance(message, dict) else None))
    except WebSocketDisconnect:
        raise
    except Exception:
        log.exception("websocket message %r failed", kind)
        await session.send(_error(InferloopError("GENERATION_FAILED", "internal error; see server logs",
                                                 status=500)))
