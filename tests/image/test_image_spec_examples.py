"""image-api.md's own examples, read from the document at run time and sent to the server.

Request bodies are sent as documented except: image sizes and step counts of the two generation examples are
made small (64x64, 3 steps: 512x512 with 50 steps takes minutes on this CPU), and `model_id`
"runwayml/stable-diffusion-v1-5", which no machine here can download, is first shown to be refused with a
clear 400 and then left out (the server's offline default model answers). Paths the examples name
(/data/generated/nature_set, /data/exports/nature_set.jsonl, profile unsplash_nature, bucket
my-synthetic-data) are made to exist first. Every documented response field must be in our answer.
The SDK (Python) example runs unmodified apart from its API key.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest
from websockets.sync.client import connect

from tests.image.helpers import H, get, post, ws_messages, ws_url
from tests.image.images import gradient, png
from tests.spec_examples import SPEC_DIR, python_blocks, read_spec, section
from tests.support import API_KEY

IMAGE_SPEC = SPEC_DIR / "image-api.md"
SMALL = {"width": 64, "height": 64, "num_inference_steps": 3}
_JSON = re.compile(r"^```json[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


@pytest.fixture(scope="module")
def doc() -> str:
    text = read_spec(IMAGE_SPEC)
    if text is None:
        pytest.skip(f"API document not found at {IMAGE_SPEC}: its examples cannot be checked")
    return text


def examples(doc: str, heading: str) -> tuple[dict | None, dict]:
    """(request body or None, response) of an endpoint section: its first and last ```json blocks."""
    blocks = [json.loads(b) for b in _JSON.findall(section(doc, heading))]
    has_body = "**Request Body:**" in section(doc, heading)
    return (blocks[0] if has_body else None), blocks[-1]


def covers(documented, ours, where: str = "") -> None:
    """Every documented field (recursively: objects, first list item) is in our answer."""
    if isinstance(documented, dict):
        assert isinstance(ours, dict), f"{where}: {ours!r}"
        for k, v in documented.items():
            assert k in ours, f"{where}.{k} missing from {sorted(ours)}"
            covers(v, ours[k], f"{where}.{k}")
    elif isinstance(documented, list) and documented:
        assert isinstance(ours, list) and ours, f"{where}: {ours!r}"
        covers(documented[0], ours[0], f"{where}[0]")


@pytest.fixture(scope="module")
def single(api, doc):
    request, _ = examples(doc, "Generate a Single Image")
    refused = post(api, "/generate", {**request, **SMALL})
    assert refused.status_code == 400 and refused.json()["error"]["details"]["parameter"] == "model_id"
    body = {k: v for k, v in request.items() if k != "model_id"}
    r = post(api, "/generate", {**body, **SMALL})
    assert r.status_code == 200, r.text
    return r.json()


def test_generate_a_single_image(doc, single):
    request, response = examples(doc, "Generate a Single Image")
    covers(response, single)
    assert single["prompt"] == request["prompt"] and single["parameters"]["seed"] == request["seed"]
    assert single["parameters"]["negative_prompt"] == request["negative_prompt"]


def test_generate_multiple_images(api, doc):
    request, response = examples(doc, "Generate Multiple Images (Batch)")
    body = {k: v for k, v in request.items() if k != "model_id"}
    r = post(api, "/generate/batch", {**body, **SMALL, "dataset": "nature_set"})
    assert r.status_code == 200, r.text
    covers(response, r.json())
    assert [i["prompt"] for i in r.json()["images"]] == request["prompts"]


def test_validate_quality_and_privacy(api, doc, single):
    request, response = examples(doc, "Validate Image Quality")
    r = post(api, "/validate/quality", {**request, "image_path": single["image_path"]})
    assert r.status_code == 200, r.text
    covers(response, r.json())
    assert set(r.json()["metrics"]) == {"sharpness", "contrast", "noise_level"}
    request, response = examples(doc, "Validate Image Privacy")
    r = post(api, "/validate/privacy", {**request, "image_path": single["image_path"]})
    assert r.status_code == 200, r.text
    covers(response, r.json())
    assert r.json()["image_path"] == single["image_path"]


def test_profiles(api, doc):
    files = [("files", (f"s{i}.png", png(gradient(64 + 16 * i, 48, (60, 150, 70))), "image/png")) for i in range(2)]
    r = httpx.post(f"{api}/api/v1/profiles", data={"name": "unsplash_nature"}, files=files, headers=H, timeout=600)
    assert r.status_code == 201, r.text
    _, listing = examples(doc, "List Available Profiles")
    covers(listing, get(api, "/profiles").json())
    _, detail = examples(doc, "Get Profile Details")
    ours = get(api, "/profiles/unsplash_nature").json()
    covers(detail, ours)
    assert ours["statistics"]["color_distribution"]["green_mean"] > ours["statistics"]["color_distribution"]["red_mean"]


def test_export_examples(api, doc, s3_bucket):
    import boto3

    if not any(b["Name"] == "my-synthetic-data" for b in boto3.client("s3").list_buckets()["Buckets"]):
        boto3.client("s3").create_bucket(Bucket="my-synthetic-data")
    post(api, "/generate/batch", {"prompts": ["a meadow", "a forest path"], **SMALL, "dataset": "nature_set"})
    request, response = examples(doc, "Export to JSONL")
    r = post(api, "/export/jsonl", request)
    assert r.status_code == 200, r.text
    covers(response, r.json())
    assert r.json()["output_file"] == request["output_file"] and r.json()["status"] == "success"
    request, response = examples(doc, "Export to S3")
    r = post(api, "/export/s3", request)
    assert r.status_code == 200, r.text
    covers(response, r.json())
    assert r.json()["manifest_url"] == response["manifest_url"]


def test_error_and_rate_limit_examples(api, doc):
    [documented] = [json.loads(b) for b in _JSON.findall(section(doc, "Error Handling"))]
    r = post(api, "/generate", {"prompt": "x", "width": documented["error"]["details"]["value"]})
    assert r.status_code == 400
    ours = r.json()["error"]
    assert {k: ours[k] for k in documented["error"]} == documented["error"]
    key = httpx.post(f"{api}/api/tabular/admin/keys", headers=H, json={"account": "image-doc-rate",
                                                                       "tier": "professional"}).json()["api_key"]
    r = post(api, "/generate", {"prompt": "x", "width": 1}, headers={"X-API-Key": key})
    names = re.findall(r"^(X-RateLimit-[A-Za-z]+):", section(doc, "Rate Limiting"), re.MULTILINE)
    assert names == ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"]
    assert all(n in r.headers for n in names) and r.headers["X-RateLimit-Limit"] == "10"


def test_websocket_example(api, doc):
    text = section(doc, "Websocket API")
    request, progress, result = [json.loads(b) for b in _JSON.findall(text)]
    assert "/api/v1/ws/generation?api_key=" in text
    with connect(ws_url(api)) as ws:
        ws.send(json.dumps({**request, "width": 64, "height": 64, "num_inference_steps": 3}))
        messages = ws_messages(ws, {"result", "error"})
    steps = [m for m in messages if m["type"] == "progress"]
    assert len(steps) == 3
    covers(progress, steps[1])
    covers(result, messages[-1])
    assert messages[-1]["prompt"] == request["prompt"]


def test_sdk_example(api, doc, tmp_path, monkeypatch):
    [code] = python_blocks(section(doc, "SDK"))
    monkeypatch.setenv("INFERLOOP_API_URL", api)        # the example names no URL: the client's setting applies
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__main__"}
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.replace("your_api_key_here", API_KEY), "<image-api.md: SDK>", "exec"), namespace)
    response = namespace["response"]
    assert out.getvalue().strip() == f"Image generated: {response['image_path']}"
    assert response["parameters"]["width"] == 512 and response["parameters"]["num_inference_steps"] == 4
    image = httpx.get(response["download_url"], headers=H, timeout=60)
    from PIL import Image

    with Image.open(io.BytesIO(image.content)) as im:
        assert im.size == (512, 512)
