"""Flow `image_generate`: load model -> denoise (batches) -> [match profile] -> save -> thumbnail, with a manifest.

Used by POST /api/v1/generate, /generate/batch and the WebSocket channel; callable directly too:

    from flows.image_generate import image_generate
    manifest = image_generate(prompts=["a lighthouse at dusk"], width=64, height=64, num_inference_steps=5, seed=42)
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from prefect import flow
from prefect.exceptions import TerminationSignal
from prefect.runtime import flow_run
from prefect.states import Cancelled

from flows.outputs import current_run_dir, record_error, write_result
from flows.progress import Progress
from inferloop.settings import get_settings
from tasks.image.generate import (CancelledByUser, StepReporter, denoise, load_model, save_images,
                                  thumbnail)
from tasks.image.params import MAX_SEED, check_generation


@flow(name="image_generate", persist_result=True, log_prints=True)
def image_generate(prompts: list[str], negative_prompt: str | None = None, model_id: str | None = None,
                   width: int = 512, height: int = 512, num_inference_steps: int = 50, guidance_scale: float = 7.5,
                   seed: int | None = None, count: int = 1, batch_size: int | None = None,
                   output_dir: str | None = None, path_prefix: str | None = None, job_id: str | None = None,
                   profile: dict | None = None, profile_strength: float = 1.0) -> dict:
    """Generate `count` images per prompt (image i has seed `seed + i`); returns a manifest of the images.

    `output_dir` (a storage URI; default: this run's folder) receives image_<id>.png and a JSON sidecar each;
    `path_prefix` is how the API names that folder to its owner (/data/generated/...). `profile` (a profile's
    name and statistics) adjusts every image toward that profile. `job_id` links the run to its API job (ids
    and the cancel flag).
    """
    out = current_run_dir()
    try:
        return _generate(out, prompts, negative_prompt, model_id, width, height, num_inference_steps,
                         guidance_scale, seed, count, batch_size, output_dir, path_prefix, job_id, profile,
                         profile_strength)
    except CancelledByUser as exc:
        print(f"stopped: {exc}")
        return Cancelled(message=str(exc))
    except Exception as exc:
        record_error(out, exc)
        raise


def _generate(out: str, prompts: list[str], negative_prompt: str | None, model_id: str | None, width: int,
              height: int, steps: int, guidance_scale: float, seed: int | None, count: int, batch_size: int | None,
              output_dir: str | None, path_prefix: str | None, job_id: str | None, profile: dict | None,
              profile_strength: float) -> dict[str, Any]:
    settings = get_settings()
    started = time.perf_counter()
    p = check_generation(prompts=list(prompts), negative_prompt=negative_prompt, width=width, height=height,
                         num_inference_steps=steps, guidance_scale=guidance_scale, seed=seed, count=count,
                         batch_size=batch_size, max_steps=settings.image_max_steps,
                         max_count=settings.image_max_count, max_prompts=settings.image_max_batch_prompts,
                         prompt_field="prompts")
    if p["seed"] is None:
        p["seed"] = secrets.randbelow(MAX_SEED - len(p["prompts"]) * count)
    run_id = str(flow_run.id) if flow_run.id else None
    ident = job_id or f"run_{(run_id or secrets.token_hex(10)).replace('-', '')[:20]}"
    folder = (output_dir or f"{out}/images").rstrip("/")
    jobs = [(prompt, p["seed"] + i) for i, prompt in enumerate(x for x in p["prompts"] for _ in range(count))]
    size = p["batch_size"]
    batches = [jobs[i:i + size] for i in range(0, len(jobs), size)]

    progress = Progress("image generation")
    reporter = StepReporter(run_id, job_id, len(jobs), len(batches), progress, out)
    timings: dict[str, float] = {}
    try:
        t = time.perf_counter()
        pipe, ref, device = load_model(model_id)
        timings["load_model"] = time.perf_counter() - t
        progress.set(2, f"model {ref['model_id']} loaded", force=True)

        images: list = []
        t = time.perf_counter()
        try:
            for b, batch in enumerate(batches):
                reporter.begin_batch(b, len(batch))
                images += denoise(pipe, [x[0] for x in batch], p["negative_prompt"], [x[1] for x in batch],
                                  p["width"], p["height"], p["num_inference_steps"], p["guidance_scale"], reporter)
                reporter.end_batch()
        except TerminationSignal:  # Prefect's cancel reached the worker before the next step's flag check
            reporter.record_cancel("terminated by the worker during a step")
            raise
        timings["denoise"] = time.perf_counter() - t
    finally:
        reporter.close()

    adjustments: list[dict | None] = [None] * len(images)
    if profile:
        import numpy as np
        from PIL import Image

        from tasks.image.profile import match

        t = time.perf_counter()
        for i, im in enumerate(images):
            arr, adjustments[i] = match(np.asarray(im.convert("RGB")), profile["statistics"], profile_strength)
            images[i] = Image.fromarray(arr)
        timings["profile_match"] = time.perf_counter() - t

    params = {"negative_prompt": p["negative_prompt"], "model_id": ref["model_id"], "width": p["width"],
              "height": p["height"], "num_inference_steps": p["num_inference_steps"],
              "guidance_scale": p["guidance_scale"]}
    records = []
    for i, ((prompt, s), im) in enumerate(zip(jobs, images)):
        image_id = f"{ident}_{i}"
        name = f"image_{ident.split('_', 1)[-1]}_{i}.png"
        png_meta = {"prompt": prompt, "seed": s, **params}
        if profile:
            png_meta["profile"] = profile["name"]
        records.append({
            "image_id": image_id, "index": i, "uri": f"{folder}/{name}",
            "path": f"{path_prefix.rstrip('/')}/{name}" if path_prefix else f"{folder}/{name}",
            "prompt": prompt, "seed": s, **params, "job_id": job_id, "flow_run_id": run_id,
            "profile": {"name": profile["name"], **adjustments[i]} if profile else None,
            "png_metadata": png_meta})
    t = time.perf_counter()
    saved = save_images(images, records)
    timings["save"] = time.perf_counter() - t
    thumbnail(images, saved, f"{len(saved)} image(s), {p['width']}x{p['height']}, {p['num_inference_steps']} steps")
    progress.set(98, f"saved {len(saved)} image(s)", force=True)

    elapsed = time.perf_counter() - started
    manifest = {
        "flow_run_id": run_id, "job_id": job_id, "model": ref, "device": device,
        "prompts": p["prompts"], "count": count, "seed": p["seed"], "batch_size": size,
        "parameters": params, "images": saved, "profile": profile["name"] if profile else None,
        "denoising_steps": reporter.steps_done, "generation_time": round(elapsed, 3),
        "images_per_second": round(len(saved) / timings["denoise"], 4) if timings.get("denoise") else None,
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
    write_result(out, manifest, "manifest.json")
    progress.set(100, "done", force=True)
    return manifest
