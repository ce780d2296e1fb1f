"""Flow `image_generate`: load model -> denoise (batches) -> [match profile] -> save -> thumbnail, with a manifest.

Used by POST /api/v1/generate, /generate/batch and the WebSocket channel; callable directly too:

    from flows.image.generate import image_generate
    manifest = image_generate(prompts=["a lighthouse at dusk"], width=64, height=64, num_inference_steps=5, seed=42)
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from prefect import flow
from prefect.exceptions import TerminationSignal
from prefect.runtime import flow_run
from prefect.states import Cancelled

from flows.outputs import run_outputs
from flows.progress import Steps
from inferloop.core.settings import get_settings
from tasks.image.generate import (CancelledByUser, StepReporter, denoise, load_model, save_images,
                                  thumbnail)
from tasks.image.params import DEFAULT_STEPS, MAX_SEED, check_generation


@flow(name="image_generate", persist_result=True, log_prints=True)
def image_generate(prompts: list[str], negative_prompt: str | None = None, model_id: str | None = None,
                   width: int = 512, height: int = 512, num_inference_steps: int = DEFAULT_STEPS,
                   guidance_scale: float = 7.5, seed: int | None = None, count: int = 1,
                   batch_size: int | None = None, output_dir: str | None = None, path_prefix: str | None = None,
                   job_id: str | None = None, profile: dict | None = None, profile_strength: float = 1.0) -> dict:
    """Generate `count` images per prompt (image i has seed `seed + i`); returns a manifest of the images.

    `output_dir` (a storage URI; default: this run's folder) receives image_<id>.png and a JSON sidecar each;
    `path_prefix` is how the API names that folder to its owner (/data/generated/...). `profile` (a profile's
    name and statistics) adjusts every image toward that profile. `job_id` links the run to its API job (ids
    and the cancel flag).
    """
    with run_outputs() as out:
        try:
            request = _Request.checked(
                prompts=prompts, negative_prompt=negative_prompt, model_id=model_id, width=width, height=height,
                num_inference_steps=num_inference_steps, guidance_scale=guidance_scale, seed=seed, count=count,
                batch_size=batch_size, output_dir=output_dir, path_prefix=path_prefix, job_id=job_id,
                profile=profile, profile_strength=profile_strength)
            return _generate(out, request)
        except CancelledByUser as exc:  # the job's cancel flag: the run ends Cancelled, not Failed
            print(f"stopped: {exc}")
            return Cancelled(message=str(exc))


@dataclass(frozen=True)
class _Request:
    """The flow's parameters, checked: check_generation's clean values, and a seed drawn when none was given."""

    prompts: list[str]
    negative_prompt: str | None
    model_id: str | None
    width: int
    height: int
    num_inference_steps: int
    guidance_scale: float
    seed: int
    count: int
    batch_size: int
    output_dir: str | None
    path_prefix: str | None
    job_id: str | None
    profile: dict | None
    profile_strength: float

    @classmethod
    def checked(cls, *, prompts: list[str], model_id: str | None, output_dir: str | None,
                path_prefix: str | None, job_id: str | None, profile: dict | None, profile_strength: float,
                **generation: Any) -> _Request:
        settings = get_settings()
        p = check_generation(prompts=list(prompts), **generation, max_steps=settings.image_max_steps,
                             max_count=settings.image_max_count, max_prompts=settings.image_max_batch_prompts,
                             prompt_field="prompts")
        if p["seed"] is None:
            p["seed"] = secrets.randbelow(MAX_SEED - len(p["prompts"]) * p["count"])
        return cls(**p, model_id=model_id, output_dir=output_dir, path_prefix=path_prefix, job_id=job_id,
                   profile=profile, profile_strength=profile_strength)

    def images(self) -> list[tuple[str, int]]:
        """(prompt, seed) of each image: `count` per prompt, seeds seed, seed + 1, ..."""
        per_image = (prompt for prompt in self.prompts for _ in range(self.count))
        return [(prompt, self.seed + i) for i, prompt in enumerate(per_image)]

    def parameters(self, model_id: str) -> dict[str, Any]:
        """The generation parameters every image shares (the manifest's `parameters`)."""
        return {"negative_prompt": self.negative_prompt, "model_id": model_id, "width": self.width,
                "height": self.height, "num_inference_steps": self.num_inference_steps,
                "guidance_scale": self.guidance_scale}


def _generate(out: str, r: _Request) -> dict[str, Any]:
    run_id = str(flow_run.id) if flow_run.id else None
    todo = r.images()
    batches = [todo[i:i + r.batch_size] for i in range(0, len(todo), r.batch_size)]
    steps = Steps("image generation")
    images, ref, device, steps_done = _denoise_batches(out, r, run_id, batches, steps)
    adjustments = _match_profile(images, r.profile, r.profile_strength, steps) if r.profile else None
    params = r.parameters(ref["model_id"])
    records = _image_records(out, r, run_id, todo, params, adjustments or [None] * len(images))
    with steps.step("save"):
        saved = save_images(images, records)
    thumbnail(images, saved, f"{len(saved)} image(s), {r.width}x{r.height}, {r.num_inference_steps} steps")
    steps.set(98, f"saved {len(saved)} image(s)", force=True)
    denoising = steps.timings.get("denoise")
    manifest = {
        "flow_run_id": run_id, "job_id": r.job_id, "model": ref, "device": device,
        "prompts": r.prompts, "count": r.count, "seed": r.seed, "batch_size": r.batch_size,
        "parameters": params, "images": saved, "profile": r.profile["name"] if r.profile else None,
        "denoising_steps": steps_done, "generation_time": steps.seconds(),
        "images_per_second": round(len(saved) / denoising, 4) if denoising else None,
        "timings": steps.rounded_timings(),
    }
    return steps.finish(out, manifest, "manifest.json")


def _denoise_batches(out: str, r: _Request, run_id: str | None, batches: list[list[tuple[str, int]]],
                     steps: Steps) -> tuple[list, dict, str, int]:
    """Load the model, then denoise batch after batch (per-step events, cancel flag): (images, model ref,
    device, denoising steps done)."""
    reporter = StepReporter(run_id, r.job_id, sum(len(b) for b in batches), len(batches), steps, out)
    try:
        with steps.step("load_model", 2) as step:
            pipe, ref, device = load_model(r.model_id)
            step.message = f"model {ref['model_id']} loaded"
        images: list = []
        with steps.step("denoise"):
            try:
                for b, batch in enumerate(batches):
                    reporter.begin_batch(b, len(batch))
                    images += denoise(pipe, [prompt for prompt, _ in batch], r.negative_prompt,
                                      [seed for _, seed in batch], r.width, r.height, r.num_inference_steps,
                                      r.guidance_scale, reporter)
                    reporter.end_batch()
            except TerminationSignal:  # Prefect's cancel reached the worker before the next step's flag check
                reporter.record_cancel("terminated by the worker during a step")
                raise
    finally:
        reporter.close()
    return images, ref, device, reporter.steps_done


def _match_profile(images: list, profile: dict, strength: float, steps: Steps) -> list[dict]:
    """Adjust each image (in place) toward the profile's statistics; returns each image's adjustments."""
    import numpy as np
    from PIL import Image

    from tasks.image.profile import match

    adjustments = []
    with steps.step("profile_match"):
        for i, im in enumerate(images):
            arr, adjusted = match(np.asarray(im.convert("RGB")), profile["statistics"], strength)
            images[i] = Image.fromarray(arr)
            adjustments.append(adjusted)
    return adjustments


def _image_records(out: str, r: _Request, run_id: str | None, todo: list[tuple[str, int]], params: dict,
                   adjustments: list[dict | None]) -> list[dict[str, Any]]:
    """Each image's record: ids, where it is saved (uri) and shown (path), its parameters and PNG metadata.

    Image ids are `<job id>_<n>` (`run_<run id>_<n>` for a direct call): an image id leads to its job."""
    ident = r.job_id or f"run_{(run_id or secrets.token_hex(10)).replace('-', '')[:20]}"
    folder = (r.output_dir or f"{out}/images").rstrip("/")
    records = []
    for i, ((prompt, seed), adjusted) in enumerate(zip(todo, adjustments)):
        name = f"image_{ident.split('_', 1)[-1]}_{i}.png"
        png_meta = {"prompt": prompt, "seed": seed, **params}
        if r.profile:
            png_meta["profile"] = r.profile["name"]
        records.append({
            "image_id": f"{ident}_{i}", "index": i, "uri": f"{folder}/{name}",
            "path": f"{r.path_prefix.rstrip('/')}/{name}" if r.path_prefix else f"{folder}/{name}",
            "prompt": prompt, "seed": seed, **params, "job_id": r.job_id, "flow_run_id": run_id,
            "profile": {"name": r.profile["name"], **adjusted} if r.profile else None,
            "png_metadata": png_meta})
    return records
