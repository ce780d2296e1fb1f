"""Connectors: GET/POST /connectors, GET/DELETE /connectors/{id}, POST /connectors/{id}/test,
GET /connectors/{id}/schema, POST /connectors-ai/configure.

A connector is stored only after a real connection and a trivial query succeeded (unreachable host, wrong
password: 400, nothing stored). Credentials are encrypted at rest and never returned.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.deps import SettingsDep
from api.etl.deps import EtlOwner, PageDep, iso, paginate
from inferloop.core import db
from inferloop.core.errors import InferloopError
from inferloop.core.settings import Settings
from tasks.etl import connectors as conns
from tasks.etl import nl, store

router = APIRouter(tags=["etl: connectors"])

LABELS = {"postgresql": "PostgreSQL", "mysql": "MySQL / MariaDB", "sqlite": "SQLite",
          "csv": "CSV files (local or s3://)", "parquet": "Parquet files (local or s3://)"}


def connector_view(row: store.EtlConnector) -> dict:
    from tasks.etl import secrets as secret_box

    secrets = secret_box.decrypt(row.secret) if row.secret else {}
    return {"connector_id": row.id, "name": row.name, "type": row.type, "role": row.role,
            "description": row.description, "configuration": conns.masked(row.type, row.config, secrets),
            "test_status": (row.last_test or {}).get("status"), "last_test": row.last_test,
            "created_at": iso(row.created_at)}


def available_types() -> list[dict]:
    return [{"type": t, "label": LABELS[t], "roles": ["source", "target"],
             "required": list(conns.SPECS[t].required), "defaults": conns.SPECS[t].defaults,
             "credentials": list(conns.SPECS[t].secrets)} for t in conns.TYPES]


def test_connector(c: conns.Connector) -> dict:
    """A real connection and a trivial query; 400 with the server's reason when it fails."""
    try:
        result = c.test()
    except InferloopError:
        raise
    except Exception as exc:
        raise InferloopError("INVALID_REQUEST", f"connection test of {c.label} failed: {conns.first_line(exc)}",
                             "configuration")
    return {"status": "success", **result, "tested_at": iso(db.utcnow())}


def configure(owner: str, ctype: str, configuration: dict, credentials: dict, settings: Settings, *, name: str,
              role: str, description: str) -> store.EtlConnector:
    config, secrets = conns.normalize_config(ctype, configuration, credentials, settings)
    c = conns.make(ctype, config, secrets, settings)
    result = test_connector(c)
    return store.add_connector(owner, ctype, config, secrets, name=name, role=role, description=description,
                               last_test=result, settings=settings)


class ConnectorCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field("", max_length=256)
    type: str = Field(description="postgresql, mysql (or mariadb), sqlite, csv, parquet")
    role: Literal["source", "target", "both"] = "both"
    description: str = Field("", max_length=2000)
    configuration: dict[str, Any] = Field(default_factory=dict)
    credentials: dict[str, Any] = Field(default_factory=dict, description="password, aws keys: stored encrypted")


@router.get("/connectors", summary="List available connector types and the caller's connectors")
async def list_connectors(request: Request, response: Response, owner: EtlOwner, page: PageDep):
    rows, total = await run_in_threadpool(store.list_connectors, owner, page.offset, page.per_page)
    return {"connectors": [connector_view(r) for r in rows], "available_types": available_types(),
            **paginate(request, response, page, total)}


@router.post("/connectors", status_code=201, summary="Configure a connector explicitly (tested before it is stored)")
async def create_connector(body: ConnectorCreate, owner: EtlOwner, settings: SettingsDep):
    ctype = conns.canonical_type(body.type)
    row = await run_in_threadpool(configure, owner, ctype, body.configuration, body.credentials, settings,
                                  name=body.name, role=body.role, description=body.description)
    return connector_view(row)


class AiConfigure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = Field(max_length=2000)
    type: Literal["source", "target", "both"] = "source"
    hints: dict[str, Any] = Field(default_factory=dict)
    credentials: dict[str, Any] = Field(default_factory=dict)
    name: str = Field("", max_length=256)


@router.post("/connectors-ai/configure", summary="Configure a connector from a description (read offline)")
async def ai_configure(body: AiConfigure, owner: EtlOwner, settings: SettingsDep):
    ctype, conf, notes = nl.connector_from_text(body.description, body.hints)
    row = await run_in_threadpool(configure, owner, ctype, conf, body.credentials, settings,
                                  name=body.name or f"{ctype} {body.type}", role=body.type,
                                  description=body.description)
    view = connector_view(row)
    return {"connector_id": row.id, "type": row.type, "configuration": view["configuration"],
            "test_status": "success", "test": row.last_test, "inferred": notes, "role": row.role,
            "name": row.name}


@router.get("/connectors/{connector_id}", summary="One connector (credentials never shown)")
async def get_connector(connector_id: str, owner: EtlOwner):
    return connector_view(await run_in_threadpool(store.get_connector, connector_id, owner))


@router.delete("/connectors/{connector_id}", summary="Delete a connector no pipeline uses")
async def delete_connector(connector_id: str, owner: EtlOwner):
    await run_in_threadpool(store.delete_connector, connector_id, owner)
    return {"message": "Connector deleted", "connector_id": connector_id}


@router.post("/connectors/{connector_id}/test", summary="Connect and run a trivial query")
async def test(connector_id: str, owner: EtlOwner, settings: SettingsDep):
    def work():
        row = store.get_connector(connector_id, owner)
        try:
            result = test_connector(store.connector_of(row, settings))
        except InferloopError as exc:
            store.record_test(row.id, {"status": "failed", "error": exc.message})
            raise
        store.record_test(row.id, result)
        return {"connector_id": row.id, "type": row.type, "test_status": "success", **result}
    return await run_in_threadpool(work)


@router.get("/connectors/{connector_id}/schema", summary="Tables and columns the connector sees")
async def schema(connector_id: str, owner: EtlOwner, settings: SettingsDep):
    def work():
        row = store.get_connector(connector_id, owner)
        tables = store.connector_of(row, settings).schema()
        return {"connector_id": row.id, "tables": [
            {"name": t, "columns": [{"name": c.name, "type": c.type, "nullable": c.nullable} for c in cols]}
            for t, cols in sorted(tables.items())]}
    return await run_in_threadpool(work)
