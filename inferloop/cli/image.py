"""`inferloop-tabular image ...`: the image API from the command line (through inferloop_client.ImageClient).

    inferloop-tabular image generate "a lighthouse at dusk" --width 64 --height 64 --steps 10 --seed 42 -o out/
    inferloop-tabular image generate "a harbour" --watch            # per-step progress over the WebSocket
    inferloop-tabular image batch "a red barn" "a quiet harbour" --dataset nature_set
    inferloop-tabular image quality /data/generated/nature_set      # a /data path (a folder or an image)
    inferloop-tabular image privacy --file photo.jpg                # local files are uploaded
    inferloop-tabular image profiles create office --file a.png --file b.png
    inferloop-tabular image export-jsonl /data/generated/nature_set /data/exports/nature.jsonl
    inferloop-tabular image job img_... / image cancel img_...

Exit codes as for every API command (inferloop.cli.common).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from inferloop.cli.common import EXIT_JOB_FAILED, ApiKeyOpt, JsonOpt, UrlOpt, api_errors, emit, table

image_app = typer.Typer(help="Synthetic images (image-api.md, /api/v1): generate, validate, profiles, export",
                        no_args_is_help=True)
profiles_app = typer.Typer(help="Image profiles", no_args_is_help=True)
image_app.add_typer(profiles_app, name="profiles")

OutOpt = Annotated[Path | None, typer.Option("--out", "-o", help="save the images into this folder")]
FileOpt = Annotated[list[Path] | None, typer.Option("--file", "-f", help="a local image to upload (repeatable)")]


def client(api_key: str | None, url: str | None):
    from inferloop_client import ImageClient

    return ImageClient(api_key=api_key, base_url=url)


def _params(width, height, steps, guidance, seed, count, negative, model, dataset, profile) -> dict[str, Any]:
    return {"width": width, "height": height, "num_inference_steps": steps, "guidance_scale": guidance,
            "seed": seed, "count": count, "negative_prompt": negative, "model_id": model, "dataset": dataset,
            "profile": profile}


def _save_all(c, images: list[dict], out: Path | None) -> list[str]:
    if out is None:
        return []
    return [str(c.download_image(i["image_id"], out / f"{i['image_id']}.png")) for i in images]


def _show_images(body: dict, saved: list[str]) -> None:
    table(None, ["image_id", "seed", "image_path", "saved as"],
          [[i["image_id"], i["seed"], i["image_path"], saved[n] if n < len(saved) else ""]
           for n, i in enumerate(body["images"])])


@image_app.command("generate")
def generate(prompt: str,
             width: Annotated[int | None, typer.Option(help="pixels, multiple of 8")] = None,
             height: Annotated[int | None, typer.Option(help="pixels, multiple of 8")] = None,
             steps: Annotated[int | None, typer.Option("--steps", help="denoising steps")] = None,
             guidance: Annotated[float | None, typer.Option(help="guidance scale")] = None,
             seed: Annotated[int | None, typer.Option(help="image i uses seed + i")] = None,
             count: Annotated[int | None, typer.Option(help="images")] = None,
             negative: Annotated[str | None, typer.Option("--negative", help="negative prompt")] = None,
             model: Annotated[str | None, typer.Option(help="model id (default: the server's)")] = None,
             dataset: Annotated[str | None, typer.Option(help="save into /data/generated/<dataset>/")] = None,
             profile: Annotated[str | None, typer.Option(help="match this image profile")] = None,
             watch: Annotated[bool, typer.Option(help="show per-step progress (WebSocket)")] = False,
             out: OutOpt = None, api_key: ApiKeyOpt = None, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Generate images from a prompt and wait for them."""
    params = _params(width, height, steps, guidance, seed, count, negative, model, dataset, profile)
    with api_errors(as_json), client(api_key, url) as c:
        if watch:
            body = None
            for msg in c.stream(prompt, **params):
                if msg["type"] == "progress" and not as_json:
                    typer.echo(f"step {msg['step']}/{msg['total_steps']}  {100 * msg['progress']:5.1f}%", err=True)
                elif msg["type"] == "queued" and not as_json:
                    typer.echo(f"job {msg['job_id']} queued (position {msg['queue_position']})", err=True)
                elif msg["type"] in ("cancelled", "error"):
                    emit(msg, as_json, f"{msg['type']}: {msg.get('error', msg)}")
                    raise typer.Exit(EXIT_JOB_FAILED)
                elif msg["type"] == "result":
                    body = msg
        else:
            body = c.generate(prompt, **params)
        saved = _save_all(c, body["images"], out)
    emit({**body, "saved": saved}, as_json, lambda: _show_images(body, saved))


@image_app.command("batch")
def batch(prompts: list[str],
          width: Annotated[int | None, typer.Option()] = None, height: Annotated[int | None, typer.Option()] = None,
          steps: Annotated[int | None, typer.Option("--steps")] = None,
          guidance: Annotated[float | None, typer.Option()] = None, seed: Annotated[int | None, typer.Option()] = None,
          count: Annotated[int | None, typer.Option(help="images per prompt")] = None,
          batch_size: Annotated[int | None, typer.Option(help="images per pipeline call")] = None,
          negative: Annotated[str | None, typer.Option("--negative")] = None,
          model: Annotated[str | None, typer.Option()] = None, dataset: Annotated[str | None, typer.Option()] = None,
          profile: Annotated[str | None, typer.Option()] = None, out: OutOpt = None, api_key: ApiKeyOpt = None,
          url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Generate images for several prompts in one job."""
    params = {**_params(width, height, steps, guidance, seed, count, negative, model, dataset, profile),
              "batch_size": batch_size}
    with api_errors(as_json), client(api_key, url) as c:
        body = c.generate_batch(prompts, **params)
        saved = _save_all(c, body["images"], out)
    emit({**body, "saved": saved}, as_json, lambda: _show_images(body, saved))


def _validate(kind: str, target: str | None, files: list[Path] | None, options: dict, api_key, url, as_json) -> None:
    where: dict[str, Any] = {}
    if target:
        is_image = target.lower().endswith((".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"))
        where = {"image_path": target} if is_image else {"dataset_dir": target}
    if not where and not files:
        raise typer.BadParameter("give a /data path or --file", param_hint="TARGET")
    with api_errors(as_json), client(api_key, url) as c:
        method = c.validate_quality if kind == "quality" else c.validate_privacy
        body = method(files=list(files or []) or None, **where, **options)
    results = body.get("results") or [body]
    score = "quality_score" if kind == "quality" else "privacy_score"
    emit(body, as_json, lambda: table(None, ["image", score, "passed"],
                                      [[r["image_path"], r[score], r["passed"]] for r in results]))


@image_app.command("quality")
def quality(target: Annotated[str | None, typer.Argument(help="a /data image or folder")] = None,
            file: FileOpt = None, metrics: Annotated[str | None, typer.Option(help="comma-separated")] = None,
            api_key: ApiKeyOpt = None, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Sharpness, contrast, brightness, noise and resolution, against the documented thresholds."""
    _validate("quality", target, file, {"metrics": metrics.split(",") if metrics else None}, api_key, url, as_json)


@image_app.command("privacy")
def privacy(target: Annotated[str | None, typer.Argument(help="a /data image or folder")] = None,
            file: FileOpt = None, faces: bool = True, text: bool = True, pii: bool = True,
            api_key: ApiKeyOpt = None, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Faces, readable text and PII in text."""
    _validate("privacy", target, file, {"check_faces": faces, "check_text": text, "check_pii": pii}, api_key, url,
              as_json)


@image_app.command("download")
def download(image_id: str, output: Annotated[Path, typer.Option("--output", "-o")],
             api_key: ApiKeyOpt = None, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Save a generated image (PNG)."""
    with api_errors(as_json), client(api_key, url) as c:
        path = c.download_image(image_id, output)
    emit({"image_id": image_id, "path": str(path)}, as_json, f"saved {path}")


@image_app.command("job")
def job(job_id: str, api_key: ApiKeyOpt = None, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """A job's status, per-step progress, queue position and result."""
    with api_errors(as_json), client(api_key, url) as c:
        info = c.job(job_id).refresh()
    p = info.get("progress") or {}
    emit(info, as_json, f"{info['job_id']}  {info['stage']}  {p.get('percent_complete', 0)}%"
                        + (f"  step {p['step']}/{p['total_steps']}" if p.get("step") else "")
                        + (f"  queue position {info['queue_position']}" if info.get("queue_position") is not None
                           else ""))


@image_app.command("cancel")
def cancel(job_id: str, api_key: ApiKeyOpt = None, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Cancel a generation: denoising stops within one step."""
    with api_errors(as_json), client(api_key, url) as c:
        body = c.cancel(job_id)
    emit(body, as_json, f"{job_id}: {body.get('message', 'cancelling')}")


@image_app.command("export-jsonl")
def export_jsonl(dataset_dir: str, output_file: str, metadata: bool = True, annotations: bool = True,
                 api_key: ApiKeyOpt = None, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Write a JSONL manifest of a /data folder of images into your /data area."""
    with api_errors(as_json), client(api_key, url) as c:
        body = c.export_jsonl(dataset_dir, output_file, include_metadata=metadata, include_annotations=annotations)
    emit(body, as_json, f"{body['exported_count']} images -> {body['output_file']} ({body['file_size_bytes']} bytes)")


@image_app.command("export-s3")
def export_s3(dataset_dir: str, bucket: str, prefix: str = "", metadata: bool = True, public_read: bool = False,
              api_key: ApiKeyOpt = None, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Upload a /data folder of images to s3://bucket/prefix/ with a manifest.json."""
    with api_errors(as_json), client(api_key, url) as c:
        body = c.export_s3(dataset_dir, bucket, prefix, include_metadata=metadata, public_read=public_read)
    emit(body, as_json, f"{body['uploaded_count']} uploaded, {body['failed_count']} failed -> {body['manifest_url']}")


@profiles_app.command("list")
def profiles_list(api_key: ApiKeyOpt = None, url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Your profiles."""
    with api_errors(as_json), client(api_key, url) as c:
        rows = c.profiles()
    emit(rows, as_json, lambda: table(None, ["name", "samples", "created_at", "path"],
                                      [[p["name"], p["sample_count"], p["created_at"], p["path"]] for p in rows]))


@profiles_app.command("show")
def profiles_show(name: str, api_key: ApiKeyOpt = None, url: UrlOpt = None) -> None:
    """A profile's statistics (JSON)."""
    with api_errors(True), client(api_key, url) as c:
        emit(c.profile(name), True, "")


@profiles_app.command("create")
def profiles_create(name: str, file: FileOpt = None,
                    dataset_dir: Annotated[str | None, typer.Option(help="a /data folder of images")] = None,
                    append: bool = False, api_key: ApiKeyOpt = None, url: UrlOpt = None,
                    as_json: JsonOpt = False) -> None:
    """Profile a set of images (uploaded files or a /data folder)."""
    with api_errors(as_json), client(api_key, url) as c:
        body = c.create_profile(name, files=list(file or []) or None, dataset_dir=dataset_dir, append=append)
    emit(body, as_json, f"profile {body['name']}: {body['sample_count']} images, brightness "
                        f"{body['statistics']['brightness_mean']}, contrast {body['statistics']['contrast_mean']}")
