"""The FastAPI facade: /api/tabular (and /api/tabular/v1), /api/synthgen, /api/v1; request ids, error envelopes."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request

from api.errors import install_error_handlers
from api.v1 import V1_PREFIX, v1_router
from api import watcher
from api.routers import auth, download, generate, health, jobs, uploads, usage, webhooks
from api.routers import profile
from api.routers import privacy
from api.routers import validate
from api.routers import constraints
from api.routers import stream
from api.routers import batch
from api.routers import models, synthgen
from api.routers import multitable
from inferloop import __version__, db
from inferloop.ratelimit import rate_headers
from inferloop.settings import Settings, get_settings

TABULAR_PREFIXES = ("/api/tabular", "/api/tabular/v1")


def tabular_router() -> APIRouter:
    r = APIRouter()
    r.include_router(generate.router)
    r.include_router(jobs.router)
    r.include_router(uploads.router)
    r.include_router(download.router)
    r.include_router(webhooks.router)
    r.include_router(usage.router)
    r.include_router(auth.router)
    r.include_router(profile.router)
    r.include_router(privacy.router)
    r.include_router(validate.router)
    r.include_router(constraints.router)
    r.include_router(stream.router)
    r.include_router(batch.router)
    r.include_router(models.router)
    r.include_router(multitable.router)
    return r


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

    install_error_handlers(app)
    app.include_router(health.router)
    for i, prefix in enumerate(TABULAR_PREFIXES):
        app.include_router(tabular_router(), prefix=prefix, include_in_schema=(i == 0))
    app.include_router(synthgen.router)
    app.include_router(v1_router(), prefix=V1_PREFIX)
    return app


app = create_app  # uvicorn --factory api.main:app
