"""Image profiles: statistics of a set of images, and adjusting generated images toward them.

A profile holds, over its sample images: colour channel means, brightness, contrast (the definitions of
tasks.image.pixels) and resolution, each with mean and standard deviation. "Generate to match a profile" shifts
and scales every generated image so that its contrast and channel means (hence brightness) move toward the
profile's means (`strength` 1.0 = all the way), and takes the profile's mean resolution when the request
gives no size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tasks.image import pixels


def image_stats(rgb: np.ndarray) -> dict[str, float]:
    g = pixels.gray(rgb)
    return {**pixels.color_means(rgb), "brightness": pixels.brightness(g), "contrast": pixels.contrast(g),
            "width": float(rgb.shape[1]), "height": float(rgb.shape[0])}


def aggregate(samples: list[dict[str, float]]) -> dict[str, Any]:
    """The documented `statistics` of a profile (with standard deviations beside the means)."""
    def m(key: str) -> float:
        return round(float(np.mean([s[key] for s in samples])), 4)

    def sd(key: str) -> float:
        return round(float(np.std([s[key] for s in samples])), 4)

    return {
        "color_distribution": {"red_mean": m("red_mean"), "green_mean": m("green_mean"), "blue_mean": m("blue_mean"),
                               "red_std": sd("red_mean"), "green_std": sd("green_mean"), "blue_std": sd("blue_mean")},
        "brightness_mean": m("brightness"), "brightness_std": sd("brightness"),
        "contrast_mean": m("contrast"), "contrast_std": sd("contrast"),
        "resolution": {"width_mean": round(float(np.mean([s["width"] for s in samples])), 1),
                       "height_mean": round(float(np.mean([s["height"] for s in samples])), 1),
                       "width_std": sd("width"), "height_std": sd("height")},
    }


def target_size(statistics: dict[str, Any], limit: int, minimum: int = 64) -> tuple[int, int]:
    """The profile's mean resolution as a generation size: multiples of 8, scaled down to fit `limit`."""
    w = float(statistics["resolution"]["width_mean"])
    h = float(statistics["resolution"]["height_mean"])
    scale = min(1.0, limit / max(w, h))
    return (max(minimum, int(round(w * scale / 8)) * 8), max(minimum, int(round(h * scale / 8)) * 8))


def match(rgb: np.ndarray, statistics: dict[str, Any], strength: float = 1.0, rounds: int = 3) -> tuple[np.ndarray, dict]:
    """`rgb` adjusted toward the profile's contrast and colour means; returns (image, report)."""
    target_c = float(statistics["contrast_mean"])
    cd = statistics["color_distribution"]
    target_means = np.array([cd["red_mean"], cd["green_mean"], cd["blue_mean"]], dtype=np.float64)
    before = image_stats(rgb)
    x = rgb.astype(np.float64) / 255.0
    for _ in range(rounds):  # clipping moves the statistics a little: a few rounds converge
        c = pixels.contrast((pixels.gray(np.clip(x * 255, 0, 255).astype(np.uint8))))
        if c > 1e-3:
            k = 1.0 + strength * (target_c / c - 1.0)
            means = x.reshape(-1, 3).mean(axis=0)
            x = (x - means) * k + means
        means = x.reshape(-1, 3).mean(axis=0)
        x = np.clip(x + strength * (target_means - means), 0.0, 1.0)
    out = np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)
    after = image_stats(out)
    keys = ("red_mean", "green_mean", "blue_mean", "brightness", "contrast")
    return out, {"strength": strength, "before": {k: round(before[k], 4) for k in keys},
                 "after": {k: round(after[k], 4) for k in keys},
                 "target": {"red_mean": cd["red_mean"], "green_mean": cd["green_mean"], "blue_mean": cd["blue_mean"],
                            "brightness": statistics["brightness_mean"], "contrast": target_c}}
