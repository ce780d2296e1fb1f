"""ETL pipeline API (etl-api.md): routers of /api/v1 pipelines, runs, connectors, data, NL query, auth, metrics."""

from fastapi import APIRouter


def router() -> APIRouter:
    """Every ETL route, included once in api/v1.py."""
    from api.etl import auth, connectors, data, ops, pipelines, runs

    r = APIRouter()
    for sub in (auth.router, pipelines.router, runs.router, connectors.router, data.router, ops.router):
        r.include_router(sub)
    return r
