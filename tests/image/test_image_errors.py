"""Bad input answers 400 in image-api.md's envelope before any run starts, and nothing is stored.

Runs against the API alone (no Prefect): a request that got as far as creating a flow run would fail here
with a 503, so every 400 below also proves that no run was started.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from inferloop.core import db
from inferloop.core.settings import get_settings
from tests.image.helpers import H
from tests.image.images import gradient, png
from tests.support import API_KEY


def stored_files() -> set[str]:
    root = Path(get_settings().storage)
    return {str(p) for p in root.rglob("*")} if root.exists() else set()


def job_count() -> int:
    with db.session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(db.Job)) or 0)


@pytest.fixture()
def nothing_stored(api_no_prefect):
    before_files, before_jobs = stored_files(), job_count()
    yield
    assert stored_files() == before_files
    assert job_count() == before_jobs


def envelope(r: httpx.Response, status: int = 400, code: str = "INVALID_PARAMETERS") -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["message"] and isinstance(err["details"], dict), err
    return err


GOOD = {"prompt": "a lighthouse", "width": 64, "height": 64, "num_inference_steps": 2}


@pytest.mark.parametrize("change, parameter, constraint", [
    ({"width": 2048}, "width", "64 <= width <= 1024"),
    ({"width": 100}, "width", "a multiple of 8 (64 <= width <= 1024)"),
    ({"height": 60}, "height", "64 <= height <= 1024"),
    ({"num_inference_steps": 0}, "num_inference_steps", "1 <= num_inference_steps <= 150"),
    ({"num_inference_steps": -3}, "num_inference_steps", "1 <= num_inference_steps <= 150"),
    ({"prompt": ""}, "prompt", "a non-empty string"),
    ({"prompt": "   "}, "prompt", "a non-empty string"),
    ({"guidance_scale": -1}, "guidance_scale", "0 <= guidance_scale <= 30"),
    ({"seed": -5}, "seed", "0 <= seed <= 4294967295"),
    ({"count": 0}, "count", "1 <= count <= 8"),
])
def test_bad_generation_parameters(api_no_prefect, nothing_stored, change, parameter, constraint):
    err = envelope(httpx.post(f"{api_no_prefect}/api/v1/generate", json={**GOOD, **change}, headers=H))
    assert err["details"]["parameter"] == parameter and err["details"]["constraint"] == constraint
    assert err["details"]["value"] == {**GOOD, **change}[parameter]


def test_the_documented_error_example(api_no_prefect, nothing_stored):
    r = httpx.post(f"{api_no_prefect}/api/v1/generate", json={**GOOD, "width": 2048}, headers=H)
    err = envelope(r)
    assert err["message"] == "Invalid parameter: width must be between 64 and 1024"
    assert err["details"] == {"parameter": "width", "value": 2048, "constraint": "64 <= width <= 1024"}


def test_a_model_that_cannot_be_loaded_here(api_no_prefect, nothing_stored):
    err = envelope(httpx.post(f"{api_no_prefect}/api/v1/generate",
                              json={**GOOD, "model_id": "runwayml/stable-diffusion-v1-5"}, headers=H))
    assert err["details"]["parameter"] == "model_id"
    assert "INFERLOOP_IMAGE_MODEL_DIR" in err["message"] and "Hugging Face cache" in err["message"]
    err = envelope(httpx.post(f"{api_no_prefect}/api/v1/generate", json={**GOOD, "model_id": "/etc"}, headers=H))
    assert err["details"]["parameter"] == "model_id"


def test_batch_and_other_bodies(api_no_prefect, nothing_stored):
    url = f"{api_no_prefect}/api/v1"
    assert envelope(httpx.post(f"{url}/generate/batch", json={**GOOD, "prompts": []}, headers=H))
    err = envelope(httpx.post(f"{url}/generate/batch", json={"prompts": ["ok", ""], "width": 64, "height": 64},
                              headers=H))
    assert err["details"]["parameter"] == "prompts[1]"
    err = envelope(httpx.post(f"{url}/generate", json={**GOOD, "colour": "red"}, headers=H))
    assert err["details"]["parameter"] == "colour"
    err = envelope(httpx.post(f"{url}/generate", json={**GOOD, "profile": "nope"}, headers=H))
    assert err["details"]["parameter"] == "profile"
    err = envelope(httpx.post(f"{url}/generate", json={**GOOD, "dataset": "../x"}, headers=H))
    assert err["details"]["parameter"] == "dataset"


def test_tier_limits_on_image_size(api_no_prefect, nothing_stored):
    key = httpx.post(f"{api_no_prefect}/api/tabular/admin/keys", headers={"X-API-Key": API_KEY},
                     json={"account": f"img-starter-{uuid.uuid4().hex[:8]}", "tier": "starter"}).json()["api_key"]
    err = envelope(httpx.post(f"{api_no_prefect}/api/v1/generate", json={**GOOD, "width": 768},
                              headers={"X-API-Key": key}))
    assert err["details"] == {"parameter": "width", "value": 768, "constraint": "64 <= width <= 512"}
    assert "starter tier" in err["message"]


def test_tier_concurrent_job_limit_applies_to_image_jobs(api_no_prefect, nothing_stored):
    """The starter tier runs one job at a time on the whole platform: with one running, image requests that
    would start a job answer 429 in image-api.md's envelope before any run starts."""
    body = httpx.post(f"{api_no_prefect}/api/tabular/admin/keys", headers={"X-API-Key": API_KEY},
                      json={"account": f"img-busy-{uuid.uuid4().hex[:8]}", "tier": "starter"}).json()
    me = {"X-API-Key": body["api_key"]}
    running = db.new_id("busy")
    with db.session_scope() as s:  # a job of this account whose flow run has not ended
        s.add(db.Job(id=running, kind="generate", owner=body["account_id"], options={},
                     flow_run_id=str(uuid.uuid4())))
    try:
        for r in (httpx.post(f"{api_no_prefect}/api/v1/generate", json=GOOD, headers=me),
                  httpx.post(f"{api_no_prefect}/api/v1/validate/quality",
                             files={"file": ("a.png", png(gradient()), "image/png")}, headers=me),
                  httpx.post(f"{api_no_prefect}/api/v1/export/jsonl", json={"dataset_dir": "x", "output_file": "x.jsonl"}, headers=me)):
            err = envelope(r, 429, "RATE_LIMITED")
            assert "Concurrent job limit" in err["message"] and err["details"] == {"limit": 1, "running": 1}, err
    finally:
        with db.session_scope() as s:
            s.delete(s.get(db.Job, running))


@pytest.mark.parametrize("name, content", [
    ("broken.png", png(gradient())[:200]),                    # a truncated PNG
    ("notes.png", b"this is not an image at all"),            # not an image
    ("empty.png", b""),
])
def test_corrupt_or_non_image_uploads(api_no_prefect, nothing_stored, name, content):
    for path in ("/validate/quality", "/validate/privacy"):
        r = httpx.post(f"{api_no_prefect}/api/v1{path}", files={"file": (name, content, "image/png")}, headers=H)
        err = envelope(r)
        assert err["details"]["parameter"] == "file"
    r = httpx.post(f"{api_no_prefect}/api/v1/profiles", data={"name": "bad"},
                   files=[("files", ("ok.png", png(gradient()), "image/png")), ("files", (name, content, "image/png"))],
                   headers=H)
    assert envelope(r)["details"]["parameter"] == "files[1]"


def test_a_huge_upload(api_no_prefect, nothing_stored):
    limit = get_settings().image_max_upload_mb
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * int(limit * 1024 * 1024 + 10)
    r = httpx.post(f"{api_no_prefect}/api/v1/validate/quality", files={"file": ("big.png", big, "image/png")},
                   headers=H, timeout=120)
    err = envelope(r)
    assert "MB" in err["message"]


def test_paths_stay_inside_the_callers_data(api_no_prefect, nothing_stored):
    url = f"{api_no_prefect}/api/v1"
    for path in ("/etc/passwd", "/data/../../etc/passwd", "file:///etc/passwd", "s3://bucket/x.png"):
        err = envelope(httpx.post(f"{url}/validate/quality", json={"image_path": path}, headers=H))
        assert err["details"]["parameter"] == "image_path"
    err = envelope(httpx.post(f"{url}/export/jsonl", json={"dataset_dir": "/data/generated",
                                                          "output_file": "/tmp/out.jsonl"}, headers=H))
    assert err["details"]["parameter"] == "output_file"
    r = httpx.get(f"{url}/files", params={"path": "/data/../inferloop.db"}, headers=H)
    assert envelope(r)["details"]["parameter"] == "path"
    r = httpx.post(f"{url}/validate/quality", json={"image_path": "/data/generated/none.png"}, headers=H)
    envelope(r, 404, "NOT_FOUND")
    err = envelope(httpx.post(f"{url}/export/s3", json={"dataset_dir": "/data/generated", "bucket_name": "No_Such"},
                              headers=H))
    assert err["details"]["parameter"] == "bucket_name"


def test_validation_options(api_no_prefect, nothing_stored):
    url = f"{api_no_prefect}/api/v1"
    err = envelope(httpx.post(f"{url}/validate/quality", json={"image_path": "/data/x.png", "metrics": ["beauty"]},
                              headers=H))
    assert err["details"]["parameter"] == "metrics"
    err = envelope(httpx.post(f"{url}/validate/privacy", json={"image_path": "/data/x.png", "check_faces": False,
                                                               "check_text": False, "check_pii": False}, headers=H))
    assert err["details"]["parameter"] == "check_faces"
    envelope(httpx.post(f"{url}/validate/quality", content=b"{not json", headers=H))
    envelope(httpx.post(f"{url}/validate/quality", json={}, headers=H))


def test_authentication(api_no_prefect):
    r = httpx.post(f"{api_no_prefect}/api/v1/generate", json=GOOD)
    envelope(r, 401, "UNAUTHORIZED")
    r = httpx.get(f"{api_no_prefect}/api/v1/profiles", headers={"X-API-Key": "wrong"})
    envelope(r, 401, "UNAUTHORIZED")


def test_per_minute_rate_limits_with_headers(api_no_prefect):
    key = httpx.post(f"{api_no_prefect}/api/tabular/admin/keys", headers={"X-API-Key": API_KEY},
                     json={"account": f"img-rate-{uuid.uuid4().hex[:8]}", "tier": "business"}).json()["api_key"]
    me = {"X-API-Key": key}
    remaining = []
    for _ in range(10):   # counted even when the request is then refused as bad input
        r = httpx.post(f"{api_no_prefect}/api/v1/generate", json={**GOOD, "width": 1}, headers=me)
        assert r.status_code == 400 and r.headers["X-RateLimit-Limit"] == "10"
        remaining.append(int(r.headers["X-RateLimit-Remaining"]))
        assert int(r.headers["X-RateLimit-Reset"]) > 1_600_000_000
    assert remaining == list(range(9, -1, -1))
    r = httpx.post(f"{api_no_prefect}/api/v1/generate", json=GOOD, headers=me)
    err = envelope(r, 429, "RATE_LIMITED")
    assert err["details"]["category"] == "generation" and int(r.headers["Retry-After"]) <= 60
    # other categories have their own windows: validation 20/minute
    r = httpx.post(f"{api_no_prefect}/api/v1/validate/quality", json={"image_path": "/data/none.png"}, headers=me)
    assert r.status_code == 404 and r.headers["X-RateLimit-Limit"] == "20"
    r = httpx.post(f"{api_no_prefect}/api/v1/export/jsonl", json={"dataset_dir": "/data/none",
                                                                 "output_file": "/data/x.jsonl"}, headers=me)
    assert r.headers["X-RateLimit-Limit"] == "5"
