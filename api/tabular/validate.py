"""POST /validate: two uploads -> checks -> flow run of `validate` on the work pool -> wait -> scores.

GET /validation/{id}/report serves the HTML report that run wrote.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentOwner, SettingsDep
from api.sync_jobs import report_response, run_and_wait
from api.uploads import store_upload
from inferloop.core import db, storage
from inferloop.core.errors import InferloopError
from inferloop.core.settings import Settings
from tasks.tabular.tables import read_table

router = APIRouter(tags=["validation"])


def _parse_metrics(metrics: str | None) -> list[str]:
    from tasks.tabular.quality import parse_metrics  # scikit-learn and scipy load on first use, not at API start

    return parse_metrics(metrics or "")


def _check_files(files: dict[str, tuple[str, str]], metrics: list[str], target_column: str | None,
                 quasi_identifiers: list[str] | None, settings: Settings) -> None:
    """Read the stored uploads and refuse what the flow could not validate (field = the file at fault)."""
    from tasks.tabular.quality import check_inputs

    frames = {}
    for field, (uri, fmt) in files.items():
        try:
            frames[field] = read_table(uri, fmt, max_rows=settings.max_rows)
        except InferloopError as exc:
            exc.field = field
            raise
    check_inputs(frames["original"], frames["synthetic"], metrics, target_column, quasi_identifiers,
                 frames.get("holdout"))


@router.post("/validate", summary="Validate synthetic data against the original (waits for the result)")
async def validate(
    owner: CurrentOwner,
    settings: SettingsDep,
    original: Annotated[UploadFile | None, File(description="Original data file (CSV, Parquet, JSON)")] = None,
    synthetic: Annotated[UploadFile | None, File(description="Synthetic data file, same columns")] = None,
    metrics: Annotated[str | None, Form(description="Comma-separated: statistical, ml_efficacy, privacy "
                                                    "(default: all)")] = None,
    target_column: Annotated[str | None, Form(description="ml_efficacy target (default: chosen)")] = None,
    quasi_identifiers: Annotated[str | None, Form(description="Comma-separated (default: detected)")] = None,
    holdout: Annotated[UploadFile | None, File(description="Real rows the generator never saw "
                                                           "(non-members of the membership attack)")] = None,
):
    # 1. what does not need the files
    selected = await run_in_threadpool(_parse_metrics, metrics)
    target = (target_column or "").strip() or None
    qis = [q.strip() for q in (quasi_identifiers or "").split(",") if q.strip()] or None

    # 2. store and check the files; bad input stops here, nothing is started
    job_id = db.new_id("val")
    job_dir = storage.run_dir(job_id)
    try:
        files = {"original": await store_upload(original, job_dir, "original", settings.max_upload_mb),
                 "synthetic": await store_upload(synthetic, job_dir, "synthetic", settings.max_upload_mb)}
        if holdout is not None and holdout.filename:
            files["holdout"] = await store_upload(holdout, job_dir, "holdout", settings.max_upload_mb)
        await run_in_threadpool(_check_files, files, selected, target, qis, settings)
    except Exception:
        await run_in_threadpool(storage.remove, job_dir)
        raise

    # 3. a flow run of the `validate` deployment, waited for up to the sync time limit
    hold = files.get("holdout")
    params = {"original": files["original"][0], "original_format": files["original"][1],
              "synthetic": files["synthetic"][0], "synthetic_format": files["synthetic"][1],
              "holdout": hold[0] if hold else None, "holdout_format": hold[1] if hold else None,
              "metrics": selected, "target_column": target, "quasi_identifiers": qis}
    _, result = await run_and_wait(job_id, "validate", "validate", owner, params, settings)
    return {"validation_id": job_id, "overall_score": result["overall_score"], "metrics": result["metrics"],
            "expectations": result["expectations"], "rows": result["rows"],
            "report_url": f"/api/tabular/validation/{job_id}/report"}


@router.get("/validation/{validation_id}/report", summary="The HTML report of a validation")
async def validation_report(validation_id: str, owner: CurrentOwner):
    return await report_response(validation_id, owner, "validate")
