"""Pictures for the image-moderation tests, drawn here (no photographs in the repository).

`nude_drawing()` is a crude stylised drawing (a skin-toned torso with two breasts) whose parameters
were found by a random search against nudenet's bundled detector: it scores about 0.9 for
FEMALE_BREAST_EXPOSED, well above both levels' default thresholds, while the sketch engine's
pictures mostly score below 0.2 (up to ~0.42) and synthetic gradients below 0.15. The tests check
those scores first, so a different detector version fails loudly rather than silently passing.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

_SKIN = (239, 160, 128)
_AREOLA = (230, 100, 67)
_BREASTS = ((121.4, 147.8, 45.3, 9.3), (221.2, 128.1, 49.3, 23.0))  # centre x, y, radius, areola radius


def nude_drawing(side: int = 320) -> np.ndarray:
    """RGB uint8, `side` x `side` (drawn at 320 and resized)."""
    image = Image.new("RGB", (320, 320), (84, 87, 90))
    draw = ImageDraw.Draw(image)
    draw.rectangle((59, 54, 229, 240), fill=_SKIN)
    shade = tuple(min(255, c + 16) for c in _SKIN)
    for cx, cy, r, nr in _BREASTS:
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=shade)
        draw.ellipse((cx - nr, cy - nr + r * 0.2, cx + nr, cy + nr + r * 0.2), fill=_AREOLA)
    image = image.filter(ImageFilter.GaussianBlur(2.23))
    if side != 320:
        image = image.resize((side, side), Image.Resampling.BICUBIC)
    return np.asarray(image)


def gradients(side: int = 512) -> list[np.ndarray]:
    """Smooth synthetic gradients, some skin-toned, and noise: what a detector may mistake for skin."""
    y, x = np.mgrid[0:side, 0:side] / side
    rng = np.random.default_rng(0)
    return [np.stack([x * 255, y * 255, (1 - x) * 200], -1).astype(np.uint8),
            np.stack([200 + 40 * x, 150 + 40 * y, 120 + 30 * x], -1).astype(np.uint8),
            np.stack([230 - 60 * y, 170 - 50 * y, 140 - 40 * y], -1).astype(np.uint8),
            rng.integers(0, 256, (side, side, 3), dtype=np.uint8)]
