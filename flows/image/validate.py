"""Flows `image_validate_quality` and `image_validate_privacy`: check images, in chunks, one task per chunk.

Used by POST /api/v1/validate/quality and /validate/privacy; callable directly with local paths too:

    from flows.image.validate import image_validate_privacy
    result = image_validate_privacy(images=[{"uri": "/tmp/photo.png", "path": "photo.png"}])

Results are written to the run folder (result.json); a generated image's sidecar keeps the latest result under
`annotations` (exported with include_annotations).
"""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NONE

from flows.outputs import run_outputs
from flows.progress import Progress
from inferloop.core import storage
from tasks.image.area import list_images, sidecar_uri


def _images(images: list[dict] | None, dataset_dir: str | None, path_prefix: str | None) -> list[dict]:
    found = list(images or [])
    if dataset_dir:
        root = dataset_dir.rstrip("/")
        for uri in list_images(root):
            rel = uri[len(root):]
            found.append({"uri": uri, "path": f"{path_prefix.rstrip('/')}{rel}" if path_prefix else uri})
    return found


def _annotate(uri: str, key: str, result: dict) -> None:
    """Keep the latest result in a generated image's sidecar (images without one are left alone)."""
    side = sidecar_uri(uri)
    if storage.exists(side):
        meta = storage.read_json(side)
        meta.setdefault("annotations", {})[key] = {k: v for k, v in result.items() if k != "image_path"}
        storage.write_json(side, meta)


@task(name="quality-checks", cache_policy=NONE)
def quality_checks(chunk: list[dict], metrics: list[str], annotate: bool) -> list[dict]:
    """Quality of each image of the chunk."""
    from tasks.image import pixels, quality

    out = []
    for img in chunk:
        r = {"image_path": img["path"], **quality.assess(pixels.read_rgb(img["uri"]), metrics)}
        if annotate:
            _annotate(img["uri"], "quality", r)
        out.append(r)
    return out


@task(name="privacy-checks", cache_policy=NONE)
def privacy_checks(chunk: list[dict], check_faces: bool, check_text: bool, check_pii: bool,
                   annotate: bool) -> list[dict]:
    """Faces, readable text and PII of each image of the chunk."""
    from tasks.image import pixels, privacy

    out = []
    for img in chunk:
        r = {"image_path": img["path"], **privacy.assess(pixels.read_rgb(img["uri"]), check_faces, check_text,
                                                          check_pii)}
        if annotate:
            _annotate(img["uri"], "privacy", r)
        out.append(r)
    return out


def _run(kind: str, images: list[dict], check, chunk_size: int, **options: Any) -> dict:
    with run_outputs() as out:
        progress = Progress(f"image {kind} validation")
        started = time.perf_counter()
        results: list[dict] = []
        chunks = [images[i:i + chunk_size] for i in range(0, len(images), chunk_size)]
        for n, chunk in enumerate(chunks):
            results += check(chunk, **options)
            progress.set(100.0 * (n + 1) / len(chunks), f"{len(results)}/{len(images)} images checked")
        elapsed = time.perf_counter() - started
        score_key = "quality_score" if kind == "quality" else "privacy_score"
        summary = {"count": len(results), "passed": sum(r["passed"] for r in results),
                   "failed": sum(not r["passed"] for r in results),
                   f"mean_{score_key}": round(sum(r[score_key] for r in results) / len(results), 4) if results else None,
                   "seconds": round(elapsed, 3),
                   "images_per_second": round(len(results) / elapsed, 3) if elapsed > 0 else None}
        result = {"kind": kind, "results": results, "summary": summary}
        return progress.finish(out, result)


@flow(name="image_validate_quality", persist_result=True, log_prints=True)
def image_validate_quality(images: list[dict] | None = None, dataset_dir: str | None = None,
                           path_prefix: str | None = None, metrics: list[str] | None = None,
                           annotate: bool = True) -> dict:
    """Sharpness, contrast, brightness, noise and resolution of images ({uri, path}) or of a folder's images."""
    from tasks.image.quality import parse_metrics

    selected = parse_metrics(metrics)
    return _run("quality", _images(images, dataset_dir, path_prefix), quality_checks, 32, metrics=selected,
                annotate=annotate)


@flow(name="image_validate_privacy", persist_result=True, log_prints=True)
def image_validate_privacy(images: list[dict] | None = None, dataset_dir: str | None = None,
                           path_prefix: str | None = None, check_faces: bool = True, check_text: bool = True,
                           check_pii: bool = True, annotate: bool = True) -> dict:
    """Faces, readable text and PII in text of images ({uri, path}) or of a folder's images."""
    return _run("privacy", _images(images, dataset_dir, path_prefix), privacy_checks, 8, check_faces=check_faces,
                check_text=check_text, check_pii=check_pii, annotate=annotate)
