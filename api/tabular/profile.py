"""POST /profile: upload -> validate -> flow run of `profile` on the work pool -> wait -> the profile."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentOwner, SettingsDep
from api.tabular.generate import parse_int
from api.sync_jobs import EARLY_ANSWER, report_response, run_and_wait
from api.uploads import store_upload
from inferloop.core import db, storage
from tasks.tabular.estimates import estimate_profile_seconds
from tasks.tabular.tables import validate_upload

router = APIRouter(tags=["profiling"])


@router.post("/profile", summary="Profile an uploaded table: types, statistics, distributions, correlations",
             responses=EARLY_ANSWER)
async def profile(
    owner: CurrentOwner,
    settings: SettingsDep,
    file: Annotated[UploadFile | None, File(description="Data file to profile (CSV, Parquet, JSON)")] = None,
    sample_size: Annotated[str | None, Form(description="Profile a uniform sample of this many rows")] = None,
):
    size = parse_int(sample_size, "sample_size", 1, settings.max_rows)
    job_id = db.new_id("prof")
    job_dir = storage.run_dir(job_id)
    try:
        uri, fmt = await store_upload(file, job_dir, "file", settings.max_upload_mb)
        info = await run_in_threadpool(validate_upload, uri, fmt)
    except Exception:
        await run_in_threadpool(storage.remove, job_dir)
        raise
    answer = await run_and_wait(job_id, "profile", "profile", owner,
                                {"data": uri, "data_format": fmt, "sample_size": size}, settings,
                                estimate=estimate_profile_seconds(info["rows"], info["columns"], size))
    if isinstance(answer, JSONResponse):  # 202: estimated to take longer than the sync limit
        return answer
    _, result = answer
    return {"profile_id": job_id, "summary": result["summary"], "columns": result["columns"],
            "correlations": result["correlations"], "warnings": result.get("warnings", []),
            "report_url": f"/api/tabular/profile/{job_id}/report"}


@router.get("/profile/{profile_id}/report", summary="The profile's HTML report (plots)")
async def profile_report(profile_id: str, owner: CurrentOwner):
    return await report_response(profile_id, owner, "profile")
