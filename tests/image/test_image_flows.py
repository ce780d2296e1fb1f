"""The image flows as plain Python flow calls (no API in between), against the real Prefect server."""

from __future__ import annotations

import json
import shutil

import pytest

from inferloop.core.settings import get_settings
from tests.image.images import png, text_with_pii


@pytest.fixture(scope="module")
def first_run(prefect_platform):
    from flows.image.generate import image_generate

    return image_generate(prompts=["a red bicycle"], width=64, height=64, num_inference_steps=2, seed=5)


def read(uri: str) -> bytes:
    with open(uri, "rb") as f:
        return f.read()


def test_a_flow_call_generates_into_its_run_folder_with_seeds(first_run):
    m = first_run
    assert m["model"]["source"] == "builtin" and m["device"] in ("cpu", "cuda")
    [img] = m["images"]
    assert img["seed"] == 5 and img["uri"].startswith(get_settings().storage) and f"/runs/{m['flow_run_id']}/" in img["uri"]
    assert read(img["uri"])[:8] == b"\x89PNG\r\n\x1a\n" and m["denoising_steps"] == 2


def test_a_local_model_folder_loads_and_the_same_seed_gives_the_same_bytes(first_run, tmp_path, monkeypatch):
    from flows.image.generate import image_generate

    shutil.copytree(first_run["model"]["path"], tmp_path / "acme" / "tiny-copy")
    monkeypatch.setenv("INFERLOOP_IMAGE_MODEL_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        m = image_generate(prompts=["a red bicycle"], model_id="acme/tiny-copy", width=64, height=64,
                           num_inference_steps=2, seed=5)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert m["model"] == {"model_id": "acme/tiny-copy", "source": "local", "path": str(tmp_path / "acme" / "tiny-copy")}
    # same weights, same seed, same parameters: the same PNG bytes (metadata names another model id)
    from PIL import Image
    import io

    a, b = (Image.open(io.BytesIO(read(x["images"][0]["uri"]))) for x in (first_run, m))
    assert a.tobytes() == b.tobytes()


def test_validation_and_export_flows_on_local_files(first_run, tmp_path):
    from flows.image.export import image_export
    from flows.image.validate import image_validate_privacy, image_validate_quality

    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "card.png").write_bytes(png(text_with_pii(("mail jane.roe@example.org",))))
    shutil.copy(first_run["images"][0]["uri"], folder / "generated.png")
    q = image_validate_quality(dataset_dir=str(folder), metrics=["sharpness", "resolution"])
    assert q["summary"]["count"] == 2 and {r["image_path"] for r in q["results"]} == {
        str(folder / "card.png"), str(folder / "generated.png")}
    p = image_validate_privacy(images=[{"uri": str(folder / "card.png"), "path": "card.png"}], check_faces=False)
    assert p["results"][0]["pii_detected"] and p["results"][0]["checks"]["faces"] is False
    out = tmp_path / "set.jsonl"
    e = image_export(target="jsonl", dataset_dir=str(folder), output_uri=str(out))
    assert e["exported_count"] == 2 and out.stat().st_size == e["file_size_bytes"]
    assert {json.loads(x)["file_name"] for x in out.read_text().splitlines()} == {"card.png", "generated.png"}


def test_the_cancel_flag_stops_denoising_after_the_step_under_way(first_run):
    """The flag (set by POST /jobs/{id}/cancel) is read after every step: set before the run, denoising stops
    after step 1 and the run ends Cancelled."""
    from flows.image.generate import image_generate
    from inferloop.core import db, storage

    db.migrate()  # the metadata store (the API's start-up does this; here there is no API)
    job_id = db.new_id("imgtest")
    with db.session_scope() as s:
        s.add(db.Job(id=job_id, kind="image_generate", owner="flow-test", options={},
                     cancel_requested_at=db.utcnow()))
    state = image_generate(prompts=["never finished"], width=64, height=64, num_inference_steps=50, seed=1,
                           job_id=job_id, return_state=True)
    assert state.is_cancelled(), state
    run_dir = storage.run_dir(str(state.state_details.flow_run_id))
    record = storage.read_json(f"{run_dir}/cancel.json")
    assert record["how"] == "cancel flag seen after the step" and record["stopped_after_step"] == 1
    assert record["steps_done"] == 1 and record["total_steps"] == 50
    assert not storage.exists(f"{run_dir}/manifest.json")


CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)


@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium here (Debian: apt-get install chromium)")
def test_the_prefect_ui_renders_the_thumbnail_artifact(first_run, settings):
    """A real browser opens the run's markdown artifact in the Prefect UI: the thumbnails are <img> tags."""
    import asyncio
    import subprocess

    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterType

    async def markdown_id():
        async with get_client() as client:
            arts = await client.read_artifacts(artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[first_run["flow_run_id"]]),
                type=ArtifactFilterType(any_=["markdown"])))
            return arts[0].id
    url = f"http://127.0.0.1:{settings.prefect_port}/artifacts/artifact/{asyncio.run(markdown_id())}"
    dom = ""
    for budget in (15000, 40000):  # the single-page app renders after its API calls: give it time
        done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                               f"--virtual-time-budget={budget}", "--dump-dom", url],
                              capture_output=True, text=True, timeout=180)
        dom = done.stdout
        if first_run["images"][0]["image_id"] in dom:
            break
    assert first_run["images"][0]["image_id"] in dom
    assert dom.count('<img src="data:image/png;base64,') == len(first_run["images"])
