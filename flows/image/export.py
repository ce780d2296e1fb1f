"""Flow `image_export`: a folder of images as a JSONL manifest, or uploaded to s3:// (s3fs) with a manifest.json.

Used by POST /api/v1/export/jsonl and /export/s3; callable directly:

    from flows.image.export import image_export
    image_export(target="jsonl", dataset_dir="/tmp/images", output_uri="/tmp/images.jsonl")

JSONL line (one per image): image_path, file_name, width, height, format, size_bytes, sha256, and with
include_metadata `metadata` (prompt, negative_prompt, seed, model_id, steps, guidance, job_id, profile), with
include_annotations `annotations` (the latest quality/privacy validation results of that image).
"""

from __future__ import annotations

import hashlib
import io
import time
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NONE

from flows.image.validate import _images
from flows.outputs import run_outputs
from flows.progress import Progress
from inferloop.core import storage
from tasks.image.area import sidecar_uri

METADATA_KEYS = ("prompt", "negative_prompt", "seed", "model_id", "width", "height", "num_inference_steps",
                 "guidance_scale", "job_id", "image_id", "profile")


def _record(img: dict, data: bytes, include_metadata: bool, include_annotations: bool) -> dict[str, Any]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        fmt, (w, h) = im.format, im.size
    rec: dict[str, Any] = {"image_path": img["path"], "file_name": img["uri"].rsplit("/", 1)[-1], "width": w,
                           "height": h, "format": fmt, "size_bytes": len(data),
                           "sha256": hashlib.sha256(data).hexdigest()}
    side = storage.read_json(sidecar_uri(img["uri"])) if (include_metadata or include_annotations) and \
        storage.exists(sidecar_uri(img["uri"])) else {}
    if include_metadata:
        rec["metadata"] = {k: side[k] for k in METADATA_KEYS if k in side}
    if include_annotations:
        rec["annotations"] = side.get("annotations", {})
    return rec


def _read(uri: str) -> bytes:
    with storage.open_uri(uri, "rb") as f:
        return f.read()


@task(name="describe-images", cache_policy=NONE)
def describe_images(chunk: list[dict], include_metadata: bool, include_annotations: bool) -> list[dict]:
    """The JSONL record of each image of the chunk."""
    return [_record(img, _read(img["uri"]), include_metadata, include_annotations) for img in chunk]


@task(name="upload-to-s3", cache_policy=NONE, retries=2, retry_delay_seconds=2)
def upload_to_s3(chunk: list[dict], root: str, base: str, include_metadata: bool, public_read: bool) -> list[dict]:
    """Upload each image (and its metadata JSON) under s3://bucket/prefix/, keeping paths below the dataset."""
    import json

    import s3fs

    fs = s3fs.S3FileSystem()
    acl = "public-read" if public_read else "private"
    out = []
    for img in chunk:
        rel = img["uri"][len(root):].lstrip("/") if img["uri"].startswith(root) else img["uri"].rsplit("/", 1)[-1]
        key = f"{base}/{rel}"
        try:
            data = _read(img["uri"])
            rec = _record(img, data, include_metadata, False)
            with fs.open(key, "wb", acl=acl) as f:
                f.write(data)
            rec.update(s3_uri=f"s3://{key}", uploaded=True)
            if include_metadata:
                meta_key = key.rsplit(".", 1)[0] + ".json"
                with fs.open(meta_key, "wb", acl=acl) as f:
                    f.write(json.dumps({"image": f"s3://{key}", **rec["metadata"]}).encode())
                rec["metadata_uri"] = f"s3://{meta_key}"
        except Exception as exc:  # one failed object is reported, the others go on
            rec = {"image_path": img["path"], "uploaded": False, "error": f"{type(exc).__name__}: {exc}"}
        out.append(rec)
    return out


@flow(name="image_export", persist_result=True, log_prints=True)
def image_export(target: str, dataset_dir: str | None = None, images: list[dict] | None = None,
                 path_prefix: str | None = None, output_uri: str | None = None, output_path: str | None = None,
                 include_metadata: bool = True, include_annotations: bool = True, bucket_name: str | None = None,
                 s3_prefix: str = "", public_read: bool = False) -> dict:
    """Export the images of `dataset_dir` (or `images`): target "jsonl" (output_uri) or "s3" (bucket_name)."""
    with run_outputs() as out:
        progress = Progress(f"image export ({target})")
        todo = _images(images, dataset_dir, path_prefix)
        root = (dataset_dir or "").rstrip("/")
        started = time.perf_counter()
        records: list[dict] = []
        for i in range(0, len(todo), 16):
            chunk = todo[i:i + 16]
            if target == "jsonl":
                records += describe_images(chunk, include_metadata, include_annotations)
            else:
                base = f"{bucket_name}/{s3_prefix.strip('/')}".rstrip("/")
                records += upload_to_s3(chunk, root, base, include_metadata, public_read)
            progress.set(90.0 * len(records) / len(todo), f"{len(records)}/{len(todo)} images")
        if target == "jsonl":
            import json

            text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode()
            with storage.open_uri(output_uri, "wb") as f:
                f.write(text)
            result = {"status": "success", "exported_count": len(records), "output_file": output_path or output_uri,
                      "file_size_bytes": len(text)}
        else:
            result = _s3_manifest(records, bucket_name, s3_prefix, public_read)
        result["seconds"] = round(time.perf_counter() - started, 3)
        return progress.finish(out, result)


def _s3_manifest(records: list[dict], bucket: str, prefix: str, public_read: bool) -> dict:
    import json

    import s3fs

    ok = [r for r in records if r.get("uploaded")]
    key = f"{bucket}/{prefix.strip('/')}/manifest.json" if prefix.strip("/") else f"{bucket}/manifest.json"
    body = {"bucket_name": bucket, "s3_prefix": prefix, "count": len(ok), "images": ok,
            "failed": [r for r in records if not r.get("uploaded")]}
    with s3fs.S3FileSystem().open(key, "wb", acl="public-read" if public_read else "private") as f:
        f.write(json.dumps(body, indent=1).encode())
    return {"status": "success" if len(ok) == len(records) else "partial", "uploaded_count": len(ok),
            "failed_count": len(records) - len(ok), "total_size_bytes": sum(r["size_bytes"] for r in ok),
            "bucket_name": bucket, "s3_prefix": prefix, "manifest_url": f"s3://{key}"}
