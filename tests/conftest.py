"""Test fixtures: a real Prefect server, process work pool and worker on 127.0.0.1, and the API over HTTP."""

from __future__ import annotations

import pytest

from tests.support import API_KEY, MOTO_PORT, POSTGRES_SKIP_REASON, ApiServer  # sets the test environment first
from inferloop.runtime.embedded import EmbeddedPlatform, drain_prefect_clients  # noqa: E402
from inferloop.core.settings import get_settings  # noqa: E402


def pytest_collection_modifyitems(config, items):
    """The PostgreSQL variant (INFERLOOP_TEST_DATABASE_URL) is skipped as a whole when its server is absent."""
    if POSTGRES_SKIP_REASON:
        for item in items:
            item.add_marker(pytest.mark.skip(reason=POSTGRES_SKIP_REASON))


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


@pytest.fixture(scope="session", autouse=True)
def moto_server():
    """A moto S3 server on 127.0.0.1, started first so that no other socket takes its port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=MOTO_PORT, verbose=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_bucket(moto_server):
    """A bucket on the moto server (reached through s3fs like real S3)."""
    import boto3
    import s3fs

    boto3.client("s3").create_bucket(Bucket="inferloop-test")
    s3fs.S3FileSystem.clear_instance_cache()
    yield "s3://inferloop-test"
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(scope="session")
def api(prefect_platform, settings):
    """Base URL of the API, backed by the real platform."""
    from api.main import create_app

    with ApiServer(create_app(api_settings(settings))) as server:
        yield server.url


def api_settings(settings):
    """The e2e API's settings: webhook receivers run on 127.0.0.1 here, and retries are quick."""
    return settings.model_copy(update={"webhook_allow_private": True, "webhook_backoff_seconds": 0.5,
                                       "watcher_interval_seconds": 0.5})


@pytest.fixture(scope="session")
def api_no_prefect(settings):
    """The API alone (for input validation that must stop before any flow run is created)."""
    from api.main import create_app

    with ApiServer(create_app(settings, run_watcher=False)) as server:
        yield server.url


@pytest.fixture()
def client_headers():
    return {"X-API-Key": API_KEY}
