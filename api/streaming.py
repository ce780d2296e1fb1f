"""A live stream: the sampler child process, and pacing its ready-made SSE record events to the client.

The API process samples nothing: `tasks.tabular.stream_sampler` runs as a child process (its own process group)
and writes SSE events to a pipe. This module counts them (each ends with b"\\n\\n"), forwards them at the
requested rate on an absolute schedule (record k is due k/rate seconds after the first, sent in bursts
of at least `MIN_TICK` seconds so that high rates do not cost one sleep per record), adds `stats` events every
`STATS_INTERVAL` seconds and a `complete` event at the end, and kills the process group when the stream ends
for any reason (finished, client gone, error).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from inferloop.core.errors import InferloopError
from inferloop.core.settings import PROJECT_DIR
from inferloop.runtime.warm_launch import through_zygote


STATS_INTERVAL = 1.0  # seconds between `stats` events
MIN_TICK = 0.01  # a paced stream wakes at most every 10 ms and then sends every record due
FINAL_GRACE = 0.5  # seconds a paced stream may overrun its duration to send records that were due
READ_BYTES = 1 << 18  # bytes read from the sampler's pipe at a time
HEADER_LIMIT = 1 << 20  # the header event (all column names) must fit in this
END = b"\n\n"  # ends every SSE event; never inside one


def sse(name: str, data: dict) -> bytes:
    """One SSE event with a JSON payload."""
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


@dataclass
class StreamPlan:
    """How a stream runs: `rate` records/s (None = as fast as possible) for `duration` s, at most `limit`."""

    rate: float | None
    duration: float
    limit: int | None = None

    @property
    def records(self) -> int | None:
        """The most records this stream sends (rate x duration when paced; `limit` caps it)."""
        paced = None if self.rate is None else max(1, math.floor(round(self.rate * self.duration, 6)))
        caps = [n for n in (paced, self.limit) if n is not None]
        return min(caps) if caps else None


class SamplerProcess:
    """The `tasks.tabular.stream_sampler` child process and the SSE events buffered from its stdout."""

    def __init__(self, proc: asyncio.subprocess.Process, errors) -> None:
        self.proc = proc
        self.errors = errors  # a temporary file holding the child's stderr
        self.buffer = b""
        self.complete_end = 0  # offset just after the last complete event in `buffer`
        self.complete_events = 0
        self.closed = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    @classmethod
    async def start(cls, model_uri: str, fmt: str, batch_rows: int, seed: int | None,
                    timeout: float, python: str = sys.executable,
                    extra_env: dict[str, str] | None = None,
                    zygote: Path | None = None) -> tuple[SamplerProcess, bytes]:
        """Start the sampler and wait for its header event (the model loaded and sampled); returns both.

        `python` runs it (a ydata model: the ydata environment's interpreter, with `extra_env`). With the
        socket of the platform's `zygote` of that environment, it forks from the zygote through the warm
        launcher instead of starting a fresh interpreter (no imports to wait for: the first record comes
        sooner); the launcher stands in for it (its pid, its signals, its exit)."""
        errors = tempfile.TemporaryFile()
        env = {**os.environ, **(extra_env or {}),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_DIR), os.environ.get("PYTHONPATH")]))}
        args = ["-m", "tasks.tabular.stream_sampler", model_uri, "--format", fmt, "--batch-rows", str(batch_rows)]
        if seed is not None:
            args += ["--seed", str(seed)]
        if zygote is not None and zygote.exists():  # the zygote of `python`'s environment
            args = through_zygote(args, env, str(zygote))
        try:
            proc = await asyncio.create_subprocess_exec(
                python, *args, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=errors, cwd=str(PROJECT_DIR), env=env,
                start_new_session=True, limit=HEADER_LIMIT)
        except BaseException:
            errors.close()
            raise
        sampler = cls(proc, errors)
        try:
            header = await asyncio.wait_for(proc.stdout.readuntil(END), timeout)
        except TimeoutError:
            await sampler.close()
            raise InferloopError("TIMEOUT", f"the model did not load within {timeout:g} s", status=504)
        except asyncio.LimitOverrunError:
            await sampler.close()
            raise InferloopError("GENERATION_FAILED", "the model's column names do not fit in one header "
                                 f"event ({HEADER_LIMIT} bytes)", status=500)
        except asyncio.IncompleteReadError:
            error = sampler.failure()
            await sampler.close()
            raise error
        except BaseException:
            await sampler.close()
            raise
        return sampler, header

    async def take(self, most: int, timeout: float) -> tuple[bytes, int]:
        """Up to `most` complete events, waiting up to `timeout` s for one; (b"", 0) if none came in time."""
        while self.complete_events == 0:
            try:
                chunk = await asyncio.wait_for(self.proc.stdout.read(READ_BYTES), max(timeout, 0.0))
            except TimeoutError:
                return b"", 0
            if not chunk:
                raise self.failure()
            self.buffer += chunk
            found = self.buffer.count(END, self.complete_end)
            if found:
                self.complete_events += found
                self.complete_end = self.buffer.rfind(END) + len(END)
        if most >= self.complete_events:
            cut, n = self.complete_end, self.complete_events
        else:
            cut, n = 0, most
            for _ in range(most):
                cut = self.buffer.index(END, cut) + len(END)
        out, self.buffer = self.buffer[:cut], self.buffer[cut:]
        self.complete_events -= n
        self.complete_end -= cut
        return out, n

    def failure(self) -> InferloopError:
        """The error the sampler reported on stderr (a JSON line), as GENERATION_FAILED."""
        self.errors.seek(0, os.SEEK_END)
        self.errors.seek(max(0, self.errors.tell() - 8192))
        lines = [ln for ln in self.errors.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        message = lines[-1] if lines else "the sampler process ended unexpectedly"
        with contextlib.suppress(ValueError, TypeError, KeyError):
            message = json.loads(message)["message"]
        return InferloopError("GENERATION_FAILED", f"streaming stopped: {message}", status=500)

    async def close(self) -> None:
        """Stop the process group (SIGTERM, then SIGKILL after 5 s) and wait for it; safe to call twice."""
        if self.closed:
            return
        self.closed = True
        with anyio.CancelScope(shield=True):
            if self.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    await asyncio.wait_for(self.proc.wait(), 5)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.proc.pid, signal.SIGKILL)
                    await self.proc.wait()
            with contextlib.suppress(Exception):  # read the pipe to its end so that its transport closes
                while await asyncio.wait_for(self.proc.stdout.read(READ_BYTES), 5):
                    pass
            self.errors.close()


@dataclass
class StreamCounters:
    """What a stream has sent so far, and whether it has been finished (read by its cleanup)."""

    sent: int = 0
    finished: bool = False


async def paced_events(sampler: SamplerProcess, header: bytes, plan: StreamPlan, counters: StreamCounters,
                       finish: Callable[[], Awaitable[None]]) -> AsyncIterator[bytes]:
    """The stream's bytes: header, records on schedule, `stats` every second, then `complete` (or `error`).

    `finish` (stop the sampler, settle usage) runs before the last event, so a client that has read
    `complete` sees a finished stream.

    Paced, record k is due k/rate s after the first and the stream lasts `duration` s (records due by then
    that the sampler was late with may follow for up to FINAL_GRACE s). At rate=max it ends at `duration`.
    """
    yield header
    limit = plan.records
    start = time.monotonic()
    deadline, next_stats = start + plan.duration, start + STATS_INTERVAL
    end = deadline if plan.rate is None else deadline + FINAL_GRACE
    try:
        while (now := time.monotonic()) < end:
            if plan.rate is None:
                if limit is not None and counters.sent >= limit:
                    break
                want = 1 << 30 if limit is None else limit - counters.sent
            else:
                if counters.sent >= limit and now >= deadline:
                    break
                want = min(limit, math.floor(plan.rate * (now - start)) + 1) - counters.sent
            if want > 0:
                chunk, n = await sampler.take(want, min(next_stats, end) - now)
                if n:
                    counters.sent += n
                    yield chunk
            else:  # paced and ahead: sleep until the next record is due (to the deadline once all are sent)
                wake = deadline if counters.sent >= limit else \
                    max(start + counters.sent / plan.rate, now + MIN_TICK)
                await asyncio.sleep(max(0.0, min(wake, next_stats, end) - now))
            now = time.monotonic()
            if now >= next_stats:
                yield stats_event(counters.sent, now - start)
                while next_stats <= now:
                    next_stats += STATS_INTERVAL
    except InferloopError as exc:
        await finish()
        yield sse("error", exc.to_dict())
        return
    elapsed = time.monotonic() - start
    await finish()
    yield sse("complete", {"total": counters.sent, "duration": round(elapsed, 2)})


def stats_event(sent: int, elapsed: float) -> bytes:
    """The documented `stats` event: records so far, the achieved rate, seconds since the first record."""
    rate = sent / elapsed if elapsed > 0 else 0.0
    return sse("stats", {"total_generated": sent, "rate": round(rate, 1), "elapsed": round(elapsed, 2)})


class EventStreamResponse(StreamingResponse):
    """text/event-stream whose `cleanup` always runs when the response ends (done, client gone or error)."""

    media_type = "text/event-stream"

    def __init__(self, content: AsyncIterator[bytes], cleanup: Callable[[], Awaitable[None]],
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(content, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no",
                                           **(headers or {})})
        self.cleanup = cleanup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.cleanup()
