"""Start and stop the embedded platform + API for a benchmark (own INFERLOOP_HOME, free ports, API key).

Not named `platform.py`: a script run from benchmarks/ has this folder first on sys.path, and that name
would shadow the standard library's `platform` module.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

API_KEY = "bench-key"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def isolated_settings(home: Path) -> Any:
    """Point this process at a fresh INFERLOOP_HOME on a free port, apply the platform env; returns Settings."""
    os.environ.update({"INFERLOOP_HOME": str(home), "INFERLOOP_PREFECT_PORT": str(free_port()),
                       "INFERLOOP_API_KEYS": API_KEY})
    for var in ("INFERLOOP_STORAGE_URL", "INFERLOOP_DATABASE_URL", "INFERLOOP_AUTH_DISABLED"):
        os.environ.pop(var, None)
    from inferloop.runtime.embedded import apply_env
    from inferloop.core.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    apply_env(settings)  # before anything imports Prefect
    return settings


def _sigterm_as_interrupt(signum: int, frame: Any) -> None:
    """SIGTERM unwinds like Ctrl-C, so the `finally` clauses stop the child processes."""
    raise KeyboardInterrupt


@contextlib.contextmanager
def embedded_platform(settings: Any) -> Iterator[str]:
    """Prefect server, work pool, deployments, worker and the API; yields the API base URL, stops all on exit."""
    from api.main import create_app
    from inferloop.runtime.embedded import ApiThread, EmbeddedPlatform, drain_prefect_clients

    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background (`cmd &`)
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    platform = EmbeddedPlatform(settings)
    api: ApiThread | None = None
    try:
        platform.start()
        api = ApiThread(create_app(settings))
        yield api.start()
    finally:
        if api is not None:
            api.stop()
        drain_prefect_clients()
        platform.stop()
