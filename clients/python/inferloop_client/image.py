"""`ImageClient`: the image API (image-api.md, /api/v1) from Python.

>>> client = ImageClient(api_key="il_...", base_url="http://localhost:8000")
>>> r = client.generate("a lighthouse at dusk", width=64, height=64, num_inference_steps=10, seed=42)
>>> client.download_image(r["image_id"], "lighthouse.png")
>>> for msg in client.stream("a harbour", width=64, height=64):     # WebSocket: progress per step, then result
...     print(msg["type"], msg.get("step"))

Errors are the platform's typed errors (inferloop_client.errors); jobs are handles with wait/cancel/progress.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from inferloop_client import config as client_config
from inferloop_client.errors import JobCancelledError, JobFailedError
from inferloop_client.http import FilePart, RetryPolicy, Transport
from inferloop_client.jobs import _Handle

ImageInput = str | Path | bytes


class ImageJob(_Handle):
    """A generation job (`GET /api/v1/jobs/{id}`): status, per-step progress, queue position, result, cancel."""

    def refresh(self) -> dict[str, Any]:
        self.info = self._client._t.json("GET", f"/api/v1/jobs/{self.id}")
        return self.info

    @property
    def progress(self) -> dict[str, Any]:
        """{percent_complete, step, total_steps, ...} as last seen."""
        return self.info.get("progress") or {}

    @property
    def queue_position(self) -> int | None:
        return self.info.get("queue_position")

    def raise_for_status(self) -> None:
        if self.info.get("status") != "failed":
            return
        errors = self.info.get("errors") or []
        first = errors[0] if errors else {}
        message = first.get("message") if isinstance(first, dict) else str(first)
        cls = JobCancelledError if self.info.get("stage") == "cancelled" else JobFailedError
        raise cls(message or f"job {self.id} {self.info.get('stage')}", job=self.info, details={"job_id": self.id},
                  code="CANCELLED" if cls is JobCancelledError else (first.get("code") if isinstance(first, dict)
                                                                      else "FAILED"))

    def result(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait, then the result: images (ids, paths, seeds, download URLs), model, timings."""
        return self.wait(timeout=timeout).get("result") or {}


class ImageClient:
    """Client of the Inferloop image API. Key and URL as for TabularClient (argument, env, CLI config)."""

    api_prefix = "/api/v1"

    def __init__(self, api_key: str | None = None, base_url: str | None = None, *, timeout: float = 60.0,
                 sync_timeout: float = 960.0, max_retries: int = 3, max_retry_wait: float = 60.0,
                 http_client: httpx.Client | None = None):
        self.api_key = client_config.api_key(api_key)
        self.base_url = client_config.api_url(base_url)
        self.sync_timeout = sync_timeout
        self._t = Transport(self.base_url, self.api_key, timeout=timeout, http_client=http_client,
                            retry=RetryPolicy(max_retries=max_retries, max_wait=max_retry_wait))

    def __repr__(self) -> str:
        return f"ImageClient(base_url={self.base_url!r})"

    def __enter__(self) -> "ImageClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._t.close()

    def _post(self, path: str, body: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self._t.json("POST", f"{self.api_prefix}{path}", json=body, timeout=self.sync_timeout, **kwargs)

    # --- generation -------------------------------------------------------------------------------------------

    def generate(self, prompt: str, *, wait: bool = True, **params: Any) -> dict[str, Any] | ImageJob:
        """One prompt (`count` images): the documented response (image_path, parameters, job_id, images...),
        or with wait=False a job handle. Parameters: negative_prompt, model_id, width, height,
        num_inference_steps, guidance_scale, seed, count, batch_size, dataset, profile, profile_strength."""
        body = {"prompt": prompt, **_given(params)}
        if not wait:
            return self.job(self._post("/generate", body, params={"wait": "false"})["job_id"])
        return self._post("/generate", body)

    def generate_image(self, prompt: str, **params: Any) -> dict[str, Any]:
        """image-api.md's SDK call: generate and wait; the answer has `image_path`."""
        return self.generate(prompt, **params)

    def generate_batch(self, prompts: list[str], *, wait: bool = True, **params: Any) -> dict[str, Any] | ImageJob:
        """Several prompts in one job (batch_size images per pipeline call): {batch_id, images, parameters}."""
        body = {"prompts": list(prompts), **_given(params)}
        if not wait:
            return self.job(self._post("/generate/batch", body, params={"wait": "false"})["job_id"])
        return self._post("/generate/batch", body)

    def job(self, job_id: str) -> ImageJob:
        return ImageJob(self, job_id)  # type: ignore[arg-type]

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel a job: denoising stops within one step."""
        return self._t.json("POST", f"{self.api_prefix}/jobs/{job_id}/cancel")

    def stream(self, prompt: str | None = None, *, job_id: str | None = None, timeout: float = 900.0,
               **params: Any) -> Iterator[dict[str, Any]]:
        """Generate over the WebSocket (or follow `job_id`): yields queued, progress (one per denoising step),
        then result / cancelled / error, and stops."""
        from websockets.sync.client import connect

        url = self.base_url.replace("https://", "wss://").replace("http://", "ws://")
        headers = {"X-API-Key": self.api_key} if self.api_key else {}
        message = {"type": "subscribe", "job_id": job_id} if job_id else {"type": "generate", "prompt": prompt,
                                                                          **_given(params)}
        with connect(f"{url}{self.api_prefix}/ws/generation", additional_headers=headers,
                     open_timeout=30) as ws:
            ws.send(json.dumps(message))
            while True:
                msg = json.loads(ws.recv(timeout=timeout))
                yield msg
                if msg["type"] in ("result", "cancelled", "error"):
                    return

    # --- images and files -------------------------------------------------------------------------------------

    def download_image(self, image_id: str, path: str | Path | None = None) -> bytes | Path:
        """PNG bytes of a generated image, or saved to `path` (returned)."""
        data = self._t.request("GET", f"{self.api_prefix}/images/{image_id}").content
        return _save(data, path)

    def image_metadata(self, image_id: str) -> dict[str, Any]:
        return self._t.json("GET", f"{self.api_prefix}/images/{image_id}/metadata")

    def download_file(self, data_path: str, path: str | Path | None = None) -> bytes | Path:
        """A file of your /data area (an export, a profile, an image)."""
        data = self._t.request("GET", f"{self.api_prefix}/files", params={"path": data_path}).content
        return _save(data, path)

    # --- validation -------------------------------------------------------------------------------------------

    def validate_quality(self, image_path: str | None = None, *, files: list[ImageInput] | None = None,
                         image_paths: list[str] | None = None, dataset_dir: str | None = None,
                         metrics: list[str] | None = None) -> dict[str, Any]:
        """Quality of an image of your /data (image_path), several, a folder, or local files (uploaded)."""
        return self._images("/validate/quality", image_path, files, image_paths, dataset_dir, {"metrics": metrics})

    def validate_privacy(self, image_path: str | None = None, *, files: list[ImageInput] | None = None,
                         image_paths: list[str] | None = None, dataset_dir: str | None = None,
                         check_faces: bool = True, check_text: bool = True, check_pii: bool = True) -> dict[str, Any]:
        """Faces, readable text and PII of images (as validate_quality takes them)."""
        return self._images("/validate/privacy", image_path, files, image_paths, dataset_dir,
                            {"check_faces": check_faces, "check_text": check_text, "check_pii": check_pii})

    def _images(self, path: str, image_path, files, image_paths, dataset_dir, options: dict) -> dict[str, Any]:
        if files:
            form = {k: (",".join(v) if isinstance(v, list) else v) for k, v in options.items() if v is not None}
            return self._t.json("POST", f"{self.api_prefix}{path}", data=form,
                                files=[_image_part(f, i) for i, f in enumerate(files)], timeout=self.sync_timeout)
        body = _given({"image_path": image_path, "image_paths": image_paths, "dataset_dir": dataset_dir, **options})
        return self._post(path, body)

    # --- profiles ---------------------------------------------------------------------------------------------

    def profiles(self) -> list[dict[str, Any]]:
        return self._t.json("GET", f"{self.api_prefix}/profiles")["profiles"]

    def profile(self, name: str) -> dict[str, Any]:
        return self._t.json("GET", f"{self.api_prefix}/profiles/{name}")

    def create_profile(self, name: str, *, files: list[ImageInput] | None = None, dataset_dir: str | None = None,
                       image_paths: list[str] | None = None, append: bool = False) -> dict[str, Any]:
        """A profile (colour, brightness, contrast, resolution statistics) of images; append=True adds to one."""
        if files:
            return self._t.json("POST", f"{self.api_prefix}/profiles", data={"name": name, "append": append},
                                files=[_image_part(f, i) for i, f in enumerate(files)], timeout=self.sync_timeout)
        return self._post("/profiles", _given({"name": name, "dataset_dir": dataset_dir, "image_paths": image_paths,
                                               "append": append}))

    def delete_profile(self, name: str) -> dict[str, Any]:
        return self._t.json("DELETE", f"{self.api_prefix}/profiles/{name}")

    # --- export -----------------------------------------------------------------------------------------------

    def export_jsonl(self, dataset_dir: str, output_file: str, *, include_metadata: bool = True,
                     include_annotations: bool = True) -> dict[str, Any]:
        return self._post("/export/jsonl", {"dataset_dir": dataset_dir, "output_file": output_file,
                                            "include_metadata": include_metadata,
                                            "include_annotations": include_annotations})

    def export_s3(self, dataset_dir: str, bucket_name: str, s3_prefix: str = "", *, include_metadata: bool = True,
                  public_read: bool = False) -> dict[str, Any]:
        return self._post("/export/s3", {"dataset_dir": dataset_dir, "bucket_name": bucket_name,
                                         "s3_prefix": s3_prefix, "include_metadata": include_metadata,
                                         "public_read": public_read})


def _given(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def _image_part(source: ImageInput, index: int) -> FilePart:
    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"no such image file: {path}")
        return FilePart("files", path.name, path, "image/*")
    if isinstance(source, (bytes, bytearray)):
        return FilePart("files", f"image_{index}.png", bytes(source), "image/png")
    raise TypeError(f"an image is a file path or bytes, got {type(source).__name__}")


def _save(data: bytes, path: str | Path | None) -> bytes | Path:
    if path is None:
        return data
    out = Path(path).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return out
