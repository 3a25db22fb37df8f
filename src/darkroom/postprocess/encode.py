"""Encode engine pixels as png, jpeg or webp, and base64 them for `b64_json`.

`output_compression` (0-100, OpenAI's default 100) maps to each format's own knob:
    jpeg  Pillow quality = output_compression (100: best quality, largest file)
    webp  Pillow quality = output_compression, lossy (100: best lossy quality)
    png   lossless; the API refuses output_compression with png, Darkroom uses zlib level 1
          (fast; flat illustrations compress well at any level)
RGBA is kept only when the plan asked for a transparent background; jpeg never gets alpha.
"""

from __future__ import annotations

import base64
import io
from typing import Literal

import numpy as np
from PIL import Image

Format = Literal["png", "jpeg", "webp"]
MEDIA_TYPES: dict[str, str] = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
PNG_LEVEL = 1
DEFAULT_COMPRESSION = 100


def encode(pixels: np.ndarray, output_format: Format, compression: int | None = None) -> bytes:
    """Encode an (H, W, 3|4) uint8 array. Alpha is dropped for jpeg (the rules refuse that pairing first)."""
    image = Image.fromarray(pixels)
    quality = DEFAULT_COMPRESSION if compression is None else compression
    buffer = io.BytesIO()
    if output_format == "png":
        image.save(buffer, format="PNG", compress_level=PNG_LEVEL)
    elif output_format == "jpeg":
        image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    elif output_format == "webp":
        image.save(buffer, format="WEBP", quality=quality, method=4)
    else:
        raise ValueError(f"unknown output format {output_format!r}")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    """Standard base64 with padding, no line breaks, no `data:` prefix."""
    return base64.b64encode(data).decode("ascii")
