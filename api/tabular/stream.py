"""GET /stream/{model_id}: synthetic records from a saved model as Server-Sent Events, paced to a rate.

Sampling runs in a child process (`tasks.tabular.stream_sampler`), not here; `api.streaming` paces its output.
"""

from __future__ import annotations

import math
from typing import Annotated

import anyio
from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from api.tabular import ydata
from api.deps import CurrentPrincipal, SettingsDep
from api.tabular.models_service import current_model
from api.tabular.generate import parse_int
from api.streaming import EventStreamResponse, SamplerProcess, StreamCounters, StreamPlan, paced_events
from inferloop.core.auth import Principal
from inferloop.core.errors import InferloopError, invalid_request
from inferloop.core.ratelimit import ROWS, check_generation, hourly, limiter_for, window_state
from inferloop.core.registry import require_ready, touch
from inferloop.core.settings import Settings
from inferloop.core.tiers import limits_for

router = APIRouter(tags=["streaming"])

RATE_MAX = "max"  # rate=max: as fast as the model samples and the client reads
STREAM_FORMATS = ("json", "csv")
DEFAULT_RATE = 100.0

EVENTS_DOC = """Server-Sent Events: one `header` event (the columns: a JSON array for json, the CSV header
line for csv), then one `record` event per row (json: an object of the model's columns; csv: one CSV record),
a `stats` event every second ({"total_generated", "rate", "elapsed"}), and `complete` ({"total",
"duration"}) at the end; `error` ({"code", "message"}) instead of `complete` if sampling fails mid-stream."""


def parse_rate(value: str | None) -> float | None:
    """Records per second (> 0), or None for `max`; 400 INVALID_REQUEST (field rate) otherwise."""
    text = (value or "").strip().lower()
    if text == "":
        return DEFAULT_RATE
    if text == RATE_MAX:
        return None
    try:
        rate = float(text)
    except ValueError:
        raise invalid_request(f"rate must be a number of records per second or '{RATE_MAX}', got '{value}'",
                              "rate")
    if not math.isfinite(rate) or rate <= 0:
        raise invalid_request(f"rate must be greater than 0 (or '{RATE_MAX}' for no pacing), got '{value}'",
                              "rate")
    return rate


def parse_duration(value: str | None, maximum: float) -> float:
    """Seconds (> 0, at most the configured maximum); the maximum when omitted."""
    if value is None or not value.strip():
        return maximum
    try:
        seconds = float(value.strip())
    except ValueError:
        raise invalid_request(f"duration must be a number of seconds, got '{value}'", "duration")
    if not math.isfinite(seconds) or seconds <= 0:
        raise invalid_request(f"duration must be greater than 0 seconds, got '{value}'", "duration")
    if seconds > maximum:
        raise invalid_request(f"duration must be at most {maximum:g} seconds on this server, got '{value}'",
                              "duration")
    return seconds


def reserve_rows(principal: Principal, settings: Settings, plan: StreamPlan, open_ended: bool) -> int | None:
    """Count the stream's rows against the owner's rows/hour up front; returns them (None: no row limit).

    With a rate and a duration: rate x duration rows (429 when they do not fit). rate=max or no duration:
    the rows left in the hour's window (at most rate x duration), and the stream stops there. Rows not sent
    are given back when the stream ends.
    """
    per_hour = limits_for(principal.tier).rows_per_hour
    if per_hour is None:
        check_generation(principal, settings, 0)
        return None
    rows = plan.records
    if rows is None or open_ended:
        left = max(1, window_state(settings, ROWS, principal.owner, per_hour).remaining or 0)
        rows = left if rows is None else min(rows, left)
    check_generation(principal, settings, rows)
    return rows


def refund_rows(principal: Principal, settings: Settings, rows: int) -> None:
    """Give reserved rows that were not streamed back to the owner's rows/hour window."""
    per_hour = limits_for(principal.tier).rows_per_hour
    decr = getattr(limiter_for(settings).storage, "decr", None)
    if per_hour is None or rows <= 0 or decr is None:
        return
    decr(hourly(per_hour).key_for(ROWS, principal.owner), rows)


def take_slot(request: Request, settings: Settings) -> None:
    """One of the API process's `stream_max_concurrent` stream slots, or 429 RATE_LIMITED."""
    active = getattr(request.app.state, "active_streams", 0)
    if active >= settings.stream_max_concurrent:
        raise InferloopError("RATE_LIMITED", f"{active} streams are running on this server, the most it "
                             "serves at once; retry when one has ended", status=429, extra={"retry_after": 5},
                             headers={"Retry-After": "5"})
    request.app.state.active_streams = active + 1


def release_slot(request: Request) -> None:
    request.app.state.active_streams = max(0, getattr(request.app.state, "active_streams", 1) - 1)


@router.get("/stream/{model_id}", summary="Stream synthetic records from a saved model (Server-Sent Events)",
            description=EVENTS_DOC, response_description="text/event-stream",
            responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}})
async def stream(
    model_id: str,
    request: Request,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    rate: Annotated[str | None, Query(description="records per second (> 0, default 100), or 'max' for no "
                                                  "pacing")] = None,
    format: Annotated[str, Query(description="json or csv")] = "json",
    duration: Annotated[str | None, Query(description="seconds (default and maximum: the server's "
                                                      "stream_max_duration_seconds)")] = None,
    seed: Annotated[str | None, Query(description="makes the stream's records reproducible")] = None,
):
    plan = StreamPlan(parse_rate(rate), parse_duration(duration, settings.stream_max_duration_seconds))
    fmt = format.strip().lower()
    if fmt not in STREAM_FORMATS:
        raise invalid_request(f"format must be one of {', '.join(STREAM_FORMATS)}, got '{format}'", "format")
    seed_v = parse_int(seed, "seed", 0, 2**32 - 1)
    model = require_ready(await current_model(model_id, principal.owner))  # 404 unknown or deleted, 409
    python, python_env = ydata.sampler_python(model.algorithm, settings)  # a ydata model: its environment

    take_slot(request, settings)
    reserved: int | None = None
    sampler: SamplerProcess | None = None
    try:
        open_ended = not (duration or "").strip()
        reserved = await run_in_threadpool(reserve_rows, principal, settings, plan, open_ended)
        plan.limit = reserved
        sampler, header = await SamplerProcess.start(model.artifact_uri, fmt, settings.stream_batch_rows,
                                                     seed_v, settings.stream_start_timeout_seconds,
                                                     python=python, extra_env=python_env,
                                                     zygote=ydata.sampler_zygote(model.algorithm, settings))
        await run_in_threadpool(touch, model_id)
    except BaseException:
        if sampler is not None:
            await sampler.close()
        release_slot(request)
        if reserved:
            await run_in_threadpool(refund_rows, principal, settings, reserved)
        raise
    counters = StreamCounters()

    async def finish() -> None:  # once, when the stream ends or the client goes (not cut short by either)
        if counters.finished:
            return
        counters.finished = True
        with anyio.CancelScope(shield=True):
            await sampler.close()
            release_slot(request)
            if reserved:
                await run_in_threadpool(refund_rows, principal, settings, reserved - counters.sent)

    return EventStreamResponse(paced_events(sampler, header, plan, counters, finish), finish,
                               headers={"X-Stream-Worker-Pid": str(sampler.pid)})
