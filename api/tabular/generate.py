"""POST /generate: upload -> validate -> flow run of `generate` on the work pool -> wait -> response."""

from __future__ import annotations

import json
from typing import Annotated

import yaml
from fastapi import APIRouter, File, Form, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from api import dispatch
from api.tabular import ydata
from api.deps import CurrentPrincipal, SettingsDep
from api.jobs import completed_generation, failure_error, start_job
from api.sync_jobs import EARLY_ANSWER, early_answer, wait_for_run
from api.uploads import store_upload
from inferloop.core import db, storage
from tasks.tabular.constraint_specs import check_columns_exist, constraints_for, load_constraint_file
from inferloop.core.errors import InferloopError
from tasks.tabular.estimates import estimate_seconds
from tasks.tabular.export_stream import FORMATS
from inferloop.core.ratelimit import check_generation
from tasks.tabular.tables import validate_upload
from tasks.tabular.synthesizers import resolve

router = APIRouter(tags=["generation"])

ALGORITHM_PARAMS = ("sdv_model", "default_distribution", "enforce_min_max", "epochs", "batch_size",
                    "embedding_dim", "discriminator_steps", "noise_dim", "layers_dim", "privacy_level",
                    "max_epochs", "max_training_time", "model_size",
                    "ydata_model", "learning_rate", "generator_lr", "discriminator_lr")


def parse_int(value: str | None, field: str, minimum: int | None = None, maximum: int | None = None) -> int | None:
    """Parse an optional integer form field with a clear error."""
    if value is None or str(value).strip() == "":
        return None
    try:
        n = int(str(value).strip())
    except ValueError:
        raise InferloopError("INVALID_REQUEST", f"{field} must be an integer, got '{value}'", field)
    if minimum is not None and n < minimum:
        raise InferloopError("INVALID_REQUEST", f"{field} must be at least {minimum}, got {n}", field)
    if maximum is not None and n > maximum:
        raise InferloopError("INVALID_REQUEST", f"{field} must be at most {maximum}, got {n}", field)
    return n


async def read_config(config: UploadFile | None) -> dict:
    """A config file (JSON or YAML mapping) supplies algorithm parameters; form fields win."""
    if config is None or not config.filename:
        return {}
    raw = await config.read(1 << 20)
    try:
        parsed = yaml.safe_load(raw.decode("utf-8")) if raw.strip() else {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InferloopError("INVALID_FILE", f"config is not valid JSON or YAML: {exc}", "config")
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        raise InferloopError("INVALID_FILE", "config must be a JSON/YAML object of parameters", "config")
    params = parsed.get("parameters", parsed)
    if not isinstance(params, dict):
        raise InferloopError("INVALID_FILE", "config 'parameters' must be an object", "config")
    return json.loads(json.dumps(params, default=str))


async def read_constraints(upload: UploadFile | None, constraint_id: str | None,
                           owner: str) -> list[dict] | None:
    """Constraints from an uploaded JSON file or a stored set (one way only), normalised; None if neither."""
    has_file = upload is not None and bool(upload.filename)
    constraint_id = (constraint_id or "").strip() or None
    if has_file and constraint_id:
        raise InferloopError("INVALID_REQUEST", "give constraints one way: a constraints file or a "
                             "constraint_id, not both", "constraints")
    if has_file:
        return load_constraint_file(await upload.read(1 << 20)) or None
    if constraint_id:
        return await run_in_threadpool(constraints_for, constraint_id, owner)
    return None


@router.post("/generate", summary="Generate synthetic data from an uploaded file (waits for the result)",
             responses=EARLY_ANSWER)
async def generate(
    request: Request,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    file: Annotated[UploadFile | None, File(description="Input data file (CSV, Parquet, JSON)")] = None,
    algorithm: Annotated[str, Form()] = "sdv",
    num_rows: Annotated[str | None, Form()] = None,
    format: Annotated[str, Form()] = "csv",
    seed: Annotated[str | None, Form()] = None,
    constraints: Annotated[UploadFile | None, File(description="Constraints JSON file (the body of "
                                                                "POST /constraints, or a list)")] = None,
    constraint_id: Annotated[str | None, Form(description="a stored set (POST /constraints)")] = None,
    config: Annotated[UploadFile | None, File()] = None,
    sdv_model: Annotated[str | None, Form()] = None,
    default_distribution: Annotated[str | None, Form()] = None,
    enforce_min_max: Annotated[str | None, Form()] = None,
    epochs: Annotated[str | None, Form()] = None,
    batch_size: Annotated[str | None, Form()] = None,
    embedding_dim: Annotated[str | None, Form()] = None,
    discriminator_steps: Annotated[str | None, Form()] = None,
    noise_dim: Annotated[str | None, Form()] = None,
    layers_dim: Annotated[str | None, Form()] = None,
    privacy_level: Annotated[str | None, Form()] = None,
    max_epochs: Annotated[str | None, Form(description="tabular_argn")] = None,
    max_training_time: Annotated[str | None, Form(description="tabular_argn: minutes")] = None,
    model_size: Annotated[str | None, Form(description="tabular_argn: S, M or L")] = None,
    ydata_model: Annotated[str | None, Form(description="ydata: ctgan, wgangp, cramer or dragan")] = None,
    learning_rate: Annotated[str | None, Form(description="ydata: both learning rates")] = None,
    generator_lr: Annotated[str | None, Form(description="ydata")] = None,
    discriminator_lr: Annotated[str | None, Form(description="ydata")] = None,
):
    # 1. validate everything that does not need the file
    rows = parse_int(num_rows, "num_rows", 1, settings.max_rows)
    seed_v = parse_int(seed, "seed", 0, 2**32 - 1)
    if format not in FORMATS:
        raise InferloopError("INVALID_REQUEST", f"format must be one of {', '.join(FORMATS)}", "format")
    specs = await read_constraints(constraints, constraint_id, principal.owner)
    params = await read_config(config)
    form_values = dict(sdv_model=sdv_model, default_distribution=default_distribution,
                       enforce_min_max=enforce_min_max, epochs=epochs, batch_size=batch_size,
                       embedding_dim=embedding_dim, discriminator_steps=discriminator_steps,
                       noise_dim=noise_dim, layers_dim=layers_dim, privacy_level=privacy_level,
                       max_epochs=max_epochs, max_training_time=max_training_time, model_size=model_size,
                       ydata_model=ydata_model, learning_rate=learning_rate, generator_lr=generator_lr,
                       discriminator_lr=discriminator_lr)
    params.update({k: v for k, v in form_values.items() if v is not None and str(v) != ""})
    model_key, clean = resolve(algorithm, params)
    await ydata.require(algorithm, settings)

    # 2. store and check the file; bad input stops here, nothing is started
    job_id = db.new_id("gen")
    job_dir = storage.run_dir(job_id)
    try:
        uri, fmt = await store_upload(file, job_dir, "file", settings.max_upload_mb)
        info = await run_in_threadpool(validate_upload, uri, fmt)
        if specs:
            check_columns_exist(specs, info["column_names"])
        await run_in_threadpool(check_generation, principal, settings, rows or info["rows"])
    except Exception:
        await run_in_threadpool(storage.remove, job_dir)
        raise

    # 3. a flow run of the `generate` deployment, waited for up to the sync time limit (202 at once when
    #    its estimate is longer)
    estimate = estimate_seconds(model_key, clean, info["rows"], info["columns"], rows)
    fr = await start_generation(job_id, principal.owner, uri, fmt, algorithm, rows, seed_v, clean, format,
                                sync=True, constraints=specs,
                                extra_options={"estimated_time": estimate,
                                               **constraint_options(constraint_id, specs)})
    if (early := early_answer(job_id, estimate, settings, "generation")) is not None:
        return early
    fr = await wait_for_run(job_id, fr, settings, "generation")
    if dispatch.public_status(fr) == "completed":
        return await run_in_threadpool(completed_generation, request, job_id, str(fr.id), algorithm, format)
    raise await run_in_threadpool(failure_error, str(fr.id), fr)


def constraint_options(constraint_id: str | None, specs: list[dict] | None) -> dict:
    """What a job records about its constraints."""
    if not specs:
        return {}
    return {"constraint_id": (constraint_id or "").strip() or None, "num_constraints": len(specs)}


async def start_generation(job_id: str, owner: str, uri: str, fmt: str | None, algorithm: str,
                           rows: int | None, seed: int | None, params: dict, out_format: str, *, sync: bool,
                           callback_url: str | None = None, callback_secret: str | None = None,
                           extra_options: dict | None = None, constraints: list[dict] | None = None):
    """Record the job, then create its flow run of the `generate` deployment."""
    options = {"format": out_format, "num_rows": rows, "seed": seed, "parameters": params, **(extra_options or {})}
    flow_params = {"data": uri, "algorithm": algorithm, "num_rows": rows, "seed": seed,
                   "parameters": params, "data_format": fmt}
    if constraints:
        flow_params["constraints"] = constraints
    return await start_job("generate", "generate", flow_params, owner, job_id=job_id, options=options,
                           tags=["sync" if sync else "async"], variant=ydata.variant(algorithm),
                           algorithm=algorithm, input_uri=uri, callback_url=callback_url,
                           callback_secret=callback_secret)


