"""Test images made here (text rendered with Pillow) or shipped by packages (scikit-image's astronaut: a face)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

PII_LINES = ("Call 415-555-2671 now", "john.doe@example.com", "SSN 536-22-8745")


def png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def astronaut() -> np.ndarray:
    """A photograph with one frontal face (Eileen Collins), shipped inside scikit-image."""
    from skimage import data

    return data.astronaut()


def text_with_pii(lines: tuple[str, ...] = PII_LINES) -> np.ndarray:
    """Black text on white: a phone number, an e-mail address and a US SSN."""
    im = Image.new("RGB", (512, 60 + 50 * len(lines)), "white")
    draw = ImageDraw.Draw(im)
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", 28)
    except OSError:
        font = ImageFont.load_default(size=28)
    for i, line in enumerate(lines):
        draw.text((12, 12 + 50 * i), line, fill="black", font=font)
    return np.asarray(im)


def gradient(width: int = 96, height: int = 64, color=(40, 120, 200)) -> np.ndarray:
    """A smooth colour gradient: no face, no text."""
    ramp = np.linspace(0.3, 1.0, width)[None, :, None]
    return np.clip(np.ones((height, width, 3)) * ramp * np.array(color), 0, 255).astype(np.uint8)
