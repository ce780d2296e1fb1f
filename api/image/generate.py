"""image-api.md, generation: POST /generate, POST /generate/batch, image downloads (PNG bytes, metadata) and
files of the caller's /data area.

Both generation endpoints wait for their flow run (`image_generate` on the work pool) like every sync endpoint
of the platform, and answer the documented shape plus job id, image ids, seeds and download URLs; with
`?wait=false` they answer 202 at once with the job id (follow it at /api/v1/jobs/{id} or on the WebSocket).
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentPrincipal, SettingsDep
from api.jobs import read_manifest
from api.image.common import (V1, base_url, check_rate, generation_result, image_by_id, image_view,
                              new_job_id, queue_position, start_image_job, wait_final)
from inferloop.core import storage
from inferloop.core.auth import Principal
from inferloop.core.errors import InferloopError
from inferloop.core.settings import Settings
from tasks.image.area import GENERATED, PROFILES, check_name, owner_root, to_uri
from tasks.image.models import resolve_model
from tasks.image.params import MAX_SEED, check_generation, invalid, max_side

router = APIRouter(tags=["image generation"])


class _Generation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    negative_prompt: str | None = Field(None, description="what should not appear in the image")
    model_id: str | None = Field(None, description="a diffusers model available offline (default: the server's)")
    width: int = Field(512, description="pixels, a multiple of 8, 64..1024 (less on some tiers)")
    height: int = Field(512, description="pixels, a multiple of 8, 64..1024 (less on some tiers)")
    num_inference_steps: int | None = Field(None, description="denoising steps, 1..150 (default 50: "
                                                               "INFERLOOP_IMAGE_DEFAULT_STEPS)")
    guidance_scale: float = Field(7.5, description="classifier-free guidance, 0..30")
    seed: int | None = Field(None, description="image i of the request uses seed + i (random when omitted)")
    count: int = Field(1, description="images per prompt")
    batch_size: int | None = Field(None, description="images per pipeline call (default: up to 4)")
    dataset: str | None = Field(None, description="save into /data/generated/<dataset>/ (default /data/generated/)")
    profile: str | None = Field(None, description="adjust the images toward this image profile's statistics")
    profile_strength: float = Field(1.0, description="0..1: how far toward the profile")


class GenerateRequest(_Generation):
    prompt: str = Field(..., description="text prompt for image generation")


class BatchRequest(_Generation):
    prompts: list[str] = Field(..., description="one or more prompts")


def load_profile(owner: str, name: str) -> dict:
    """A stored profile (name and statistics) for generation; 400 when the owner has none of that name."""
    check_name(name, "profile")
    uri = to_uri(owner, f"{PROFILES}/{name}.json")
    if not storage.exists(uri):
        raise invalid("profile", name, "the name of one of your profiles (GET /api/v1/profiles)",
                      f"Invalid parameter: profile '{name}' was not found")
    doc = storage.read_json(uri)
    return {"name": doc["name"], "statistics": doc["statistics"]}


def prepare(body: _Generation, prompts: list[str], principal: Principal, settings: Settings,
            prompt_field: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every check before a run; returns (flow parameters without job/output, public parameters)."""
    profile = load_profile(principal.owner, body.profile) if body.profile else None
    width, height = body.width, body.height
    if profile and not {"width", "height"} & body.model_fields_set:
        from tasks.image.profile import target_size

        width, height = target_size(profile["statistics"], max_side(principal.tier))
    p = check_generation(prompts=prompts, negative_prompt=body.negative_prompt, width=width, height=height,
                         num_inference_steps=settings.image_default_steps if body.num_inference_steps is None
                         else body.num_inference_steps,
                         guidance_scale=body.guidance_scale,
                         seed=body.seed, count=body.count, batch_size=body.batch_size, tier=principal.tier,
                         max_steps=settings.image_max_steps, max_count=settings.image_max_count,
                         max_prompts=settings.image_max_batch_prompts, prompt_field=prompt_field)
    if not 0.0 <= body.profile_strength <= 1.0:
        raise invalid("profile_strength", body.profile_strength, "0 <= profile_strength <= 1")
    model = resolve_model(body.model_id, settings)
    seed = p["seed"] if p["seed"] is not None else secrets.randbelow(MAX_SEED - len(p["prompts"]) * p["count"])
    folder = GENERATED + (f"/{check_name(body.dataset, 'dataset')}" if body.dataset else "")
    flow = {"prompts": p["prompts"], "negative_prompt": p["negative_prompt"], "model_id": model["model_id"],
            "width": p["width"], "height": p["height"], "num_inference_steps": p["num_inference_steps"],
            "guidance_scale": p["guidance_scale"], "seed": seed, "count": p["count"], "batch_size": p["batch_size"],
            "output_dir": to_uri(principal.owner, folder), "path_prefix": folder, "profile": profile,
            "profile_strength": body.profile_strength}
    public = {"negative_prompt": p["negative_prompt"], "model_id": model["model_id"], "width": p["width"],
              "height": p["height"], "num_inference_steps": p["num_inference_steps"],
              "guidance_scale": p["guidance_scale"], "seed": seed, "count": p["count"],
              "batch_size": p["batch_size"], **({"dataset": body.dataset} if body.dataset else {}),
              **({"profile": body.profile, "profile_strength": body.profile_strength} if profile else {})}
    return flow, public


async def submit_generation(kind: str, prefix: str, flow: dict, public: dict, owner: str):
    """Record and start a generation job: (job_id, flow run)."""
    job_id = new_job_id(prefix)
    fr = await start_image_job(job_id, kind, owner, "image_generate", {**flow, "job_id": job_id},
                               {"parameters": public, "prompts": flow["prompts"][:64]})
    return job_id, fr


async def accepted(job_id: str, fr, settings: Settings) -> JSONResponse:
    return JSONResponse(status_code=202, content={
        "job_id": job_id, "status": "pending", "status_url": f"{V1}/jobs/{job_id}",
        "queue_position": await queue_position(fr, settings), "websocket": f"{V1}/ws/generation"})


@router.post("/generate", summary="Generate images from a prompt (waits for the result; ?wait=false: 202)")
async def generate(body: GenerateRequest, request: Request, principal: CurrentPrincipal, settings: SettingsDep,
                   wait: bool = Query(True, description="false: answer 202 with the job id at once")):
    check_rate(request, principal, settings, "generation")
    flow, public = await run_in_threadpool(prepare, body, [body.prompt], principal, settings, "prompt")
    job_id, fr = await submit_generation("image_generate", "img", flow, public, principal.owner)
    if not wait:
        return await accepted(job_id, fr, settings)
    fr = await wait_final(job_id, fr, settings)
    manifest = await run_in_threadpool(read_manifest, str(fr.id))
    result = generation_result(manifest, base_url(request))
    first = result["images"][0]
    return {**result, "image_path": first["image_path"], "prompt": body.prompt, "parameters": public,
            "job_id": job_id, "image_id": first["image_id"], "download_url": first["download_url"],
            "seed": first["seed"]}


@router.post("/generate/batch", summary="Generate images for several prompts (waits; ?wait=false: 202)")
async def generate_batch(body: BatchRequest, request: Request, principal: CurrentPrincipal, settings: SettingsDep,
                         wait: bool = Query(True, description="false: answer 202 with the job id at once")):
    check_rate(request, principal, settings, "generation")
    flow, public = await run_in_threadpool(prepare, body, list(body.prompts), principal, settings, "prompts")
    job_id, fr = await submit_generation("image_batch", "batch", flow, public, principal.owner)
    if not wait:
        return await accepted(job_id, fr, settings)
    fr = await wait_final(job_id, fr, settings)
    manifest = await run_in_threadpool(read_manifest, str(fr.id))
    result = generation_result(manifest, base_url(request))
    return {"batch_id": job_id, "job_id": job_id, **result, "parameters": public}


@router.get("/images/{image_id}", summary="Download a generated image (PNG)", response_class=StreamingResponse)
async def download_image(image_id: str, principal: CurrentPrincipal):
    img = await run_in_threadpool(image_by_id, image_id, principal.owner)
    if not await run_in_threadpool(storage.exists, img["uri"]):
        raise InferloopError("NOT_FOUND", f"image '{image_id}' is no longer stored", status=404)
    return StreamingResponse(_chunks(img["uri"]), media_type="image/png",
                             headers={"Content-Disposition": f'inline; filename="{img["uri"].rsplit("/", 1)[-1]}"'})


@router.get("/images/{image_id}/metadata", summary="A generated image's metadata (prompt, seed, parameters)")
async def image_metadata(image_id: str, request: Request, principal: CurrentPrincipal):
    img = await run_in_threadpool(image_by_id, image_id, principal.owner)
    return {**image_view(img, base_url(request)), "negative_prompt": img.get("negative_prompt"),
            "model_id": img.get("model_id"), "num_inference_steps": img.get("num_inference_steps"),
            "guidance_scale": img.get("guidance_scale"), "job_id": img.get("job_id")}


@router.get("/files", summary="Download a file of your /data area (images, exports, profiles)",
            response_class=StreamingResponse)
async def download_file(principal: CurrentPrincipal, path: str = Query(..., description="e.g. /data/exports/x.jsonl")):
    uri = to_uri(principal.owner, path, "path")
    if uri == owner_root(principal.owner) or not await run_in_threadpool(_is_file, uri):
        raise InferloopError("NOT_FOUND", f"no file at {path}", status=404)
    name = uri.rsplit("/", 1)[-1]
    media = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "json": "application/json",
             "jsonl": "application/x-ndjson", "webp": "image/webp"}.get(name.rsplit(".", 1)[-1].lower(),
                                                                         "application/octet-stream")
    return StreamingResponse(_chunks(uri), media_type=media, headers={"Content-Disposition":
                                                                      f'attachment; filename="{name}"'})


def _is_file(uri: str) -> bool:
    fs, path = storage.fs_for(uri)
    return fs.isfile(path)


def _chunks(uri: str):
    with storage.open_uri(uri, "rb") as f:
        while block := f.read(1 << 16):
            yield block
