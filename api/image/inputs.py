"""Images a request names: paths in the caller's /data area, or files uploaded with the request.

Validation and profile endpoints take either a JSON body (image_path, image_paths or dataset_dir) or a
multipart form with image files (`file`/`files`) plus the same options as form fields. Uploads are checked
(size, a whole decodable image of a supported format, pixel count) before anything is kept; a request with a
bad file stores nothing.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import Request, UploadFile
from starlette.concurrency import run_in_threadpool

from inferloop.core import storage
from inferloop.core.errors import InferloopError
from inferloop.core.settings import Settings
from tasks.image.area import IMAGE_SUFFIXES, list_images, normalize, to_uri
from tasks.image.params import invalid
from tasks.image.pixels import check_image_bytes

MAX_FILES = 100
CHUNK = 1 << 20

# OpenAPI: the two ways to send images (shown in /docs)
def request_body_doc(json_schema: dict[str, Any], form_fields: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": json_schema},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "files": {"type": "array", "items": {"type": "string", "format": "binary"}}, **form_fields}}}}}}


class Inputs:
    """A parsed request: its option fields and uploaded files."""

    def __init__(self, fields: dict[str, Any], files: list[UploadFile]):
        self.fields, self.files = fields, files

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)

    def flag(self, name: str, default: bool) -> bool:
        v = self.fields.get(name, default)
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.strip().lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return v.strip().lower() in ("true", "1", "yes", "on")
        raise invalid(name, v, "true or false")

    def names(self, name: str) -> list[str] | None:
        """A list option: a JSON list, or comma-separated / repeated form fields."""
        v = self.fields.get(name)
        if v is None or v == "":
            return None
        if isinstance(v, str):
            v = [x for x in re.split(r"[,\s]+", v) if x]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise invalid(name, v, "a list of names")
        return v


async def read_inputs(request: Request, settings: Settings, allowed: set[str]) -> Inputs:
    """The request's fields (JSON object or form) and files; unknown fields are refused."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        limit = int(settings.image_max_upload_mb * 1024 * 1024)
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit * MAX_FILES + (1 << 20):
            raise InferloopError("INVALID_FILE", f"the upload is larger than {settings.image_max_upload_mb:g} MB "
                                 f"per file x {MAX_FILES} files", "file")
        form = await request.form(max_files=MAX_FILES, max_fields=100)
        fields: dict[str, Any] = {}
        files: list[UploadFile] = []
        for key, value in form.multi_items():
            if isinstance(value, str):
                fields[key] = f"{fields[key]},{value}" if key in fields else value
            elif key in ("file", "files"):
                files.append(value)
            else:
                raise invalid(key, getattr(value, "filename", None), "files go in 'file' or 'files'")
    else:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            raise InferloopError("INVALID_REQUEST", "the body must be a JSON object (or a multipart form with "
                                 "image files)", extra={"details": {"constraint": "JSON object"}})
        if not isinstance(body, dict):
            raise InferloopError("INVALID_REQUEST", "the body must be a JSON object",
                                 extra={"details": {"constraint": "JSON object"}})
        fields, files = body, []
    unknown = set(fields) - allowed
    if unknown:
        name = sorted(unknown)[0]
        raise invalid(name, fields[name], f"one of the fields {', '.join(sorted(allowed))}",
                      f"Invalid parameter: unknown field '{name}'")
    return Inputs(fields, files)


async def store_uploads(files: list[UploadFile], dest_dir: str, settings: Settings) -> list[dict[str, str]]:
    """Check every uploaded image, then store them under dest_dir: [{uri, path, format}].

    All files are checked before the first byte is written, so a request with one bad file stores nothing.
    """
    limit = int(settings.image_max_upload_mb * 1024 * 1024)
    checked = []
    for n, upload in enumerate(files):
        field = f"files[{n}]" if len(files) > 1 else "file"
        data = bytearray()
        while chunk := await upload.read(CHUNK):
            data += chunk
            if len(data) > limit:
                raise InferloopError("INVALID_FILE", f"{upload.filename or field} is larger than the "
                                     f"{settings.image_max_upload_mb:g} MB limit", field,
                                     extra={"details": {"parameter": field, "value": upload.filename,
                                                        "constraint": f"at most {settings.image_max_upload_mb:g} MB"}})
        checked.append(await run_in_threadpool(check_image_bytes, bytes(data), field, settings.image_max_upload_pixels))
        await upload.seek(0)
    stored: list[dict[str, str]] = []
    try:
        for n, (upload, info) in enumerate(zip(files, checked)):
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", (upload.filename or "upload").rsplit("/", 1)[-1])[:100]
            uri = f"{dest_dir}/{n:04d}_{name}"
            await run_in_threadpool(_write, uri, await upload.read())
            stored.append({"uri": uri, "path": f"upload:{upload.filename or name}", "format": info.format})
    except Exception:
        await run_in_threadpool(storage.remove, dest_dir)
        raise
    return stored


def _write(uri: str, data: bytes) -> None:
    with storage.open_uri(uri, "wb") as f:
        f.write(data)


def named_images(owner: str, inputs: Inputs) -> tuple[list[dict[str, str]], str | None, str | None]:
    """Images named by path: (images [{uri, path}], dataset folder URI, its /data path); 404 when missing."""
    images: list[dict[str, str]] = []
    paths: list[tuple[str, str]] = []
    if inputs.get("image_path") is not None:
        paths.append(("image_path", inputs.get("image_path")))
    many = inputs.get("image_paths")
    if many is not None:
        if isinstance(many, str):
            many = [p for p in many.split(",") if p.strip()]
        if not isinstance(many, list) or not many or len(many) > 1000:
            raise invalid("image_paths", many, "a list of 1 to 1000 paths")
        paths += [(f"image_paths[{i}]", p) for i, p in enumerate(many)]
    for field, path in paths:
        if not isinstance(path, str):
            raise invalid(field, path, "a path under /data")
        uri = to_uri(owner, path, field)
        if not uri.lower().endswith(IMAGE_SUFFIXES):
            raise invalid(field, path, f"an image file ({', '.join(IMAGE_SUFFIXES)})")
        if not storage.exists(uri):
            raise InferloopError("NOT_FOUND", f"{field} '{path}' was not found in your data", field, status=404,
                                 extra={"details": {"parameter": field, "value": path}})
        images.append({"uri": uri, "path": normalize(path, field)})
    folder = inputs.get("dataset_dir")
    if folder is None:
        return images, None, None
    if not isinstance(folder, str):
        raise invalid("dataset_dir", folder, "a folder under /data")
    uri = to_uri(owner, folder, "dataset_dir")
    if not list_images(uri):
        raise InferloopError("NOT_FOUND", f"dataset_dir '{folder}' has no images in your data", "dataset_dir",
                             status=404, extra={"details": {"parameter": "dataset_dir", "value": folder}})
    return images, uri, normalize(folder, "dataset_dir")
