"""Tabular REST API (tabular-api.md, /api/tabular and /api/tabular/v1) and SynthGen API (synthgen-api.md,
/api/synthgen): routers and their services."""

from fastapi import APIRouter


def router() -> APIRouter:
    """Every /api/tabular route (included under both prefixes in api/main.py)."""
    from api.tabular import (auth, batch, constraints, download, generate, jobs, models, multitable, privacy,
                             profile, stream, uploads, usage, validate, webhooks)

    r = APIRouter()
    for module in (generate, jobs, uploads, download, webhooks, usage, auth, profile, privacy, validate,
                   constraints, stream, batch, models, multitable):
        r.include_router(module.router)
    return r
