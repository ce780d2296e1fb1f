"""Shared test support, imported once as `tests.support`: the test environment, keys, ports, ApiServer.

The environment is set on import, before anything imports Prefect, so that this process, the Prefect
server, the worker and the flow runs all share one temporary INFERLOOP_HOME.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
from pathlib import Path

_handed_out: set[int] = set()


def free_port() -> int:
    """A free loopback port, never one handed out before in this session (servers start later)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


TEST_HOME = Path(tempfile.mkdtemp(prefix="inferloop-test-"))
if not os.environ.get("INFERLOOP_KEEP_TEST_HOME"):  # removed at exit, after the session's platform has stopped
    atexit.register(shutil.rmtree, TEST_HOME, ignore_errors=True)
API_KEY = "test-key-1"
OTHER_KEY = "test-key-2"
os.environ.update({
    "INFERLOOP_HOME": str(TEST_HOME),
    "INFERLOOP_PREFECT_PORT": str(free_port()),
    "INFERLOOP_API_KEYS": f"{API_KEY},{OTHER_KEY}",
    "INFERLOOP_WORK_POOL": "test-gpu",
    "INFERLOOP_MAX_UPLOAD_MB": "5",
    "INFERLOOP_MAX_ROWS": "1000000",
    "INFERLOOP_JWT_SECRET": "test-jwt-secret-that-is-long-enough-for-hs256",
    # sync endpoints wait long here (a loaded 2-core test machine); the early 202 and the 504 are tested
    # with their own short limits
    "INFERLOOP_SYNC_TIMEOUT_SECONDS": "900",
    # a Prefect API request that hangs is retried by Prefect's client after this many seconds (default 60): in
    # full-suite runs on a slow machine a request to the embedded server now and then got no answer, and each
    # such hang cost a minute (once a test's own 60 s HTTP timeout)
    "PREFECT_API_REQUEST_TIMEOUT": "20",
})
# S3 is a moto server on loopback (started first by a session fixture); every process of the platform
# (worker and flow runs included) finds it through AWS_ENDPOINT_URL
MOTO_PORT = free_port()
os.environ.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                   "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{MOTO_PORT}"})
os.environ.pop("AWS_PROFILE", None)
for var in ("INFERLOOP_STORAGE_URL", "INFERLOOP_DATABASE_URL", "INFERLOOP_AUTH_DISABLED"):
    os.environ.pop(var, None)


def _postgres_schema(url: str) -> tuple[str | None, str | None]:
    """A fresh schema on the PostgreSQL at `url` (dropped at exit): (database URL, None) or (None, skip reason)."""
    import atexit
    import uuid

    import sqlalchemy as sa

    schema = f"inferloop_test_{uuid.uuid4().hex[:10]}"
    try:
        eng = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with eng.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # no server here: the PostgreSQL variant is skipped, saying why
        return None, f"PostgreSQL at {url} is not reachable ({type(exc).__name__}: {str(exc).splitlines()[0]})"

    def drop() -> None:
        with eng.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        eng.dispose()

    atexit.register(drop)
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options=-csearch_path%3D{schema}", None


# INFERLOOP_TEST_DATABASE_URL=postgresql+psycopg://... runs the suite's metadata store on PostgreSQL
# (in a throw-away schema); .ci/run uses it for the registry tests. Without a server they are skipped.
POSTGRES_SKIP_REASON: str | None = None
if os.environ.get("INFERLOOP_TEST_DATABASE_URL"):
    _url, POSTGRES_SKIP_REASON = _postgres_schema(os.environ["INFERLOOP_TEST_DATABASE_URL"])
    if _url:
        os.environ["INFERLOOP_DATABASE_URL"] = _url

from inferloop.runtime.embedded import ApiThread, apply_env  # noqa: E402
from inferloop.core.settings import get_settings  # noqa: E402

get_settings.cache_clear()
apply_env(get_settings())


def ApiServer(app):  # noqa: N802  (reads like the class it returns)
    """The API over real HTTP on a port never handed out before in this session."""
    return ApiThread(app, port=free_port())
