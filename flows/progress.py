"""Progress reporting for flows: one Prefect progress artifact per run, updated as stages advance, and the
timed steps (`Steps`) whose seconds a flow's manifest reports as `timings`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from uuid import UUID

from prefect.artifacts import create_progress_artifact, update_progress_artifact

from flows.cancel_guard import stop_if_cancelled_before_start
from flows.outputs import write_result


class Progress:
    """Tracks a run's progress (0-100) in a Prefect progress artifact, throttled to ~2 updates/s."""

    def __init__(self, description: str):
        stop_if_cancelled_before_start()  # each flow creates its Progress first: a run cancelled meanwhile stops
        self._id: UUID | None = None
        self._last = 0.0
        self._value = 0.0
        try:
            self._id = create_progress_artifact(progress=0.0, key=None, description=description)
        except Exception as exc:  # progress must never break the work itself
            print(f"progress artifact unavailable: {exc!r}")

    def set(self, value: float, message: str | None = None, force: bool = False) -> None:
        """Record progress value (0-100), never going backwards."""
        value = max(self._value, min(100.0, float(value)))
        now = time.monotonic()
        if self._id is None or (not force and now - self._last < 0.5 and value < 100.0):
            self._value = value
            return
        self._value, self._last = value, now
        if message:
            print(f"[{value:5.1f}%] {message}")
        try:
            update_progress_artifact(self._id, progress=round(value, 1))
        except Exception as exc:
            print(f"progress update failed: {exc!r}")
        if value >= 100.0:
            send_buffered_logs()

    def span(self, start: float, end: float):
        """A callback mapping a stage's own 0..1 fraction onto [start, end]."""
        def report(fraction: float, message: str = "") -> None:
            self.set(start + (end - start) * max(0.0, min(1.0, fraction)), message or None)
        return report

    def finish(self, out: str, result: dict, name: str = "result.json") -> dict:
        """Write the run's result into `out` (last: its presence marks the outputs complete), then report 100 %."""
        write_result(out, result, name)
        self.set(100, "done", force=True)
        return result


@dataclass
class Step:
    """The step under way in `Steps.step`; the block may set the message its end is reported with."""
    name: str
    message: str | None = None


class Steps(Progress):
    """A flow's progress and the seconds each of its steps took (`timings`), from the flow's start (`started`)."""

    def __init__(self, description: str):
        self.started = time.perf_counter()
        super().__init__(description)
        self.timings: dict[str, float] = {}

    @contextmanager
    def step(self, name: str, done_at: float | None = None, message: str | None = None) -> Iterator[Step]:
        """Time the block as step `name`; with `done_at`, report that progress when it ends, with `message`
        or what the block set as the yielded step's `message`. A block that raises records nothing."""
        step = Step(name, message)
        t = time.perf_counter()
        yield step
        self.timings[name] = time.perf_counter() - t
        if done_at is not None:
            self.set(done_at, step.message, force=True)

    def seconds(self) -> float:
        """Seconds since the flow started, rounded as manifests show them."""
        return round(time.perf_counter() - self.started, 3)

    def rounded_timings(self) -> dict[str, float]:
        """Each step's seconds, rounded as manifests show them (the manifest's `timings`)."""
        return {k: round(v, 3) for k, v in self.timings.items()}


def send_buffered_logs() -> None:
    """Send the run's buffered log lines to the Prefect API now (Prefect batches them every ~2 s): a client
    that sees the run's final state a moment later then also sees its last lines."""
    from prefect.logging.handlers import APILogHandler

    try:
        APILogHandler().flush()
    except Exception as exc:  # logs must never break the work itself
        print(f"log flush failed: {exc!r}")
