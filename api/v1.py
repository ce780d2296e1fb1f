"""The /api/v1 systems (image-api.md, context-api.md, etl-api.md): one package each, on the shared platform.

Each system's routers live in its package (api/image/, api/context/, api/etl/); its errors answer in its own
document's envelope (api.errors.MODULE_STYLES). The jobs of every /api/v1 system are listed and managed at
/api/v1/jobs (api/v1_jobs.py).
"""

from __future__ import annotations

from fastapi import APIRouter

from api import context, etl, image, v1_jobs

V1_PREFIX = "/api/v1"


def v1_router() -> APIRouter:
    r = APIRouter()
    r.include_router(v1_jobs.router)
    for system in (image, context, etl):
        r.include_router(system.router())
    return r
