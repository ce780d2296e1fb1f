"""Multi-table generation: POST /multitable/generate and POST /multitable/models/{id}/generate.

The router checks the schema (table names, relationships, cycles, method, orphan mode, scale factor) and
resolves every table's URL; the `multitable` flow checks the data (columns, key types, unique keys, orphans)
before it trains, so those 400s come back as the flow's own error, and chooses the method for `auto`
(tasks.tabular.multitable.cost). Both endpoints wait like POST /generate: 202 with the job at once when the run's
estimate (known when every table's size is: uploads) exceeds the sync time limit, else up to that limit,
then 504 TIMEOUT with the job id (GET /jobs/{id} shows the same result later). Tables download one by one
at GET /download/{generation_id}/{table}.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from fastapi import APIRouter, Request
from prefect.client.schemas.objects import FlowRun
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api import dispatch
from api.tabular import ydata
from api.tabular.data_urls import resolve_data_url
from api.openapi_schemas import body_schema
from api.deps import CurrentPrincipal, SettingsDep
from api.jobs import failure_error, start_job
from api.tabular.multitable_results import finalize_multitable_model, job_result
from api.sync_jobs import EARLY_ANSWER, early_answer, wait_for_run
from api.uploads import store_upload
from inferloop.core import db, registry, storage
from inferloop.core.errors import InferloopError, invalid_request
from tasks.tabular.estimates import RUN_OVERHEAD_S
from inferloop.core.ratelimit import check_generation
from inferloop.core.settings import Settings
from tasks.tabular.tables import validate_upload
from tasks.tabular.multitable.checks import orphan_mode
from tasks.tabular.multitable.cost import estimate_multitable_seconds, method_choice, sampling_seconds
from tasks.tabular.multitable.schema import check_method, parse_schema
from tasks.tabular.synthesizers import resolve

router = APIRouter(tags=["multitable"])


class TableSource(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="s3://bucket/key, upload://<upload_id>, a path under an allowed root, or https://")


class RelationshipSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parent: str
    child: str
    parent_key: str = Field(description="the parent's primary key column")
    child_key: str = Field(description="the child's foreign key column")
    type: Literal["one_to_many", "one_to_one"] = "one_to_many"


class MultitableRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    tables: dict[str, TableSource] = Field(description="table name -> its data")
    relationships: list[RelationshipSpec] = Field(default_factory=list)
    algorithm: str = Field("sdv", description="sdv (gaussian_copula by default), ctgan or tabular_argn")
    parameters: dict[str, Any] = Field(default_factory=dict, description="algorithm parameters, as POST /generate")
    scale_factor: float = Field(1.0, description="output rows per input row of each root table (> 0)")
    seed: int | None = Field(None, ge=0, lt=2**32)
    method: Literal["auto", "hma", "parent_first"] = Field(
        "auto", description="auto: SDV's HMA when it accepts the schema (<= 5 related tables, depth <= 2, "
                            "gaussian_copula) and is predicted to take at most 60 s, else parent_first")
    primary_keys: dict[str, str] = Field(default_factory=dict,
                                         description="primary keys of tables that are no relationship's parent")
    orphans: Literal["error", "drop", "null"] | None = Field(
        None, description="rows whose foreign key has no parent: error (400 with counts, the default), drop "
                          "them, or null (keep them with that foreign key empty)")
    drop_orphans: bool = Field(False, description="the older spelling of orphans: drop")
    save_model: bool = Field(False, description="store the fitted multi-table model in the model registry")
    model_name: str | None = Field(None, max_length=256)


class MultitableSampleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scale_factor: float = Field(1.0, description="output rows per training row of each root table (> 0)")
    seed: int | None = Field(None, ge=0, lt=2**32)


_FORM_JSON = ("relationships", "parameters", "primary_keys")
_FORM_TEXT = ("algorithm", "scale_factor", "seed", "method", "orphans", "drop_orphans", "save_model",
              "model_name")


@router.post("/multitable/generate", summary="Generate related tables keeping their relationships (waits)",
             responses=EARLY_ANSWER,
             openapi_extra={"requestBody": {"content": {
                 "application/json": {"schema": body_schema(MultitableRequest)},
                 "multipart/form-data": {"schema": {"type": "object", "description": (
                     "one file part per table (the part's name is the table's name); relationships, "
                     "parameters and primary_keys as JSON text"), "properties": {
                         "relationships": {"type": "string"}, "algorithm": {"type": "string"},
                         "scale_factor": {"type": "number"}, "seed": {"type": "integer"},
                         "method": {"type": "string"}, "parameters": {"type": "string"},
                         "primary_keys": {"type": "string"}, "orphans": {"type": "string"},
                         "drop_orphans": {"type": "boolean"},
                         "save_model": {"type": "boolean"}, "model_name": {"type": "string"}}}}}}})
async def generate_multitable(request: Request, principal: CurrentPrincipal, settings: SettingsDep):
    owner = principal.owner
    job_id = db.new_id("multi")
    job_dir = storage.run_dir(job_id)
    multipart = request.headers.get("content-type", "").startswith("multipart/form-data")
    if multipart:
        form = await request.form()
        body = _form_body(form)
    else:
        body = await _json_body(request)
    scale = check_scale(body.scale_factor)
    model_key, params = resolve(body.algorithm, body.parameters)
    if ydata.is_ydata(body.algorithm):
        raise InferloopError("ALGORITHM_ERROR", "Algorithm 'ydata' is not available for multi-table generation "
                             "(its models run in their own environment, one table at a time); use sdv, ctgan or "
                             "tabular_argn", "algorithm")
    schema = parse_schema(body.tables, [r.model_dump() for r in body.relationships], body.primary_keys)
    check_method(schema, model_key, body.method)
    orphans = orphan_mode(body.orphans, body.drop_orphans)
    name = _model_name(body, list(body.tables)) if body.save_model else None
    try:
        if multipart:
            sources = await _store_uploads(form, list(body.tables), job_dir, settings)
        else:
            sources = {}
            for table, src in body.tables.items():
                uri, fmt, known = await run_in_threadpool(resolve_data_url, src.url, owner, settings,
                                                          f"tables.{table}.url")
                sources[table] = {"uri": uri, "format": fmt, "rows": known.get("rows"),
                                  "columns": known.get("columns")}
        rows = int(sum((s.get("rows") or 0) for s in sources.values()) * scale)
        await run_in_threadpool(check_generation, principal, settings, rows)
    except Exception:
        await run_in_threadpool(storage.remove, job_dir)
        raise

    method, estimate = body.method, None
    shapes = {t: (s.get("rows"), s.get("columns")) for t, s in sources.items()}
    if all(rows and cols for rows, cols in shapes.values()):  # sizes known (uploads): choose and estimate now
        method = method_choice(schema, model_key, params, body.method, shapes, scale)["method"]
        estimate = estimate_multitable_seconds(schema, model_key, params, body.method, shapes, scale)
    parameters = {"tables": {t: {"uri": s["uri"], "format": s["format"]} for t, s in sources.items()},
                  "relationships": [r.model_dump() for r in body.relationships], "algorithm": body.algorithm,
                  "parameters": params, "scale_factor": scale, "seed": body.seed, "method": body.method,
                  "primary_keys": body.primary_keys, "orphans": orphans, "save_model": body.save_model}
    model_id = db.new_id("model") if body.save_model else None
    records = []
    if model_id:
        parameters["model_id"] = model_id
        records = [_model_record(model_id, owner, name, body.algorithm, method, params, job_id, schema.to_dict(),
                                 body.seed, scale)]
    fr = await start_job("multitable", "multitable", parameters, owner, job_id=job_id, tags=["sync", "multitable"],
                         options={"scale_factor": scale, "method": method, "seed": body.seed, "model_id": model_id,
                                  "orphans": orphans, "estimated_time": estimate},
                         records=records, algorithm=body.algorithm, model_id=model_id)
    return await _answer(job_id, fr, settings, estimate)


@router.post("/multitable/models/{model_id}/generate", responses=EARLY_ANSWER,
             summary="Generate related tables again from a saved multi-table model (waits)")
async def generate_from_multitable_model(model_id: str, body: MultitableSampleRequest,
                                         principal: CurrentPrincipal, settings: SettingsDep):
    from api.tabular.models_service import current_model

    scale = check_scale(body.scale_factor)
    model = await current_model(model_id, principal.owner)
    if not (model.model_key or "").startswith("multitable:"):
        raise invalid_request(f"model '{model_id}' is a single-table model: generate with "
                              f"POST /api/tabular/models/{model_id}/generate", "model_id")
    registry.require_ready(model)
    meta = model.model_metadata or {}
    seed = body.seed if body.seed is not None else meta.get("seed")
    rows = int(sum(t.get("rows", 0) for t in (meta.get("tables") or {}).values()) * scale)
    await run_in_threadpool(check_generation, principal, settings, rows)
    estimate = _sampling_estimate(meta, scale)
    job_id = db.new_id("multi")
    fr = await start_job("multitable", "multitable_sample",
                         {"model_uri": model.artifact_uri, "scale_factor": scale, "seed": seed, "model_id": model.id},
                         principal.owner, job_id=job_id, tags=["sync", "multitable"],
                         options={"scale_factor": scale, "seed": seed, "model_id": model.id,
                                  "sampled_from_model": True, "estimated_time": estimate},
                         algorithm=model.algorithm, model_id=model.id)
    await run_in_threadpool(registry.touch, model.id)
    return await _answer(job_id, fr, settings, estimate)


def _sampling_estimate(meta: dict, scale: float) -> int | None:
    """Seconds to sample a saved multi-table model again, from its stored tables and relationships."""
    tables = meta.get("tables") or {}
    try:
        schema = parse_schema(list(tables), meta.get("relationships") or [], meta.get("primary_keys") or {})
        shapes = {t: (int(v["rows"]), len(v["columns"])) for t, v in tables.items()}
    except (InferloopError, KeyError, TypeError, ValueError):
        return None
    return int(RUN_OVERHEAD_S + sampling_seconds(schema, shapes, meta.get("method", "parent_first"), scale) + 1)


def check_scale(value: Any) -> float:
    """scale_factor must be a finite number above 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise invalid_request(f"scale_factor must be a number greater than 0, got {value!r}", "scale_factor")
    return float(value)


# ------------------------------------------------------------------------------------------ request bodies
async def _json_body(request: Request) -> MultitableRequest:
    try:
        raw = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise invalid_request(f"the body is not valid JSON: {exc}")
    return _validated(raw)


def _validated(raw: Any) -> MultitableRequest:
    try:
        return MultitableRequest.model_validate(raw)
    except ValueError as exc:
        errors = getattr(exc, "errors", list)()
        first = errors[0] if errors else {}
        field = ".".join(str(p) for p in first.get("loc", ())) or None
        raise invalid_request(f"{field}: {first.get('msg', exc)}" if field else str(exc), field)


def _form_body(form) -> MultitableRequest:
    """Multipart: each file part is a table named by its part; other parts are the JSON body's fields."""
    raw: dict[str, Any] = {"tables": {}}
    for key, value in form.multi_items():
        if hasattr(value, "filename"):
            raw["tables"][key] = {"url": "upload"}
        elif key in _FORM_JSON:
            try:
                raw[key] = json.loads(value) if value.strip() else None
            except json.JSONDecodeError as exc:
                raise invalid_request(f"{key} must be JSON: {exc}", key)
        elif key in _FORM_TEXT:
            raw[key] = value
        else:
            raise invalid_request(f"unknown form field '{key}' (tables are file parts)", key)
    if "scale_factor" in raw:
        try:
            raw["scale_factor"] = float(raw["scale_factor"])
        except ValueError:
            raise invalid_request(f"scale_factor must be a number, got {raw['scale_factor']!r}", "scale_factor")
    return _validated({k: v for k, v in raw.items() if v is not None and v != ""})


async def _store_uploads(form, tables: list[str], job_dir: str, settings: Settings) -> dict[str, dict]:
    """Store each table's file under the job's folder and read it once (bad files stop here)."""
    sources = {}
    for table in tables:
        uri, fmt = await store_upload(form.get(table), job_dir, table, settings.max_upload_mb)
        info = await run_in_threadpool(validate_upload, uri, fmt)
        sources[table] = {"uri": uri, "format": fmt, "rows": info["rows"], "columns": info["columns"]}
    return sources


def _model_name(body: MultitableRequest, tables: list[str]) -> str:
    name = (body.model_name or "").strip() or f"multitable: {', '.join(tables)}"
    return name[:256]


# ------------------------------------------------------------------------------------------ runs and jobs
async def _answer(job_id: str, fr: FlowRun, settings: Settings, estimate: float | None):
    """202 with the job when the estimate exceeds the sync limit; else wait for the run: the documented
    response, the flow's error, or 504 with the job id."""
    if (early := early_answer(job_id, estimate, settings, "multi-table generation",
                              {"generation_id": job_id})) is not None:
        return early
    fr = await wait_for_run(job_id, fr, settings, "multi-table generation")
    status = dispatch.public_status(fr)
    job = await run_in_threadpool(_job, job_id)
    await run_in_threadpool(finalize_multitable_model, job, fr, status)
    if status == "completed":
        return await run_in_threadpool(job_result, job)
    raise await run_in_threadpool(failure_error, str(fr.id), fr)


def _model_record(model_id: str, owner: str, name: str, algorithm: str, method: str, params: dict,
                  job_id: str, schema: dict, seed: int | None, scale: float) -> db.Model:
    """The registry record of the model a `save_model` run trains (status training until the run ends)."""
    return db.Model(id=model_id, owner=owner, name=name, algorithm=algorithm, model_key=f"multitable:{method}",
                    model_type="multitable", parameters=params, status="training", training_job_id=job_id,
                    description=f"multi-table model ({method}) of {', '.join(schema['tables'])}",
                    model_metadata={**schema, "method": method, "seed": seed, "scale_factor": scale})


def _job(job_id: str) -> db.Job:
    with db.session_scope() as s:
        return s.get(db.Job, job_id)
