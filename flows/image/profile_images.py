"""Flow `image_profile`: statistics of a set of images saved as a named profile (JSON in the owner's
/data/profiles/). Used by POST /api/v1/profiles; callable directly with local paths:

    from flows.image.profile_images import image_profile
    doc = image_profile(name="office", images=[{"uri": "/tmp/a.png", "path": "a.png"}], output_uri="/tmp/office.json")
"""

from __future__ import annotations

from datetime import datetime, timezone

from prefect import flow, task
from prefect.cache_policies import NONE

from flows.image.validate import _images
from flows.outputs import run_outputs
from flows.progress import Progress
from inferloop.core import storage


@task(name="image-statistics", cache_policy=NONE)
def image_statistics(chunk: list[dict]) -> list[dict]:
    """Colour means, brightness, contrast and size of each image of the chunk."""
    from tasks.image.pixels import read_rgb
    from tasks.image.profile import image_stats

    return [{"path": img["path"], **{k: round(v, 5) for k, v in image_stats(read_rgb(img["uri"])).items()}}
            for img in chunk]


@flow(name="image_profile", persist_result=True, log_prints=True)
def image_profile(name: str, output_uri: str, images: list[dict] | None = None, dataset_dir: str | None = None,
                  path_prefix: str | None = None, output_path: str | None = None, append: bool = False) -> dict:
    """Profile the images ({uri, path}, or a folder's) as `name`; `append` adds them to an existing profile."""
    from tasks.image.profile import aggregate

    with run_outputs() as out:
        progress = Progress("image profile")
        todo = _images(images, dataset_dir, path_prefix)
        samples: list[dict] = []
        for i in range(0, len(todo), 32):
            samples += image_statistics(todo[i:i + 32])
            progress.set(90.0 * min(len(todo), i + 32) / len(todo), f"{len(samples)}/{len(todo)} images")
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        created = now
        if append and storage.exists(output_uri):
            old = storage.read_json(output_uri)
            samples = old.get("samples", []) + samples
            created = old.get("created_at", now)
        doc = {"name": name, "created_at": created, "updated_at": now, "sample_count": len(samples),
               "path": output_path or output_uri, "statistics": aggregate(samples), "samples": samples}
        storage.write_json(output_uri, doc)
        summary = {k: v for k, v in doc.items() if k != "samples"}
        return progress.finish(out, summary)
