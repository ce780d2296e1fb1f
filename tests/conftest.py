"""Test fixtures: a real Prefect server, process work pool and worker on 127.0.0.1, and the API over HTTP.

The environment is set here, before anything imports Prefect, so that this process, the server, the
worker and the flow runs all share one temporary INFERLOOP_HOME.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


TEST_HOME = Path(tempfile.mkdtemp(prefix="inferloop-test-"))
API_KEY = "test-key-1"
OTHER_KEY = "test-key-2"
os.environ.update({
    "INFERLOOP_HOME": str(TEST_HOME),
    "INFERLOOP_PREFECT_PORT": str(free_port()),
    "INFERLOOP_API_KEYS": f"{API_KEY},{OTHER_KEY}",
    "INFERLOOP_WORK_POOL": "test-gpu",
    "INFERLOOP_MAX_UPLOAD_MB": "5",
    "INFERLOOP_MAX_ROWS": "100000",
})
# S3 is a moto server on loopback (started by the s3_bucket fixture); every process of the platform
# (worker and flow runs included) finds it through AWS_ENDPOINT_URL
MOTO_PORT = free_port()
os.environ.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                   "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{MOTO_PORT}"})
os.environ.pop("AWS_PROFILE", None)
for var in ("INFERLOOP_STORAGE_URL", "INFERLOOP_DATABASE_URL", "INFERLOOP_AUTH_DISABLED"):
    os.environ.pop(var, None)

from inferloop.embedded import EmbeddedPlatform, apply_env  # noqa: E402
from inferloop.settings import get_settings  # noqa: E402

get_settings.cache_clear()
apply_env(get_settings())


@pytest.fixture(scope="session")
def settings():
    return get_settings()


@pytest.fixture(scope="session")
def prefect_platform(settings):
    """A Prefect server with its work pool, deployments and one process worker."""
    platform = EmbeddedPlatform(settings)
    try:
        platform.start()
    except Exception:
        platform.stop()
        raise
    yield platform
    drain_prefect_clients()
    platform.stop()


def drain_prefect_clients() -> None:
    """Send this process's pending logs and events before the server goes (else exit waits on retries)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogHandler, APILogWorker

    try:
        APILogHandler().flush()
    except Exception:
        pass
    for worker_cls in (APILogWorker, EventsWorker):
        try:
            worker_cls.drain_all(timeout=10)
        except Exception:
            pass


@pytest.fixture(scope="session")
def s3_bucket():
    """A bucket on a moto S3 server on 127.0.0.1 (reached through s3fs like real S3)."""
    import boto3
    import s3fs
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=MOTO_PORT, verbose=False)
    server.start()
    boto3.client("s3").create_bucket(Bucket="inferloop-test")
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        yield "s3://inferloop-test"
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()


class ApiServer:
    """uvicorn serving an app in a background thread on a free port (real HTTP)."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        end = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > end or not self.thread.is_alive():
                raise RuntimeError("API server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture(scope="session")
def api(prefect_platform, settings):
    """Base URL of the API, backed by the real platform."""
    from api.main import create_app

    with ApiServer(create_app(settings)) as server:
        yield server.url


@pytest.fixture(scope="session")
def api_no_prefect(settings):
    """The API alone (for input validation that must stop before any flow run is created)."""
    from api.main import create_app

    with ApiServer(create_app(settings)) as server:
        yield server.url


@pytest.fixture()
def client_headers():
    return {"X-API-Key": API_KEY}
