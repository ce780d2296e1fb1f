"""Store uploaded files in storage with a size cap; nothing half-written survives an error."""

from __future__ import annotations

from fastapi import UploadFile
from starlette.concurrency import run_in_threadpool

from inferloop.core import storage
from inferloop.core.errors import InferloopError
from tasks.tabular.tables import detect_format

CHUNK = 1 << 20


async def store_upload(upload: UploadFile | None, dest_dir: str, field: str, max_mb: float) -> tuple[str, str]:
    """Save `upload` as <dest_dir>/<field>.<ext>; returns (uri, format). Raises INVALID_FILE/UNSUPPORTED_FORMAT."""
    if upload is None or not upload.filename:
        raise InferloopError("INVALID_REQUEST", f"'{field}' file is required", field)
    try:
        fmt = detect_format(upload.filename)
    except InferloopError as exc:
        exc.field = field
        raise
    ext = {"jsonl": "jsonl"}.get(fmt, fmt)
    suffix = ".gz" if upload.filename.lower().endswith(".gz") else ""
    uri = f"{dest_dir}/{field}.{ext}{suffix}"
    limit = int(max_mb * 1024 * 1024)
    written = 0
    try:
        f = await run_in_threadpool(storage.open_uri, uri, "wb")
        try:
            while chunk := await upload.read(CHUNK):
                written += len(chunk)
                if written > limit:
                    raise InferloopError("INVALID_FILE", f"The file is larger than the {max_mb:g} MB limit",
                                         field)
                await run_in_threadpool(f.write, chunk)
        finally:
            await run_in_threadpool(f.close)
    except Exception:
        storage.remove(uri)
        raise
    return uri, fmt
