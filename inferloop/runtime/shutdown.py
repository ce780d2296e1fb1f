"""How `inferloop-tabular serve` stops: SIGTERM, SIGHUP and SIGINT all end in the same bounded, clean stop.

systemd, `docker stop` and Kubernetes send SIGTERM; a closed terminal sends SIGHUP; Ctrl-C sends SIGINT.
While the API serves, a signal asks uvicorn to exit (uvicorn itself traps SIGINT/SIGTERM the same way and
hands the signal back when it is done); while the platform is still starting, it raises `ShutdownRequested`
in the main thread. Either way `serve`'s `finally` stops every child within INFERLOOP_SHUTDOWN_SECONDS.
"""

from __future__ import annotations

import signal
import time
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class ShutdownRequested(BaseException):
    """A stop signal arrived before the API was serving (a BaseException: no `except Exception` swallows it)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StopSignals:
    """Installs the stop-signal handlers; `server` is the uvicorn.Server once it serves."""

    def __init__(self) -> None:
        self.server = None
        self.received: int | None = None
        self.received_at: float | None = None  # time.monotonic() of the first stop signal

    def remaining(self, budget: float) -> float:
        """What is left of `budget` seconds since the first stop signal (all of it without one)."""
        spent = 0.0 if self.received_at is None else time.monotonic() - self.received_at
        return max(1.0, budget - spent)

    def install(self) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._handle)

    def ignore(self) -> None:
        """While stopping: a second signal must not cut the bounded stop short."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received, self.received_at = signum, time.monotonic()
        if self.server is None:
            raise ShutdownRequested(signum)
        self.server.should_exit = True  # uvicorn finishes its requests (bounded) and returns
