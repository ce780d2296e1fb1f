"""The FastAPI facade: /api/tabular (and /api/tabular/v1), /api/synthgen, /api/v1; request ids, error envelopes."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

from api import health, openapi_schemas, tabular, watcher
from api.errors import install_error_handlers
from api.tabular import synthgen
from api.v1 import V1_PREFIX, v1_router
from inferloop import __version__
from inferloop.core import db
from inferloop.core.ratelimit import rate_headers
from inferloop.core.settings import Settings, get_settings

TABULAR_PREFIXES = ("/api/tabular", "/api/tabular/v1")


def create_app(settings: Settings | None = None, *, run_watcher: bool = True) -> FastAPI:
    """The app; `run_watcher` starts the background watcher (final states -> webhooks, deferred cancels)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        db.migrate(settings.database)
        task = asyncio.create_task(watcher.run_forever(settings, settings.public_url.rstrip("/"))) \
            if run_watcher else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(title="Inferloop Tabular API", version=__version__, lifespan=lifespan,
                  description="Synthetic tabular data; every operation is a Prefect flow run.")
    app.state.settings = settings

    @app.middleware("http")
    async def request_ids(request: Request, call_next):
        rid = request.headers.get("x-request-id") or f"req-{uuid.uuid4()}"
        request.state.request_id = rid
        response = await call_next(request)
        response.headers["X-Request-ID"] = rid
        rate = getattr(request.state, "rate", None)
        if rate is not None:
            for name, value in rate_headers(rate).items():
                response.headers.setdefault(name, value)
        return response

    def openapi() -> dict:  # the generated document, with the nested models of hand-documented bodies
        if app.openapi_schema is None:
            app.openapi_schema = openapi_schemas.add_to(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi
    install_error_handlers(app)
    app.include_router(health.router)
    for i, prefix in enumerate(TABULAR_PREFIXES):
        app.include_router(tabular.router(), prefix=prefix, include_in_schema=(i == 0))
    app.include_router(synthgen.router)
    app.include_router(v1_router(), prefix=V1_PREFIX)
    return app


app = create_app  # uvicorn --factory api.main:app
