"""Units of the image system that need no Prefect: paths, parameters, metrics, profiles, model resolution."""

from __future__ import annotations

import numpy as np
import pytest

from inferloop.core.errors import InferloopError
from inferloop.core.settings import Settings
from tasks.image import area, pixels, profile, quality
from tasks.image.models import TINY_MODEL_ID, resolve_model
from tasks.image.params import check_generation
from tests.image.images import astronaut, gradient


def test_paths_are_confined_to_the_owners_area():
    assert area.normalize("/data/generated/x.png") == "/data/generated/x.png"
    assert area.normalize("generated/./a/../x.png") == "/data/generated/x.png"
    root = area.owner_root("key-abc")
    assert area.to_uri("key-abc", "/data/exports/a.jsonl") == f"{root}/exports/a.jsonl"
    assert area.to_virtual("key-abc", f"{root}/generated/x.png") == "/data/generated/x.png"
    for bad in ("/etc/passwd", "/data/../x", "/data2/x", "s3://b/x", "file:///etc", "", "/data/\x00"):
        with pytest.raises(InferloopError):
            area.normalize(bad)
    assert area.owner_root("../evil") != area.owner_root("evil") and "/../" not in area.owner_root("../evil")
    with pytest.raises(InferloopError):
        area.check_name("a/b", "dataset")


def test_generation_parameters():
    p = check_generation(prompts=["a", "b"], width=64, height=128, num_inference_steps=1, count=3)
    assert p["batch_size"] == 4 and p["seed"] is None
    for bad in ({"width": 72 + 1}, {"height": 1032}, {"num_inference_steps": 0}, {"count": 9},
                {"seed": 2**32}, {"guidance_scale": 31}, {"batch_size": 0}):
        with pytest.raises(InferloopError):
            check_generation(prompts=["a"], **{"width": 64, "height": 64, **bad})
    with pytest.raises(InferloopError) as e:
        check_generation(prompts=["a"], width=640, height=64, tier="starter")
    assert e.value.extra["details"]["constraint"] == "64 <= width <= 512"


def test_quality_metrics_respond_to_blur_and_noise():
    import cv2

    rng = np.random.default_rng(0)
    checker = (np.indices((128, 128)).sum(axis=0) // 8 % 2 * 200 + 28).astype(np.uint8)
    sharp = np.stack([checker] * 3, axis=-1)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 4)
    s, b = (quality.assess(x, list(quality.METRICS)) for x in (sharp, blurred))
    assert s["metrics"]["sharpness"] > 10 * b["metrics"]["sharpness"]
    assert b["checks"]["sharpness"] is False and s["checks"]["sharpness"] is True
    photo = astronaut()
    noisy = np.clip(photo + rng.normal(0, 40, photo.shape), 0, 255).astype(np.uint8)
    clean, n = quality.assess(photo, ["noise"]), quality.assess(noisy, ["noise"])
    assert n["metrics"]["noise_level"] > 0.08 > 0.02 > clean["metrics"]["noise_level"]  # grey: ~0.67 x 40 / 255
    assert clean["passed"] and not n["passed"]
    dark = quality.assess((sharp * 0.1).astype(np.uint8), ["brightness"])
    assert dark["checks"] == {"brightness": False} and not dark["passed"]
    assert quality.parse_metrics(["noise_level", "sharpness"]) == ["noise", "sharpness"]
    with pytest.raises(InferloopError):
        quality.parse_metrics(["beauty"])


def test_noise_estimate_matches_known_gaussian_noise():
    rng = np.random.default_rng(1)
    flat = np.full((256, 256), 128.0)
    for sigma in (5.0, 15.0):
        g = np.clip(flat + rng.normal(0, sigma, flat.shape), 0, 255).astype(np.uint8)
        assert abs(pixels.noise_level(g) * 255 - sigma) < 0.15 * sigma


def test_profile_statistics_and_matching():
    samples = [profile.image_stats(gradient(96, 64, (200, 80, 40))), profile.image_stats(gradient(64, 64, (180, 90, 60)))]
    stats = profile.aggregate(samples)
    assert stats["resolution"] == {"width_mean": 80.0, "height_mean": 64.0, "width_std": 16.0, "height_std": 0.0}
    assert profile.target_size(stats, 512) == (80, 64)
    blue = gradient(64, 64, (30, 60, 220))
    out, report = profile.match(blue, stats)
    assert out.shape == blue.shape
    for key in ("red_mean", "blue_mean", "contrast"):
        assert abs(report["after"][key] - report["target"][key]) < abs(report["before"][key] - report["target"][key])
    assert abs(report["after"]["red_mean"] - stats["color_distribution"]["red_mean"]) < 0.02
    half, half_report = profile.match(blue, stats, strength=0.5)
    assert abs(half_report["after"]["red_mean"] - report["target"]["red_mean"]) > \
        abs(report["after"]["red_mean"] - report["target"]["red_mean"])


def test_model_resolution_is_offline_only(tmp_path):
    settings = Settings(home=tmp_path / "home", image_model_dir=str(tmp_path / "models"))
    assert resolve_model(None, settings)["model_id"] == TINY_MODEL_ID
    assert resolve_model(None, settings)["source"] == "builtin"
    local = tmp_path / "models" / "acme" / "painter"
    local.mkdir(parents=True)
    (local / "model_index.json").write_text("{}")
    assert resolve_model("acme/painter", settings) == {"model_id": "acme/painter", "source": "local",
                                                       "path": str(local)}
    assert resolve_model(str(local), settings)["source"] == "local"
    for bad in ("runwayml/stable-diffusion-v1-5", "/etc", "../x", "a/b/c", str(tmp_path)):
        with pytest.raises(InferloopError) as e:
            resolve_model(bad, settings)
        assert e.value.field == "model_id"
