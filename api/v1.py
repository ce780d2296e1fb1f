"""The /api/v1 systems (image-api.md, context-api.md, etl-api.md): one router each, on the shared platform.

Each system lives in its own router module(s) (api/routers/image*.py, context*.py, etl*.py); its errors answer
in its own document's envelope (api.errors.MODULE_STYLES). The jobs of every /api/v1 system are listed and
managed at /api/v1/jobs (api/routers/v1_jobs.py).
"""

from __future__ import annotations

from fastapi import APIRouter

from api.routers import v1_jobs

V1_PREFIX = "/api/v1"


def v1_router() -> APIRouter:
    r = APIRouter()
    r.include_router(v1_jobs.router)
    # image (issue 13)
    from api.routers import image, image_export, image_profiles, image_validate, image_ws

    for module in (image, image_validate, image_profiles, image_export, image_ws):
        r.include_router(module.router)

    # context (issue 14)
    from api.routers import context, context_jobs

    r.include_router(context.router)
    r.include_router(context_jobs.router)

    # etl (issue 15)
    from api.routers import etl
    r.include_router(etl.etl_router())

    return r
