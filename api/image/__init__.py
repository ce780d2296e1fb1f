"""Synthetic image API (image-api.md): routers of /api/v1 generate, validate, profiles, export, WebSocket."""

from fastapi import APIRouter


def router() -> APIRouter:
    """Every image route, included once in api/v1.py."""
    from api.image import export, generate, profiles, validate, ws

    r = APIRouter()
    for module in (generate, validate, profiles, export, ws):
        r.include_router(module.router)
    return r
