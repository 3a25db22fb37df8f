"""Encode engine pixels as png, jpeg or webp, and base64 them for `b64_json`.

`output_compression` (0-100, OpenAI's default 100) maps to each format's own knob:
    jpeg  Pillow (libjpeg-turbo) quality = output_compression, 4:2:0 chroma subsampling (Pillow's
          default; 100: best quality, largest file)
    webp  Pillow (libwebp) lossy quality = output_compression, method 4 (libwebp's default effort)
    png   lossless, output_compression ignored (the API refuses it with png): Darkroom's own writer
          in `png.py` (numpy Average filter, ISA-L deflate; flat pictures re-deflated by libdeflate),
          ~15x faster than Pillow's default save at about its size; Pillow at zlib level 1 if the
          `isal` package is missing.
RGBA is kept only when the plan asked for a transparent background; jpeg never gets alpha.
Measurements and the candidates that lost: `bench/encoding.py`, bench/README.md.
"""

from __future__ import annotations

import base64
import io
from typing import Literal

import numpy as np
from PIL import Image

from . import png

try:
    import pybase64
except ImportError:  # odd platforms: the standard library is ~3x slower, same output
    pybase64 = None

Format = Literal["png", "jpeg", "webp"]
MEDIA_TYPES: dict[str, str] = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
PNG_FALLBACK_LEVEL = 1
WEBP_METHOD = 4
DEFAULT_COMPRESSION = 100


def encode(pixels: np.ndarray, output_format: Format, compression: int | None = None) -> bytes:
    """Encode an (H, W, 3|4) uint8 array. Alpha is dropped for jpeg (the rules refuse that pairing first)."""
    quality = DEFAULT_COMPRESSION if compression is None else compression
    if output_format == "png" and png.available():
        return png.encode_png(pixels)
    if output_format == "jpeg" and pixels.shape[2] == 4:
        pixels = pixels[..., :3]
    image = Image.fromarray(pixels)
    buffer = io.BytesIO()
    if output_format == "png":
        image.save(buffer, format="PNG", compress_level=PNG_FALLBACK_LEVEL)
    elif output_format == "jpeg":
        image.save(buffer, format="JPEG", quality=quality)
    elif output_format == "webp":
        image.save(buffer, format="WEBP", quality=quality, method=WEBP_METHOD)
    else:
        raise ValueError(f"unknown output format {output_format!r}")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    """Standard base64 with padding, no line breaks, no `data:` prefix."""
    if pybase64 is not None:
        return pybase64.b64encode_as_string(data)
    return base64.b64encode(data).decode("ascii")
