"""Reading images safely, and the pixel statistics every image check shares (OpenCV, numpy, Pillow)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from inferloop.core import storage
from inferloop.core.errors import InferloopError

FORMATS = {"PNG", "JPEG", "WEBP", "BMP", "TIFF"}


@dataclass(frozen=True)
class Checked:
    """An image that decoded: its format and size."""

    format: str
    width: int
    height: int


def check_image_bytes(data: bytes, field: str, max_pixels: int) -> Checked:
    """Refuse what is not a whole, decodable image of a supported format and size (nothing is kept)."""
    from PIL import Image, UnidentifiedImageError

    def bad(message: str) -> InferloopError:
        return InferloopError("INVALID_FILE", message, field, extra={"details": {"parameter": field,
                                                                                "constraint": message}})
    if not data:
        raise bad("the file is empty")
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt, (w, h) = (im.format or "").upper(), im.size
            if fmt not in FORMATS:
                raise bad(f"unsupported image format {fmt or 'unknown'}; use PNG, JPEG, WEBP, BMP or TIFF")
            if w * h > max_pixels:
                raise bad(f"the image is {w}x{h} = {w * h} pixels, more than the {max_pixels} limit")
            im.load()  # decodes every pixel: a truncated or corrupt file fails here
    except InferloopError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise bad(f"not a readable image ({type(exc).__name__}: {exc})")
    return Checked(fmt, w, h)


def read_rgb(uri: str) -> np.ndarray:
    """An image file as an RGB uint8 array (H, W, 3)."""
    from PIL import Image

    with storage.open_uri(uri, "rb") as f:
        data = f.read()
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def gray(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def sharpness(g: np.ndarray) -> float:
    """Variance of the Laplacian of the 8-bit grey image (higher = sharper edges)."""
    import cv2

    return float(cv2.Laplacian(g, cv2.CV_64F).var())


def contrast(g: np.ndarray) -> float:
    """Robust contrast: the spread between the 2nd and 98th grey percentiles, as a fraction of 255 (0..1)."""
    lo, hi = np.percentile(g, [2, 98])
    return float((hi - lo) / 255.0)


def brightness(g: np.ndarray) -> float:
    """Mean grey level as a fraction of 255 (0 black .. 1 white)."""
    return float(g.mean() / 255.0)


def noise_level(g: np.ndarray) -> float:
    """Noise standard deviation as a fraction of 255, by Immerkaer's method ("Fast noise variance
    estimation", 1996): the image convolved with a Laplacian-difference mask that cancels smooth structure."""
    import cv2

    h, w = g.shape
    if h < 3 or w < 3:
        return 0.0
    mask = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)
    response = cv2.filter2D(g.astype(np.float64), -1, mask)[1:-1, 1:-1]
    sigma = np.sqrt(np.pi / 2.0) * np.abs(response).sum() / (6.0 * (w - 2) * (h - 2))
    return float(sigma / 255.0)


def color_means(rgb: np.ndarray) -> dict[str, float]:
    m = rgb.reshape(-1, 3).mean(axis=0) / 255.0
    return {"red_mean": float(m[0]), "green_mean": float(m[1]), "blue_mean": float(m[2])}
