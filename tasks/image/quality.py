"""Image quality: sharpness, contrast, brightness, noise and resolution against documented thresholds.

Each metric is measured with OpenCV/numpy (tasks.image.pixels) and mapped to a 0..1 score that is 0.5 exactly
at its threshold; `quality_score` is the mean score of the metrics asked for, and `passed` means every one of
them met its threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from inferloop.core.errors import InferloopError
from tasks.image import pixels

METRICS = ("sharpness", "contrast", "brightness", "noise", "resolution")
DEFAULT_METRICS = ("sharpness", "contrast", "brightness", "noise", "resolution")
# the documented thresholds (image-api.md; docs/image.md)
THRESHOLDS: dict[str, dict[str, float]] = {
    "sharpness": {"min": 50.0},                   # variance of the Laplacian, 8-bit grey
    "contrast": {"min": 0.25},                    # (p98 - p2) / 255 of grey
    "brightness": {"min": 0.15, "max": 0.85},     # mean grey / 255
    "noise": {"max": 0.08},                       # noise sigma / 255 (Immerkaer)
    "resolution": {"min_width": 64, "min_height": 64},
}


def parse_metrics(metrics: list[str] | None) -> list[str]:
    """The metrics asked for (all when none); INVALID_REQUEST for unknown names."""
    if not metrics:
        return list(DEFAULT_METRICS)
    aliases = {"noise_level": "noise"}
    out: list[str] = []
    for m in metrics:
        name = aliases.get(str(m).strip().lower(), str(m).strip().lower())
        if name not in METRICS:
            raise InferloopError("INVALID_REQUEST", f"unknown metric '{m}'; metrics are: {', '.join(METRICS)}",
                                 "metrics", extra={"details": {"parameter": "metrics", "value": m,
                                                               "constraint": f"one of {', '.join(METRICS)}"}})
        if name not in out:
            out.append(name)
    return out


def _clip(x: float) -> float:
    return float(min(1.0, max(0.0, x)))


def assess(rgb: np.ndarray, metrics: list[str]) -> dict[str, Any]:
    """{quality_score, metrics, scores, checks, thresholds, passed} of one RGB image."""
    g = pixels.gray(rgb)
    h, w = g.shape
    values: dict[str, Any] = {}
    scores: dict[str, float] = {}
    checks: dict[str, bool] = {}
    for m in metrics:
        t = THRESHOLDS[m]
        if m == "sharpness":
            v = pixels.sharpness(g)
            values["sharpness"], scores[m], checks[m] = round(v, 3), _clip(v / (2 * t["min"])), v >= t["min"]
        elif m == "contrast":
            v = pixels.contrast(g)
            values["contrast"], scores[m], checks[m] = round(v, 4), _clip(v / (2 * t["min"])), v >= t["min"]
        elif m == "brightness":
            v = pixels.brightness(g)
            half_band = (t["max"] - t["min"]) / 2
            values["brightness"] = round(v, 4)
            scores[m] = _clip(1 - abs(v - 0.5) / (2 * half_band))
            checks[m] = t["min"] <= v <= t["max"]
        elif m == "noise":
            v = pixels.noise_level(g)
            values["noise_level"], scores[m], checks[m] = round(v, 5), _clip(1 - v / (2 * t["max"])), v <= t["max"]
        elif m == "resolution":
            values["resolution"] = {"width": int(w), "height": int(h), "megapixels": round(w * h / 1e6, 4)}
            side = min(w / t["min_width"], h / t["min_height"])
            scores[m], checks[m] = _clip(side / 2), w >= t["min_width"] and h >= t["min_height"]
    return {
        "quality_score": round(float(np.mean(list(scores.values()))), 4) if scores else 0.0,
        "metrics": values,
        "scores": {k: round(v, 4) for k, v in scores.items()},
        "checks": checks,
        "thresholds": {m: THRESHOLDS[m] for m in metrics},
        "passed": all(checks.values()),
    }
