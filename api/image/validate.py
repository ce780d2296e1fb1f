"""image-api.md, validation: POST /validate/quality and POST /validate/privacy.

One image (`image_path`, the documented body) answers the documented shape; several (`image_paths`,
`dataset_dir`, or several uploaded files) answer {results: [...], summary}. Each request is a flow run
(`image_validate_quality` / `image_validate_privacy`) on the work pool, waited for.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentPrincipal, SettingsDep
from api.image.common import check_rate, new_job_id, run_result, start_image_job, wait_final
from api.image.inputs import named_images, read_inputs, request_body_doc, store_uploads
from inferloop.core import storage
from inferloop.core.errors import InferloopError
from tasks.image.params import invalid

router = APIRouter(tags=["image validation"])

_PATHS = {"image_path": {"type": "string", "example": "/data/generated/image_x_0.png"},
          "image_paths": {"type": "array", "items": {"type": "string"}},
          "dataset_dir": {"type": "string", "example": "/data/generated/nature_set"}}
QUALITY_DOC = request_body_doc(
    {"type": "object", "properties": {**_PATHS, "metrics": {"type": "array", "items": {
        "type": "string", "enum": ["sharpness", "contrast", "brightness", "noise", "resolution"]}}}},
    {"metrics": {"type": "string", "description": "comma-separated"}})
PRIVACY_DOC = request_body_doc(
    {"type": "object", "properties": {**_PATHS, "check_faces": {"type": "boolean", "default": True},
                                      "check_text": {"type": "boolean", "default": True},
                                      "check_pii": {"type": "boolean", "default": True}}},
    {"check_faces": {"type": "boolean"}, "check_text": {"type": "boolean"}, "check_pii": {"type": "boolean"}})
COMMON_FIELDS = {"image_path", "image_paths", "dataset_dir"}


async def _validate(request: Request, principal, settings, kind: str, allowed: set[str], options) -> dict:
    check_rate(request, principal, settings, "validation")
    inputs = await read_inputs(request, settings, COMMON_FIELDS | allowed)
    opts = options(inputs)                                              # option checks first: nothing stored yet
    images, folder, prefix = await run_in_threadpool(named_images, principal.owner, inputs)
    if not images and folder is None and not inputs.files:
        raise invalid("image_path", None, "an image path under /data, image_paths, dataset_dir or uploaded files",
                      "Invalid parameter: give image_path, image_paths, dataset_dir or upload image files")
    job_id = new_job_id("imgval")
    upload_dir = f"{storage.run_dir(job_id)}/uploads"
    images += await store_uploads(inputs.files, upload_dir, settings)
    params = {"images": images, "dataset_dir": folder, "path_prefix": prefix, **opts}
    try:
        fr = await start_image_job(job_id, f"image_validate_{kind}", principal.owner, f"image_validate_{kind}",
                                   params, {"parameters": {k: v for k, v in params.items() if k != "images"},
                                            "images": len(images)})
    except Exception:
        await run_in_threadpool(storage.remove, storage.run_dir(job_id))
        raise
    fr = await wait_final(job_id, fr, settings)
    result = await run_in_threadpool(run_result, str(fr.id))
    single = len(result["results"]) == 1 and folder is None and "image_paths" not in inputs.fields \
        and len(inputs.files) <= 1
    if single:
        return {**result["results"][0], "job_id": job_id}
    return {"results": result["results"], "summary": result["summary"], "job_id": job_id}


def _quality_options(inputs) -> dict:
    from tasks.image.quality import parse_metrics

    return {"metrics": parse_metrics(inputs.names("metrics"))}


def _privacy_options(inputs) -> dict:
    opts = {"check_faces": inputs.flag("check_faces", True), "check_text": inputs.flag("check_text", True),
            "check_pii": inputs.flag("check_pii", True)}
    if not any(opts.values()):
        raise InferloopError("INVALID_REQUEST", "Invalid parameter: at least one of check_faces, check_text, "
                             "check_pii must be true", "check_faces",
                             extra={"details": {"parameter": "check_faces", "constraint": "at least one check"}})
    return opts


@router.post("/validate/quality", summary="Image quality: sharpness, contrast, brightness, noise, resolution",
             openapi_extra=QUALITY_DOC)
async def validate_quality(request: Request, principal: CurrentPrincipal, settings: SettingsDep):
    return await _validate(request, principal, settings, "quality", {"metrics"}, _quality_options)


@router.post("/validate/privacy", summary="Image privacy: faces, readable text, PII in text",
             openapi_extra=PRIVACY_DOC)
async def validate_privacy(request: Request, principal: CurrentPrincipal, settings: SettingsDep):
    return await _validate(request, principal, settings, "privacy", {"check_faces", "check_text", "check_pii"},
                           _privacy_options)
