"""Generation tasks: load the pipeline, denoise (per-step progress and cancel), save PNGs, thumbnails.

Per-step progress is a Prefect event per denoising step (`inferloop.image.step` on the flow run's resource):
about a millisecond each in the flow, pushed to subscribers (the API's WebSocket) within milliseconds and kept
by the server for later readers. The progress artifact is refreshed at most twice a second from a helper
thread, so reporting never slows the denoising loop. Cancelling: the step callback reads the job's cancel
flag (set by POST /api/v1/jobs/{id}/cancel before the Prefect run is cancelled) after every step and stops the
pipeline at once.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prefect import task
from prefect.cache_policies import NONE

from inferloop.core import storage

STEP_EVENT = "inferloop.image.step"


class CancelledByUser(Exception):
    """The job's cancel flag was seen between two denoising steps."""

    def __init__(self, step: int, total: int):
        super().__init__(f"cancelled by the user after step {step} of {total}")
        self.step, self.total = step, total


def cancel_requested(job_id: str | None) -> bool:
    """Whether POST /jobs/{id}/cancel has been called for this job (one indexed read of the metadata store)."""
    if not job_id:
        return False
    from sqlalchemy import select

    from inferloop.core import db

    with db.engine().connect() as conn:
        return conn.scalar(select(db.Job.cancel_requested_at).where(db.Job.id == job_id)) is not None


class StepReporter:
    """The pipeline's `callback_on_step_end`: progress events, throttled progress artifact, cancel check."""

    def __init__(self, flow_run_id: str | None, job_id: str | None, images_total: int, batches: int,
                 progress=None, run_dir: str | None = None):
        self.flow_run_id, self.job_id = flow_run_id, job_id
        self.images_total, self.batches = images_total, batches
        self.progress, self.run_dir = progress, run_dir
        self.batch, self.batch_size, self.images_done = 0, 0, 0
        self.steps_done = 0
        self.last = (0, 0)                      # (step, total_steps) of the last step done
        self.step_times: list[float] = []
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="progress")
        self._pending = None
        self._last_push = 0.0
        self._lock = threading.Lock()

    def begin_batch(self, index: int, size: int) -> None:
        self.batch, self.batch_size = index, size

    def end_batch(self) -> None:
        self.images_done += self.batch_size

    def fraction(self, step: int, total: int) -> float:
        per_batch = 1.0 / max(1, self.batches)
        return min(1.0, self.batch * per_batch + per_batch * step / max(1, total))

    def __call__(self, pipe, step_index: int, timestep, callback_kwargs: dict) -> dict:
        step = step_index + 1
        total = int(getattr(pipe, "num_timesteps", 0) or step)
        now = time.time()
        self.steps_done += 1
        self.step_times.append(now)
        frac = self.fraction(step, total)
        if self.flow_run_id:
            from prefect.events import emit_event

            emit_event(STEP_EVENT, resource={"prefect.resource.id": f"prefect.flow-run.{self.flow_run_id}",
                                             "prefect.resource.name": self.job_id or self.flow_run_id},
                       payload={"job_id": self.job_id, "step": step, "total_steps": total, "batch": self.batch,
                                "batches": self.batches, "images_done": self.images_done,
                                "images_total": self.images_total, "progress": round(frac, 4), "t": now})
        self._push(frac * 90.0, f"batch {self.batch + 1}/{self.batches} step {step}/{total}")
        self.last = (step, total)
        if cancel_requested(self.job_id):
            self.record_cancel("cancel flag seen after the step")
            raise CancelledByUser(step, total)
        return callback_kwargs

    def _push(self, percent: float, message: str, force: bool = False) -> None:
        """Refresh the progress artifact from the helper thread (skipped while a refresh is in flight)."""
        if self.progress is None:
            return
        now = time.monotonic()
        with self._lock:
            if not force and (now - self._last_push < 0.5 or (self._pending and not self._pending.done())):
                return
            self._last_push = now
            self._pending = self._pool.submit(self.progress.set, percent, None, True)

    def record_cancel(self, how: str) -> None:
        """cancel.json in the run folder: after which step denoising stopped, how, and when every step ended.

        `how`: the step callback saw the job's cancel flag, or the process was terminated (Prefect's cancel
        reached the worker first) in the middle of a step.
        """
        if self.run_dir:
            step, total = self.last
            storage.write_json(f"{self.run_dir}/cancel.json", {
                "job_id": self.job_id, "stopped_after_step": step, "total_steps": total, "batch": self.batch,
                "how": how, "steps_done": self.steps_done, "step_end_times": self.step_times,
                "stopped_at": time.time()})

    def close(self) -> None:
        self._pool.shutdown(wait=True)


@task(name="load-model", cache_policy=NONE)
def load_model(model_id: str | None) -> tuple[Any, dict, str]:
    """Resolve and load the pipeline on CUDA when the worker has it, else CPU: (pipe, model ref, device)."""
    from inferloop.core.settings import get_settings
    from tasks.image.models import device_for, load_pipeline, resolve_model

    settings = get_settings()
    ref = resolve_model(model_id, settings)
    device = device_for(settings)
    if settings.image_torch_threads:
        import torch

        torch.set_num_threads(settings.image_torch_threads)
    started = time.perf_counter()
    pipe = load_pipeline(ref, device)
    print(f"model {ref['model_id']} ({ref['source']}) on {device} in {time.perf_counter() - started:.2f} s")
    return pipe, ref, device


@task(name="denoise", cache_policy=NONE)
def denoise(pipe, prompts: list[str], negative_prompt: str | None, seeds: list[int], width: int, height: int,
            steps: int, guidance_scale: float, reporter: StepReporter | None = None) -> list:
    """One pipeline call for these prompts (one image each, each from its own seeded generator): PIL images."""
    import torch

    generators = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
    with torch.inference_mode():
        out = pipe(prompt=list(prompts), negative_prompt=[negative_prompt] * len(prompts) if negative_prompt else None,
                   width=width, height=height, num_inference_steps=steps, guidance_scale=guidance_scale,
                   generator=generators, output_type="pil", callback_on_step_end=reporter,
                   callback_on_step_end_tensor_inputs=["latents"])
    return list(out.images)


def png_bytes(image, metadata: dict[str, Any]) -> bytes:
    """PNG with the generation parameters in a text chunk (no time stamps: same seed, same bytes)."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", json.dumps(metadata, sort_keys=True))
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


@task(name="save-images", cache_policy=NONE)
def save_images(images: list, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Write each image as PNG and its metadata as a JSON sidecar; returns the records with sizes."""
    from tasks.image.area import sidecar_uri

    out = []
    for image, rec in zip(images, records):
        data = png_bytes(image, rec["png_metadata"])
        with storage.open_uri(rec["uri"], "wb") as f:
            f.write(data)
        meta = {k: v for k, v in rec.items() if k != "png_metadata"}
        meta["size_bytes"] = len(data)
        storage.write_json(sidecar_uri(rec["uri"]), meta)
        out.append(meta)
    return out


@task(name="thumbnail", cache_policy=NONE)
def thumbnail(images: list, records: list[dict[str, Any]], title: str, max_images: int = 8, side: int = 96) -> str:
    """A markdown artifact showing small embedded PNG thumbnails of the run's images."""
    from prefect.artifacts import create_markdown_artifact

    cells = []
    for image, rec in list(zip(images, records))[:max_images]:
        thumb = image.copy()
        thumb.thumbnail((side, side))
        buf = io.BytesIO()
        thumb.save(buf, format="PNG")
        b64 = base64.b64encode(buf.getvalue()).decode()
        cells.append(f"![{rec['image_id']}](data:image/png;base64,{b64})")
    more = f"\n\n(+{len(images) - max_images} more)" if len(images) > max_images else ""
    lines = [f"### {title}", "", " ".join(cells) + more, "",
             "| image | seed | prompt |", "|---|---|---|"]
    lines += [f"| {r['image_id']} | {r['seed']} | {r['prompt'][:60].replace('|', '/')} |" for r in records[:max_images]]
    markdown = "\n".join(lines)
    create_markdown_artifact(markdown=markdown, description=title)
    return markdown
