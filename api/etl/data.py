"""Data operations and AI services: POST /data/profile, GET /data/preview, POST /data/query, POST /nl-query,
POST /storage/recommend.

Queries run read-only with a time limit. /data/query and /nl-query accept only one SELECT (sqlglot AST check);
/nl-query's SQL comes from the deterministic parser (tasks/etl/nl.py) and is checked against the source's real
schema before it is estimated or run.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.deps import SettingsDep
from api.etl.deps import EtlOwner
from inferloop.core.errors import InferloopError
from inferloop.core.settings import Settings
from tasks.etl import advice, nl, sqlguard, store
from tasks.etl import profile as profiling

router = APIRouter(tags=["etl: data"])


def owned(owner: str, connector_id: str, settings: Settings, field: str = "source"):
    try:
        row = store.get_connector(connector_id, owner)
    except InferloopError as exc:
        exc.field = exc.field or field
        raise
    return row, store.connector_of(row, settings)


class ProfileRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = Field(description="connector id")
    table: str = Field(min_length=1, max_length=256)
    sample_size: int = Field(1000, ge=1, le=100_000)


@router.post("/data/profile", summary="Profile a table of a connector")
async def profile(body: ProfileRequest, owner: EtlOwner, settings: SettingsDep):
    def work():
        row, c = owned(owner, body.source, settings)
        return {"source": row.id, **profiling.profile(c, body.table, body.sample_size)}
    return await run_in_threadpool(work)


@router.get("/data/preview", summary="The first rows of a table")
async def preview(owner: EtlOwner, settings: SettingsDep, source: Annotated[str, Query(max_length=64)],
                  table: Annotated[str, Query(min_length=1, max_length=256)],
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100):
    def work():
        row, c = owned(owner, source, settings)
        return {"source": row.id, **profiling.preview(c, table, limit)}
    return await run_in_threadpool(work)


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str
    sql: str = Field(max_length=100_000)
    params: dict[str, Any] = Field(default_factory=dict)
    limit: int = Field(100, ge=1, le=1000)


def run_select(c, sql: str, limit: int) -> dict:
    started = time.perf_counter()
    data = c.read_table(sql, limit + 1)
    truncated = data.num_rows > limit
    data = data.slice(0, limit)
    return {"columns": [{"name": f.name, "type": str(f.type)} for f in data.schema],
            "rows": profiling.rows_of(data), "row_count": data.num_rows, "truncated": truncated,
            "elapsed_ms": round((time.perf_counter() - started) * 1000, 1)}


@router.post("/data/query", summary="Run one read-only SELECT (anything that writes is refused)")
async def query(body: QueryRequest, owner: EtlOwner, settings: SettingsDep):
    def work():
        row, c = owned(owner, body.source, settings)
        sql = sqlguard.checked_select(body.sql, c.dialect, c.sqlglot_schema(), c.label, params=body.params)
        return {"source": row.id, "sql": sql, **run_select(c, sql, body.limit)}
    return await run_in_threadpool(work)


class NLSchema(BaseModel):
    tables: list[str] = Field(default_factory=list, max_length=200)


class NLQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(max_length=2000)
    schema_: NLSchema = Field(default_factory=NLSchema, alias="schema")
    source: str | None = Field(None, description="connector id (default: the one whose tables the schema names)")
    execute: bool = Field(False, description="also run the query and return its rows")
    limit: int = Field(100, ge=1, le=1000)


class Schemas:
    """Each connector's schema read once per request."""

    def __init__(self, owner: str, settings: Settings):
        self.owner, self.settings = owner, settings
        self.rows = {r.id: r for r in store.owner_connectors(owner)}
        self.cache: dict[str, dict] = {}

    def infos(self) -> list[nl.ConnectorInfo]:
        return [nl.ConnectorInfo(r.id, r.name, r.type, r.role, str(r.config.get("url", "")).startswith("s3://"))
                for r in self.rows.values()]

    def connector(self, cid: str):
        return store.connector_of(self.rows[cid], self.settings)

    def schema(self, info: nl.ConnectorInfo) -> dict:
        if info.id not in self.cache:
            self.cache[info.id] = self.connector(info.id).sqlglot_schema()
        return self.cache[info.id]

    def dialect(self, info: nl.ConnectorInfo) -> str:
        return self.connector(info.id).dialect


def choose_source(s: Schemas, source: str | None, tables: list[str]) -> nl.ConnectorInfo | None:
    infos = {i.id: i for i in s.infos()}
    if source:
        if source not in infos:
            raise InferloopError("NOT_FOUND", f"connector '{source}' was not found", "source", status=404)
        return infos[source]
    if not tables:
        return None
    fitting = []
    for info in infos.values():
        if info.role == "target":
            continue
        try:
            if all(t in s.schema(info) for t in tables):
                fitting.append(info)
        except InferloopError:
            continue
    if len(fitting) == 1:
        return fitting[0]
    if not fitting:
        raise InferloopError("INVALID_REQUEST", f"no connector of yours has the table(s) {', '.join(tables)}",
                             "schema.tables")
    raise InferloopError("INVALID_REQUEST", "several connectors have those tables: "
                         f"{', '.join(i.id for i in fitting)}; name one in 'source'", "source")


def understand(text: str, s: Schemas, *, allow_target: bool, field: str, default_source=None,
               tables: list[str] | None = None) -> nl.Understood:
    """The deterministic parser; the optional LLM plug-in (off by default) only for what it did not understand."""
    try:
        return nl.understand(text, s.infos(), s.schema, s.dialect, allow_target=allow_target,
                             default_source=default_source, field_name=field, restrict_tables=tables)
    except InferloopError as exc:
        plugin = nl.load_plugin(s.settings.etl_llm_plugin)
        if plugin is None or "could not understand" not in exc.message or default_source is None:
            raise
        proposal = plugin(text, {"source": default_source.id, "schema": s.schema(default_source),
                                 "dialect": s.dialect(default_source)})
        sql = sqlguard.checked_select(proposal.get("sql", ""), s.dialect(default_source), s.schema(default_source),
                                      default_source.id, field=field)
        cron = proposal.get("schedule")
        plan = nl.Plan(source=default_source, target_table=proposal.get("target_table"),
                       cron=nl.check_cron(cron, field) if cron else None, load_mode=proposal.get("load_mode"))
        plan.understood.append("proposed by the NL plug-in")
        return nl.Understood(sql, plan, default_source, None, proposal.get("explanation") or "")


@router.post("/nl-query", summary="Natural language to SQL, checked against the source's real schema")
async def nl_query(body: NLQuery, owner: EtlOwner, settings: SettingsDep):
    def work():
        s = Schemas(owner, settings)
        src = choose_source(s, body.source, body.schema_.tables)
        u = understand(body.question, s, allow_target=False, field="question", default_source=src,
                       tables=body.schema_.tables or None)
        c = s.connector(u.source.id)
        sql = sqlguard.checked_select(u.sql, c.dialect, s.schema(u.source), c.label, field="question")
        rows, ms = c.estimate(sql)
        out = {"sql": u.sql, "explanation": u.explanation, "estimated_rows": rows, "estimated_time_ms": ms,
               "source": u.source.id, "dialect": c.dialect, "understood": u.plan.understood}
        if body.execute:
            out["result"] = run_select(c, sql, body.limit)
        return out
    return await run_in_threadpool(work)


class StorageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data_profile: dict[str, Any]


@router.post("/storage/recommend", summary="Storage recommendation for a data profile (rules, offline)")
async def storage_recommend(body: StorageRequest, owner: EtlOwner):
    return advice.recommend(body.data_profile)
