"""image-api.md, profiles: GET /profiles, GET /profiles/{name}; beyond the document: POST /profiles (create,
or add images to, a profile from uploaded images or a /data folder) and DELETE /profiles/{name}.

A profile is a JSON file in the owner's /data/profiles/; creating one is a flow run (`image_profile`).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentPrincipal, SettingsDep
from api.image.common import check_rate, new_job_id, run_result, start_image_job, wait_final
from api.image.inputs import named_images, read_inputs, request_body_doc, store_uploads
from inferloop.core import storage
from inferloop.core.errors import InferloopError
from tasks.image.area import PROFILES, check_name, to_uri
from tasks.image.params import invalid

router = APIRouter(tags=["image profiles"])

CREATE_DOC = request_body_doc(
    {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string", "example": "webcam_office"},
        "dataset_dir": {"type": "string", "example": "/data/generated/nature_set"},
        "image_paths": {"type": "array", "items": {"type": "string"}},
        "append": {"type": "boolean", "default": False, "description": "add to an existing profile"}}},
    {"name": {"type": "string"}, "append": {"type": "boolean"}})


def _profile_uri(owner: str, name: str) -> str:
    return to_uri(owner, f"{PROFILES}/{check_name(name, 'name')}.json")


def _summary(doc: dict) -> dict:
    return {k: doc[k] for k in ("name", "created_at", "sample_count", "path")}


def _list(owner: str) -> list[dict]:
    fs, root = storage.fs_for(to_uri(owner, PROFILES))
    if not fs.isdir(root):
        return []
    docs = []
    for p in sorted(fs.ls(root, detail=False)):
        if p.endswith(".json"):
            with fs.open(p, "r") as f:
                docs.append(_summary(json.load(f)))
    return docs


@router.get("/profiles", summary="List your image profiles")
async def list_profiles(principal: CurrentPrincipal):
    return {"profiles": await run_in_threadpool(_list, principal.owner)}


def _read(owner: str, name: str) -> dict:
    uri = _profile_uri(owner, name)
    if not storage.exists(uri):
        raise InferloopError("NOT_FOUND", f"profile '{name}' was not found", status=404)
    return storage.read_json(uri)


@router.get("/profiles/{profile_name}", summary="A profile's details and statistics")
async def get_profile(profile_name: str, principal: CurrentPrincipal):
    doc = await run_in_threadpool(_read, principal.owner, profile_name)
    return {k: v for k, v in doc.items() if k != "samples"}


@router.delete("/profiles/{profile_name}", summary="Delete a profile")
async def delete_profile(profile_name: str, principal: CurrentPrincipal):
    await run_in_threadpool(_read, principal.owner, profile_name)
    await run_in_threadpool(storage.remove, _profile_uri(principal.owner, profile_name), False)
    return {"message": f"profile '{profile_name}' deleted"}


@router.post("/profiles", status_code=201, openapi_extra=CREATE_DOC,
             summary="Create a profile from images (uploaded, image_paths or dataset_dir); append=true adds to one")
async def create_profile(request: Request, principal: CurrentPrincipal, settings: SettingsDep):
    check_rate(request, principal, settings, "validation")
    inputs = await read_inputs(request, settings, {"name", "dataset_dir", "image_paths", "append"})
    name = inputs.get("name")
    if not isinstance(name, str):
        raise invalid("name", name, "a profile name", "Invalid parameter: name is required")
    uri = _profile_uri(principal.owner, name)
    append = inputs.flag("append", False)
    exists = await run_in_threadpool(storage.exists, uri)
    if exists and not append:
        raise InferloopError("CONFLICT", f"profile '{name}' exists: send append=true to add images to it, or "
                             "delete it first", "name", status=409)
    images, folder, prefix = await run_in_threadpool(named_images, principal.owner, inputs)
    if not images and folder is None and not inputs.files:
        raise invalid("files", None, "uploaded image files, image_paths or dataset_dir",
                      "Invalid parameter: give images: upload files, or image_paths / dataset_dir")
    job_id = new_job_id("imgprof")
    images += await store_uploads(inputs.files, f"{storage.run_dir(job_id)}/uploads", settings)
    params = {"name": name, "output_uri": uri, "output_path": f"{PROFILES}/{name}.json", "images": images,
              "dataset_dir": folder, "path_prefix": prefix, "append": append}
    try:
        fr = await start_image_job(job_id, "image_profile", principal.owner, "image_profile", params,
                                   {"parameters": {"name": name, "dataset_dir": prefix, "append": append},
                                    "images": len(images)})
    except Exception:
        await run_in_threadpool(storage.remove, storage.run_dir(job_id))
        raise
    fr = await wait_final(job_id, fr, settings)
    return {**await run_in_threadpool(run_result, str(fr.id)), "job_id": job_id}
