"""image-api.md, export: POST /export/jsonl (a manifest file in your /data area, downloadable at
GET /api/v1/files?path=...) and POST /export/s3 (upload to s3://bucket_name/s3_prefix/ through s3fs with the
server's AWS credentials). Both are flow runs (`image_export`) on the work pool, waited for.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentPrincipal, SettingsDep
from api.image.common import check_rate, new_job_id, run_result, start_image_job, wait_final
from inferloop.core.settings import Settings
from tasks.image.area import list_images, normalize, to_uri
from tasks.image.params import invalid

router = APIRouter(tags=["image export"])
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class JsonlExport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset_dir: str = Field(..., description="a folder of your images, e.g. /data/generated/nature_set")
    output_file: str = Field(..., description="where to write, e.g. /data/exports/nature_set.jsonl")
    include_metadata: bool = True
    include_annotations: bool = True


class S3Export(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset_dir: str
    bucket_name: str
    s3_prefix: str = ""
    include_metadata: bool = True
    public_read: bool = False


def _dataset(owner: str, path: str) -> tuple[str, str]:
    from inferloop.core.errors import InferloopError

    uri = to_uri(owner, path, "dataset_dir")
    if not list_images(uri):
        raise InferloopError("NOT_FOUND", f"dataset_dir '{path}' has no images in your data", "dataset_dir",
                             status=404, extra={"details": {"parameter": "dataset_dir", "value": path}})
    return uri, normalize(path, "dataset_dir")


async def _run(owner: str, settings: Settings, params: dict, public: dict) -> dict:
    job_id = new_job_id("imgexp")
    fr = await start_image_job(job_id, "image_export", owner, "image_export", params, {"parameters": public})
    fr = await wait_final(job_id, fr, settings)
    result = await run_in_threadpool(run_result, str(fr.id))
    return {**{k: v for k, v in result.items() if k != "seconds"}, "job_id": job_id}


@router.post("/export/jsonl", summary="Export a folder of images as a JSONL manifest in your /data area")
async def export_jsonl(body: JsonlExport, request: Request, principal: CurrentPrincipal, settings: SettingsDep):
    check_rate(request, principal, settings, "export")
    output = normalize(body.output_file, "output_file")
    if not output.endswith(".jsonl"):
        raise invalid("output_file", body.output_file, "a path under /data ending in .jsonl")
    folder, prefix = await run_in_threadpool(_dataset, principal.owner, body.dataset_dir)
    params = {"target": "jsonl", "dataset_dir": folder, "path_prefix": prefix,
              "output_uri": to_uri(principal.owner, output, "output_file"), "output_path": output,
              "include_metadata": body.include_metadata, "include_annotations": body.include_annotations}
    return await _run(principal.owner, settings, params, body.model_dump())


@router.post("/export/s3", summary="Upload a folder of images (and a manifest.json) to S3")
async def export_s3(body: S3Export, request: Request, principal: CurrentPrincipal, settings: SettingsDep):
    check_rate(request, principal, settings, "export")
    if not _BUCKET.match(body.bucket_name) or ".." in body.bucket_name:
        raise invalid("bucket_name", body.bucket_name, "an S3 bucket name: 3-63 lowercase letters, digits, '.', '-'")
    prefix = body.s3_prefix.strip().strip("/")
    if ".." in prefix.split("/") or "//" in prefix or len(prefix) > 900:
        raise invalid("s3_prefix", body.s3_prefix, "a key prefix without '..' or empty parts")
    folder, vpath = await run_in_threadpool(_dataset, principal.owner, body.dataset_dir)
    params = {"target": "s3", "dataset_dir": folder, "path_prefix": vpath, "bucket_name": body.bucket_name,
              "s3_prefix": prefix, "include_metadata": body.include_metadata, "public_read": body.public_read}
    return await _run(principal.owner, settings, params, body.model_dump())
