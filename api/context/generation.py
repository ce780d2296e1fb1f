"""context-api.md: analyze a business context, generate a sample, a corpus, and act on feedback (/api/v1).

- POST /context/analyze: the analysis (domain, requirements, proposed schemas, relationships, rules). It is
  light text processing and runs in the API process (the offline analyzer; or the LLM plug-in when
  configured: one HTTP call to the model); nothing is stored.
- POST /generate/sample: a `context_sample` flow run, waited for (504 TIMEOUT with the job id after the
  sync limit); the job id it answers with is the one feedback and export refer to.
- POST /generate/corpus: a `context_corpus` flow run (a parent with one child run per batch); 202 at once.
- POST /generate/feedback: the job's spec changed by the feedback; then a new sample (same seed: what
  changed is what differs) or, with start_corpus, the corpus — both as the same job's next run.
Bad input is a 400 in the document's envelope before any run is created; nothing is stored.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api import dispatch
from api.deps import SettingsDep
from api.context import jobs as cj
from api.context.limits import ContextPrincipal
from inferloop.core import db
from inferloop.core.auth import Principal
from inferloop.core.errors import InferloopError
from inferloop.core.ratelimit import check_generation
from inferloop.core.settings import Settings
from inferloop.core.tiers import limits_for
from tasks.context.analysis import analyze
from tasks.context.export import check_export
from tasks.context.feedback import apply_feedback, summary
from tasks.context.plan import check_capacity, plan_corpus, sample_counts
from tasks.context.spec import public_schemas, select_schemas
from tasks.context.steps import new_seed

router = APIRouter(tags=["context"])


class AnalyzeRequest(BaseModel):
    context: str = Field(description="free-text description of the business and its data")
    domain_hint: str | None = Field(default=None, description="retail, banking, healthcare, hr, logistics, "
                                                              "legal, education or general")


class SampleRequest(BaseModel):
    context: str
    sample_size: int = Field(default=5, description="rows per schema")
    schemas: list[str] = Field(default_factory=list, description="only these schemas (and the ones owning them)")
    domain_hint: str | None = None
    seed: int | None = Field(default=None, description="same seed, same rows")


class CorpusRequest(BaseModel):
    context: str
    corpus_size: int = Field(description="records over all schemas together")
    batch_size: int | None = Field(default=None, description="records per batch (one child flow run each)")
    schemas: list[str] = Field(default_factory=list)
    export_format: str | None = Field(default=None, description="csv, json, xlsx or sql: exported when done")
    export_options: dict[str, Any] = Field(default_factory=dict, description="e.g. {\"sql_dialect\": \"mysql\"}")
    domain_hint: str | None = None
    seed: int | None = None


class FeedbackRequest(BaseModel):
    job_id: str
    approved: bool = False
    schema_feedback: list[dict[str, Any]] = Field(default_factory=list)
    start_corpus: bool = False
    corpus_size: int | None = None
    batch_size: int | None = None
    sample_size: int | None = None
    export_format: str | None = None
    export_options: dict[str, Any] = Field(default_factory=dict)


# --- checks (400 before anything is stored) ----------------------------------------------------------------

def _analyze(context: str, hint: str | None, settings: Settings) -> dict[str, Any]:
    return analyze(context, hint, settings)


def _check_sample_size(n: int | None, settings: Settings) -> int:
    n = 5 if n is None else n
    if not 1 <= n <= settings.context_sample_max_rows:
        raise InferloopError("INVALID_REQUEST", f"sample_size must be between 1 and "
                             f"{settings.context_sample_max_rows}", "sample_size")
    return n


def _check_seed(seed: int | None) -> int:
    if seed is None:
        return new_seed()
    if not 0 <= seed < 2**63:
        raise InferloopError("INVALID_REQUEST", "seed must be a whole number from 0 to 2^63-1", "seed")
    return seed


def _check_corpus(spec: dict, corpus_size: int | None, batch_size: int | None, principal: Principal,
                  settings: Settings) -> dict[str, Any]:
    """The corpus plan, or 400: size within the tier and the platform's limit, a sensible batch size."""
    if corpus_size is None or corpus_size < 1:
        raise InferloopError("INVALID_REQUEST", "corpus_size must be a whole number of at least 1", "corpus_size")
    tier = limits_for(principal.tier)
    cap = min(settings.context_max_corpus_size, tier.rows_per_hour or settings.context_max_corpus_size)
    if corpus_size > cap:
        why = (f"the {principal.tier} tier generates at most {tier.rows_per_hour} records per hour"
               if tier.rows_per_hour and tier.rows_per_hour <= settings.context_max_corpus_size
               else f"this server generates at most {settings.context_max_corpus_size} records per corpus")
        raise InferloopError("INVALID_REQUEST", f"corpus_size {corpus_size} is over the limit: {why}",
                             "corpus_size", extra={"max_corpus_size": cap})
    if batch_size is not None and batch_size < 1:
        raise InferloopError("INVALID_REQUEST", "batch_size must be at least 1", "batch_size")
    plan = plan_corpus(spec, corpus_size, batch_size, settings.context_default_batch_size,
                       settings.context_max_batches)
    check_capacity(spec, plan["totals"])
    return plan


def _check_export_request(fmt: str | None, options: dict) -> None:
    if fmt is not None:
        check_export(fmt, options, "export_format")


def _estimated(corpus_size: int, settings: Settings) -> str:
    seconds = 15 + corpus_size / settings.context_rows_per_second
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=math.ceil(seconds))).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def _excerpt(context: str) -> str:
    return context if len(context) <= 2000 else context[:2000] + " ..."


# --- endpoints -----------------------------------------------------------------------------------------

@router.post("/context/analyze", summary="Analyze a context into domain, requirements and schemas")
async def analyze_context(body: AnalyzeRequest, _: ContextPrincipal, settings: SettingsDep):
    analysis = await run_in_threadpool(_analyze, body.context, body.domain_hint, settings)
    return {k: v for k, v in analysis.items() if k != "spec"}


def _sample_parameters(spec: dict, sample_size: int, seed: int) -> dict[str, Any]:
    return {"spec": spec, "sample_size": sample_size, "seed": seed}


def _corpus_parameters(spec: dict, plan: dict, request: dict[str, Any], seed: int) -> dict[str, Any]:
    return {"spec": spec, "corpus_size": plan["corpus_size"], "batch_size": request.get("batch_size"), "seed": seed,
            "export_format": request.get("export_format"), "export_options": request.get("export_options") or None}


def _sample_answer(job_id: str, result: dict[str, Any], message: str | None = None, **extra: Any) -> dict[str, Any]:
    out = {"job_id": job_id, "status": "completed"}
    if message:
        out["message"] = message
    out.update({"schemas": result["schemas"], "samples": result["samples"],
                "generation_time_ms": result["generation_time_ms"], "domain": result["spec"]["domain"],
                "relationships": result["spec"]["relationships"], "constraints": result["spec"]["constraints"],
                "validation": {k: v for k, v in result["validation"].items() if k != "checks"}
                | {"checks": len(result["validation"]["checks"])},
                "seed": result["seed"], **extra})
    return out


@router.post("/generate/sample", summary="Generate a small sample for validation (waits for the run)")
async def generate_sample(body: SampleRequest, principal: ContextPrincipal, settings: SettingsDep):
    sample_size = _check_sample_size(body.sample_size, settings)
    seed = _check_seed(body.seed)
    analysis = await run_in_threadpool(_analyze, body.context, body.domain_hint, settings)
    spec, warnings = select_schemas(analysis["spec"], body.schemas)
    counts = sample_counts(spec, sample_size)
    check_capacity(spec, counts)
    await run_in_threadpool(check_generation, principal, settings, sum(counts.values()))  # 429: the tier's limits
    job_id = str(uuid.uuid4())
    options = {"spec": spec, "seed": seed, "context_excerpt": _excerpt(body.context), "analyzer": analysis["analyzer"],
               "request": {"sample_size": sample_size, "schemas": body.schemas}, "warnings": warnings,
               "notes": analysis["notes"]}
    fr = await cj.start(job_id, cj.SAMPLE, principal.owner, _sample_parameters(spec, sample_size, seed), options)
    result = await cj.wait_result(job_id, fr, settings, "sample")
    return _sample_answer(job_id, result, warnings=warnings + result.get("warnings", []), notes=analysis["notes"])


@router.post("/generate/corpus", status_code=202, summary="Start asynchronous corpus generation")
async def generate_corpus(body: CorpusRequest, principal: ContextPrincipal, settings: SettingsDep):
    seed = _check_seed(body.seed)
    _check_export_request(body.export_format, body.export_options)
    analysis = await run_in_threadpool(_analyze, body.context, body.domain_hint, settings)
    spec, warnings = select_schemas(analysis["spec"], body.schemas)
    plan = _check_corpus(spec, body.corpus_size, body.batch_size, principal, settings)
    await run_in_threadpool(check_generation, principal, settings, body.corpus_size)  # 429: concurrency, rows/hour
    job_id = str(uuid.uuid4())
    request = {"corpus_size": body.corpus_size, "batch_size": body.batch_size, "schemas": body.schemas,
               "export_format": body.export_format, "export_options": body.export_options}
    options = {"spec": spec, "seed": seed, "context_excerpt": _excerpt(body.context), "analyzer": analysis["analyzer"],
               "request": request, "warnings": warnings + plan["warnings"], "notes": analysis["notes"]}
    await cj.start(job_id, cj.CORPUS, principal.owner, _corpus_parameters(spec, plan, request, seed), options)
    return {"job_id": job_id, "status": "in_progress", "message": "Corpus generation started",
            "estimated_completion": _estimated(body.corpus_size, settings),
            "batches": len(plan["batches"]), "batch_size": plan["batch_size"], "records": plan["totals"],
            "warnings": warnings + plan["warnings"]}


@router.post("/generate/feedback", summary="Submit feedback on a sample; optionally start the corpus")
async def feedback(body: FeedbackRequest, principal: ContextPrincipal, settings: SettingsDep):
    job = await run_in_threadpool(cj.context_job, body.job_id, principal.owner)
    opts = job.options or {}
    if job.flow_run_id:
        status = dispatch.public_status(await dispatch.read(job.flow_run_id))
        if status in ("pending", "running"):
            raise InferloopError("CONFLICT", f"job '{job.id}' is {status}; give feedback once its run has ended",
                                 status=409, extra={"job_status": status})
    spec, changes = apply_feedback(opts["spec"], body.schema_feedback)
    _check_export_request(body.export_format, body.export_options)  # checked even when no corpus starts
    if body.start_corpus and not body.approved:
        raise InferloopError("INVALID_REQUEST", "start_corpus needs approved: true (approve the sample, with "
                             "the changes in schema_feedback if any)", "approved")
    request = dict(opts.get("request") or {})
    seed = opts.get("seed") or new_seed()
    entry = {"at": db.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"), "approved": body.approved, "changes": changes,
             "summary": summary(changes)}
    if body.start_corpus:
        corpus_size = body.corpus_size or request.get("corpus_size")
        plan = _check_corpus(spec, corpus_size, body.batch_size, principal, settings)
        await run_in_threadpool(check_generation, principal, settings, corpus_size)
        request.update(corpus_size=corpus_size, batch_size=body.batch_size, export_format=body.export_format,
                       export_options=body.export_options)
        await run_in_threadpool(cj.update_options, job.id, spec=spec, request=request,
                                feedback=[*opts.get("feedback", []), entry],
                                warnings=list(opts.get("warnings", [])) + plan["warnings"])
        await cj.next_run(job.id, cj.CORPUS, _corpus_parameters(spec, plan, request, seed))
        return JSONResponse({"job_id": job.id, "status": "in_progress",
                             "message": "Feedback applied, corpus generation started", "changes": changes,
                             "summary": entry["summary"], "schemas": public_schemas(spec),
                             "estimated_completion": _estimated(corpus_size, settings),
                             "batches": len(plan["batches"]), "records": plan["totals"]}, status_code=202)
    if body.approved and not any(_changed(c) for c in changes):
        await run_in_threadpool(cj.update_options, job.id, feedback=[*opts.get("feedback", []), entry])
        return {"job_id": job.id, "status": "completed", "message": "Sample approved; nothing to change. Start "
                "the corpus with start_corpus: true", "changes": changes, "summary": entry["summary"]}
    if not body.approved and not any(_changed(c) for c in changes):
        seed = new_seed()  # not approved and nothing said: a fresh sample
        entry["summary"].append(f"new seed {seed}: a different sample")
    sample_size = _check_sample_size(body.sample_size or request.get("sample_size"), settings)
    counts = sample_counts(spec, sample_size)
    check_capacity(spec, counts)
    await run_in_threadpool(check_generation, principal, settings, sum(counts.values()))
    request["sample_size"] = sample_size
    await run_in_threadpool(cj.update_options, job.id, spec=spec, seed=seed, request=request,
                            feedback=[*opts.get("feedback", []), entry])
    started = time.perf_counter()
    fr = await cj.next_run(job.id, cj.SAMPLE, _sample_parameters(spec, sample_size, seed))
    result = await cj.wait_result(job.id, fr, settings, "sample")
    return _sample_answer(job.id, result, "Feedback applied, new sample generated", changes=changes,
                          summary=entry["summary"], feedback_time_ms=int(1000 * (time.perf_counter() - started)))


def _changed(c: dict[str, Any]) -> bool:
    return bool(c.get("schema_removed") or c["removed"] or c["added"] or c["retyped"] or c["adjusted"])
