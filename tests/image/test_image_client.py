"""ImageClient and `inferloop-tabular image ...` against the real platform."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from inferloop import ImageClient, ValidationError
from inferloop.cli.main import app
from tests.image.images import astronaut, png
from tests.support import API_KEY

SMALL = {"width": 64, "height": 64, "num_inference_steps": 3}


@pytest.fixture()
def client(api):
    with ImageClient(api_key=API_KEY, base_url=api) as c:
        yield c


def test_client_job_handle_stream_and_typed_errors(client, tmp_path):
    job = client.generate("a windmill", wait=False, seed=3, **SMALL)
    result = job.result(timeout=600)
    assert job.info["status"] == "completed" and result["images"][0]["seed"] == 3
    saved = client.download_image(result["images"][0]["image_id"], tmp_path / "w.png")
    assert saved.read_bytes()[:4] == b"\x89PNG"
    messages = list(client.stream("a windmill", seed=3, **SMALL))
    assert [m["type"] for m in messages][-1] == "result"
    assert [m["step"] for m in messages if m["type"] == "progress"] == [1, 2, 3]
    # same seed and parameters: the same bytes through the WebSocket as through the job
    assert client.download_image(messages[-1]["image_id"]) == saved.read_bytes()
    with pytest.raises(ValidationError) as e:
        client.generate("x", width=65, height=64)
    assert e.value.status == 400 and e.value.code == "INVALID_PARAMETERS"
    assert e.value.details["details"]["parameter"] == "width"
    privacy = client.validate_privacy(files=[png(astronaut())])
    assert privacy["faces_detected"] == 1


def test_cli_generate_and_job(api, tmp_path):
    runner = CliRunner()
    env = {"INFERLOOP_API_KEY": API_KEY, "INFERLOOP_API_URL": api}
    r = runner.invoke(app, ["image", "generate", "a tower", "--width", "64", "--height", "64", "--steps", "2",
                            "--seed", "9", "--out", str(tmp_path), "--json"], env=env)
    assert r.exit_code == 0, r.output
    body = json.loads(r.output)
    assert body["seed"] == 9 and len(body["saved"]) == 1 and (tmp_path / f"{body['image_id']}.png").is_file()
    r = runner.invoke(app, ["image", "job", body["job_id"], "--json"], env=env)
    assert r.exit_code == 0 and json.loads(r.output)["status"] == "completed"
    r = runner.invoke(app, ["image", "generate", "x", "--width", "70"], env=env)
    assert r.exit_code == 1 and "width" in r.output
