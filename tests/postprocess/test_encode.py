from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from darkroom.postprocess.encode import b64, encode


def picture(height: int, width: int, channels: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([(x * 255 // max(width - 1, 1)), (y * 255 // max(height - 1, 1)), (x + y) % 256], -1)
    pixels = np.clip(base + rng.integers(-8, 8, base.shape), 0, 255).astype(np.uint8)
    if channels == 4:
        alpha = np.where((x - width / 2) ** 2 + (y - height / 2) ** 2 < (min(width, height) / 3) ** 2, 255, 0)
        pixels = np.dstack([pixels, alpha.astype(np.uint8)])
    return pixels


@pytest.mark.parametrize("size", [(1, 1), (17, 33), (256, 256), (864, 1536)])
@pytest.mark.parametrize("channels", [3, 4])
def test_png_is_lossless(size, channels):
    pixels = picture(*size, channels)
    decoded = np.asarray(Image.open(io.BytesIO(encode(pixels, "png"))))
    assert decoded.shape == pixels.shape and np.array_equal(decoded, pixels)


@pytest.mark.parametrize("fmt, pil", [("jpeg", "JPEG"), ("webp", "WEBP")])
def test_lossy_formats_decode_at_size(fmt, pil):
    image = Image.open(io.BytesIO(encode(picture(100, 150, 3), fmt, 80)))
    assert (image.format, image.size, image.mode) == (pil, (150, 100), "RGB")


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_compression_moves_size_monotonically(fmt):
    pixels = picture(256, 256, 3)
    sizes = [len(encode(pixels, fmt, q)) for q in (10, 40, 70, 100)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def test_webp_keeps_alpha_and_jpeg_never_has_it():
    pixels = picture(64, 64, 4)
    assert Image.open(io.BytesIO(encode(pixels, "webp", 90))).mode == "RGBA"
    assert Image.open(io.BytesIO(encode(pixels, "jpeg", 90))).mode == "RGB"


def test_b64_is_standard_padded_single_line():
    text = b64(b"\xfb\xff\x00\x01")
    assert text == "+/8AAQ==" and base64.b64decode(text, validate=True) == b"\xfb\xff\x00\x01"
