"""GET /download/{id} (and /download/{id}/{table} for multi-table results): stream a stored result,
converting format and compression on the fly."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentOwner
from api.jobs import get_job, read_manifest
from tasks.tabular import export_stream
from inferloop.core.errors import InferloopError

router = APIRouter(tags=["download"])


@router.get("/download/{generation_id}", summary="Download generated data",
            response_class=StreamingResponse)
async def download(generation_id: str, owner: CurrentOwner,
                   format: str = Query("csv", description="csv, parquet or json"),
                   compression: str = Query("none", description="gzip, snappy or none"),
                   stream: bool = Query(True, description="always streamed; kept for compatibility")):
    export_stream.check_options(format, compression)
    job = await run_in_threadpool(get_job, generation_id, owner)
    manifest = await run_in_threadpool(read_manifest, job.flow_run_id) if job.flow_run_id else None
    if manifest is None:
        raise InferloopError("CONFLICT", f"generation '{generation_id}' has no output (yet): "
                             f"check /api/tabular/jobs/{generation_id}", status=409)
    if "output_uri" not in manifest:  # a multi-table generation: one download per table
        raise InferloopError("INVALID_REQUEST", f"generation '{generation_id}' has several tables: download "
                             f"each at /api/tabular/download/{generation_id}/<table>", "table")
    body = export_stream.stream(manifest["output_uri"], format, compression)
    name = export_stream.filename("synthetic_data", format, compression)
    return StreamingResponse(body, media_type=export_stream.media_type(format, compression),
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/download/{generation_id}/{table}", summary="Download one table of a multi-table generation",
            response_class=StreamingResponse)
async def download_table(generation_id: str, table: str, owner: CurrentOwner,
                         format: str = Query("csv", description="csv, parquet or json"),
                         compression: str = Query("none", description="gzip, snappy or none")):
    export_stream.check_options(format, compression)
    job = await run_in_threadpool(get_job, generation_id, owner)
    if job.kind != "multitable":
        raise InferloopError("NOT_FOUND", f"generation '{generation_id}' has no tables: download it at "
                             f"/api/tabular/download/{generation_id}", "table", status=404)
    manifest = await run_in_threadpool(read_manifest, job.flow_run_id) if job.flow_run_id else None
    if manifest is None:
        raise InferloopError("CONFLICT", f"generation '{generation_id}' has no output (yet): "
                             f"check /api/tabular/jobs/{generation_id}", status=409)
    tables = manifest.get("tables") or {}
    if table not in tables:
        raise InferloopError("NOT_FOUND", f"generation '{generation_id}' has no table '{table}' "
                             f"(its tables: {', '.join(tables)})", "table", status=404)
    body = export_stream.stream(tables[table]["output_uri"], format, compression)
    name = export_stream.filename(table, format, compression)
    return StreamingResponse(body, media_type=export_stream.media_type(format, compression),
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})
