"""Synthetic Data Solution API (context-api.md): routers of /api/v1 context analysis, generation and job exports."""

from fastapi import APIRouter


def router() -> APIRouter:
    """Every context route, included once in api/v1.py."""
    from api.context import generation, jobs

    r = APIRouter()
    for module in (generation, jobs):
        r.include_router(module.router)
    return r
