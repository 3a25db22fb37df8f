"""Synthetic pictures of a subject on a key colour, with their true alpha: what the keying and matting
tests check against, and what `bench/matting.py` times (the same pictures both ways)."""

from __future__ import annotations

import numpy as np

from darkroom.postprocess.keying import KeyColour

TINT = np.array([8.0, -10.0, 6.0])  # generated backdrops are never exactly the key colour


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a 2-D array, edges replicated."""
    radius = int(3 * sigma) + 1
    taps = np.exp(-np.arange(-radius, radius + 1) ** 2 / (2 * sigma ** 2))
    taps /= taps.sum()
    for axis in (0, 1):
        padded = np.pad(image, [(radius, radius) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        n = image.shape[axis]
        image = sum(t * padded.take(range(i, i + n), axis=axis) for i, t in enumerate(taps))
    return image


def composite(size: int, key: KeyColour, seed: int = 0, subject: np.ndarray | None = None):
    """A figure with soft edges (anti-aliased, then blurred over a few pixels), a hole, a thin antenna
    and a striped, colourful texture, over `key` as a generator draws it: tinted, shaded left to right
    and top to bottom, noisy (sigma 3.5). Returns (rgb uint8, true alpha, true foreground, true backdrop).

    The texture stays away from every key: red > green > blue everywhere, each by 20 or more, so no
    pixel of the subject has a key's dominant channel(s) on top."""
    rng = np.random.default_rng(seed)
    y, x = (np.mgrid[0:2 * size, 0:2 * size] + 0.5) / (2 * size)
    body = ((x - 0.5) / 0.28) ** 2 + ((y - 0.56) / 0.32) ** 2 < 1
    head = (x - 0.5) ** 2 + (y - 0.21) ** 2 < 0.12 ** 2
    arms = (np.abs(y - 0.5) < 0.04) & (x > 0.12) & (x < 0.88)
    hole = (x - 0.5) ** 2 + (y - 0.62) ** 2 < 0.06 ** 2
    antenna = (np.abs(x - 0.5 - (y - 0.03) * 0.3) < 0.008) & (y > 0.03) & (y < 0.12)
    shape = (((body | head | arms) & ~hole) | antenna).astype(float)
    alpha = np.clip(blur(shape.reshape(size, 2, size, 2).mean((1, 3)), 1.5 * size / 512), 0, 1)
    y, x = (np.mgrid[0:size, 0:size] + 0.5) / size
    if subject is None:
        subject = np.stack([200 + 40 * np.sin(x * 40), 105 + 30 * np.sin(y * 31 + x * 9),
                            30 + 20 * np.cos(x * 23 - y * 17)], -1)
        subject = np.where((np.sin((x + y) * 60) > 0.7)[..., None], [70.0, 45.0, 25.0], subject)
    shading = (0.92 + 0.12 * x + 0.04 * y)[..., None]
    backdrop = np.clip((np.array(key.rgb) + TINT) * shading, 0, 255)
    mixed = alpha[..., None] * subject + (1 - alpha[..., None]) * backdrop + rng.normal(0, 3.5, (size, size, 3))
    return np.clip(mixed.round(), 0, 255).astype(np.uint8), alpha, subject, backdrop
