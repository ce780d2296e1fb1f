"""POST /uploads: store a file once, name it later as `upload://<id>` (e.g. in async generation)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentOwner, SettingsDep
from api.uploads import store_upload
from inferloop.core import db, storage
from tasks.tabular.tables import validate_upload

router = APIRouter(tags=["uploads"])


@router.post("/uploads", status_code=201, summary="Upload a data file for later jobs")
async def create_upload(owner: CurrentOwner, settings: SettingsDep,
                        file: Annotated[UploadFile | None, File(description="CSV, Parquet or JSON")] = None):
    upload_id = db.new_id("upl")
    folder = storage.join("uploads", upload_id)
    try:
        uri, fmt = await store_upload(file, folder, "file", settings.max_upload_mb)
        info = await run_in_threadpool(validate_upload, uri, fmt)
        size = await run_in_threadpool(storage.size, uri)
    except Exception:
        await run_in_threadpool(storage.remove, folder)
        raise
    row = db.Upload(id=upload_id, owner=owner, uri=uri, format=fmt, filename=file.filename,
                    rows=info["rows"], columns=info["columns"], size_bytes=size)
    await run_in_threadpool(_save, row)
    return {"upload_id": upload_id, "data_url": f"upload://{upload_id}", "filename": file.filename,
            "format": fmt, "rows": info["rows"], "columns": info["columns"], "size_bytes": size,
            "created_at": row.created_at}


def _save(row: db.Upload) -> None:
    with db.session_scope() as s:
        s.add(row)
