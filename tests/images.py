"""Helpers for tests that decode what the server returned."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image


def decode_b64(b64_json: str) -> Image.Image:
    """Decode exactly as the SDK docs do (strict base64, padding required) and load the pixels."""
    raw = base64.b64decode(b64_json, validate=True)
    image = Image.open(io.BytesIO(raw))
    image.load()
    return image


def alpha_extremes(image: Image.Image) -> tuple[int, int]:
    alpha = np.asarray(image.getchannel("A"))
    return int((alpha == 0).sum()), int((alpha == 255).sum())
