"""The canvas of the sketch engine: where shapes (`shapes.py`) are painted.

Shapes live in coordinates normalised to the image's short side (origin at the centre, v down), so a
composition looks alike at any aspect ratio. A shape is its bounding box plus a distance function,
negative inside; the canvas evaluates it only inside that box, tile by tile for big shapes, and turns
distance into anti-aliased coverage with a one-pixel smoothstep. Colour is kept premultiplied in
float32 planes with a separate alpha, so transparent output gets real, soft-edged alpha.

Partial images: `Canvas.snapshot` converts the picture so far without touching the canvas, a
`Recorder` stands in for the canvas to plan fills that are replayed later (so a snapshot can fall
between two of them), and `Partials` hands snapshots on, never the same picture twice in a row.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .shapes import Shape

TILE = 32  # pixels; big shapes are filled tile by tile (every distance below changes at most 1 per unit)
F32 = np.float32


def _bayer(n: int) -> np.ndarray:
    """An n x n ordered-dither threshold matrix with values in (0, 1)."""
    m = np.zeros((1, 1))
    while m.shape[0] < n:
        m = np.block([[4 * m, 4 * m + 2], [4 * m + 3, 4 * m + 1]])
    return ((m + 0.5) / m.size).astype(F32)


BAYER8 = _bayer(8)


def planes(colour) -> np.ndarray:
    """An RGB colour shaped to broadcast over planar (3, rows, columns) pixels."""
    return np.asarray(colour, F32).reshape(3, 1, 1)


def coverage(d: np.ndarray) -> np.ndarray:
    """Distance in pixels to coverage in 0..1: a smoothstep one pixel wide across the edge."""
    t = np.clip(0.5 - d, 0, 1)
    return t * t * (3 - 2 * t)


# ---- the canvas: premultiplied float32 colour plus alpha ----------------------------------------


class Canvas:
    def __init__(self, width: int, height: int):
        self.w, self.h, self.s = width, height, float(min(width, height))
        self.half_w, self.half_h = width / (2 * self.s), height / (2 * self.s)
        self.rgb = np.zeros((3, height, width), F32)  # planar: numpy's inner loops run along rows
        self.alpha = np.zeros((height, width), F32)
        self.opaque = False  # once a backdrop covers everything, alpha is 1 and no longer tracked

    def window(self, box, pad: float):
        """Pixel slices covering a normalised box, and the normalised coordinates of their centres."""
        s, u0, v0, u1, v1 = self.s, *box
        x0, x1 = max(math.floor(u0 * s + self.w / 2 - pad), 0), min(math.ceil(u1 * s + self.w / 2 + pad), self.w)
        y0, y1 = max(math.floor(v0 * s + self.h / 2 - pad), 0), min(math.ceil(v1 * s + self.h / 2 + pad), self.h)
        if x0 >= x1 or y0 >= y1:
            return None
        u = ((np.arange(x0, x1, dtype=F32) + F32(0.5 - self.w / 2)) / F32(s))[None, :]
        v = ((np.arange(y0, y1, dtype=F32) + F32(0.5 - self.h / 2)) / F32(s))[:, None]
        return (slice(y0, y1), slice(x0, x1)), u, v

    def blend(self, where, cover: np.ndarray, colour) -> None:
        """Paint `colour` over `where` with per-pixel coverage (premultiplied "over")."""
        rgb = self.rgb[(slice(None), *where)]
        paint = np.subtract(planes(colour), rgb)
        paint *= cover
        rgb += paint
        if not self.opaque:
            alpha = self.alpha[where]
            alpha += (1 - alpha) * cover

    def fill(self, shape: Shape, colour, opacity: float = 1.0, soft: float = 1.0) -> None:
        """Paint a shape; `soft` widens the edge to that many pixels (blurred shadows).

        Big shapes are split into TILE-pixel tiles classified by the distance at their centres: tiles
        well inside are filled flat, tiles well outside skipped, and only the rest evaluated per pixel.
        """
        win = self.window(shape[0], soft + 1)
        if win is None:
            return
        (ys, xs), u, v = win
        sdf, scale, h, w = shape[1], F32(self.s / soft), v.shape[0], u.shape[1]
        if h <= 2 * TILE or w <= 2 * TILE:
            cover = coverage(sdf(u, v) * scale)
            self.blend((ys, xs), cover * F32(opacity) if opacity != 1 else cover, colour)
            return
        cx, cy = (np.arange(0, w, TILE) + TILE / 2).clip(max=w), (np.arange(0, h, TILE) + TILE / 2).clip(max=h)
        d = sdf(u[:, :1] + F32(1 / self.s) * (cx - 0.5)[None, :].astype(F32),
                v[:1] + F32(1 / self.s) * (cy - 0.5)[:, None].astype(F32)) * F32(self.s)
        margin = 0.5 * soft + TILE * 0.71
        state = np.full((d.shape[0], d.shape[1] + 1), -1, np.int8)  # 0 outside, 1 edge, 2 inside; -1 ends a row
        state[:, :-1] = np.where(d <= -margin, 2, np.where(d < margin, 1, 0))
        change = np.ones(state.shape, bool)
        change[:, 1:] = state[:, 1:] != state[:, :-1]
        rs, cs = (x.tolist() for x in np.nonzero(change))
        for r, c0, r_next, c1 in zip(rs, cs, rs[1:], cs[1:]):  # runs of tiles of one kind along a tile row
            kind = state[r, c0] if r == r_next else 0
            if kind:
                rows, cols = slice(r * TILE, min((r + 1) * TILE, h)), slice(c0 * TILE, min(c1 * TILE, w))
                where = (slice(ys.start + rows.start, ys.start + rows.stop),
                         slice(xs.start + cols.start, xs.start + cols.stop))
                if kind == 2:
                    self._flat(where, colour, opacity)
                else:
                    cover = coverage(sdf(u[:, cols], v[rows]) * scale)
                    self.blend(where, cover * F32(opacity) if opacity != 1 else cover, colour)

    def _flat(self, where, colour, opacity: float) -> None:
        if opacity == 1:
            self.rgb[(slice(None), *where)] = planes(colour)
            if not self.opaque:
                self.alpha[where] = 1
        else:
            self.blend(where, np.asarray(opacity, F32), colour)

    def row_below(self, v: float) -> int:
        """The first pixel row entirely below the normalised height v (clamped to the canvas)."""
        return min(max(math.ceil(v * self.s + self.h / 2) + 1, 0), self.h)

    def land(self, top: Callable[[np.ndarray], np.ndarray], colour, hidden_below: float = math.inf) -> np.ndarray:
        """Fill everything below the curve v = top(u) down to `hidden_below` (painted over later anyway)."""
        u = ((np.arange(self.w, dtype=F32) + F32(0.5 - self.w / 2)) / F32(self.s))
        ty = np.broadcast_to(top(u) * F32(self.s) + F32(self.h / 2), u.shape).astype(F32)
        slope = np.sqrt(1 + np.gradient(ty) ** 2) if self.w > 1 else np.ones_like(ty)
        end = self.row_below(hidden_below) if hidden_below < math.inf else self.h
        y0, y1 = min(max(math.floor(ty.min()) - 1, 0), end), min(max(math.ceil(ty.max()) + 1, 0), end)
        if y1 > y0:
            ys = np.arange(y0, y1, dtype=F32)[:, None] + F32(0.5)
            self.blend((slice(y0, y1), slice(None)), coverage((ty[None, :] - ys) / slope[None, :]), colour)
        self.rgb[:, y1:end] = planes(colour)
        if not self.opaque:
            self.alpha[y1:end] = 1
        return ty

    def to_uint8(self, transparent: bool, dither: bool, rgb: np.ndarray | None = None) -> np.ndarray:
        """The finished picture. Works in place on the colour planes (or on `rgb`, planes given instead
        of the canvas's own): the canvas is spent afterwards. `snapshot` leaves it intact."""
        rgb = self.rgb if rgb is None else rgb
        if transparent:
            rgb /= np.maximum(self.alpha, F32(1e-6))
        rgb += np.tile(BAYER8, (self.h // 8 + 1, self.w // 8 + 1))[: self.h, : self.w] if dither else F32(0.5)
        np.minimum(rgb, F32(255), out=rgb)  # values are >= 0, so the cast below (truncation) floors them
        out = np.empty((self.h, self.w, 4 if transparent else 3), np.uint8)
        if transparent:
            out[..., 3] = self.alpha * F32(255) + F32(0.5)
            rgb *= out[..., 3] > 0  # no stray colour under fully transparent pixels
        for i in range(3):
            out[..., i] = rgb[i]
        return _with_alpha_extremes(out) if transparent else out


    def snapshot(self, transparent: bool, dither: bool) -> np.ndarray:
        """The picture so far, exactly as `to_uint8` would make it now, leaving the canvas untouched."""
        return self.to_uint8(transparent, dither, self.rgb.copy())


class Recorder:
    """Stands in for a canvas while shapes are planned: `fill` only notes its arguments, in order.

    Replaying `ops` through `Canvas.fill` paints exactly what filling directly would have painted.
    """

    def __init__(self, canvas: Canvas):
        self.s = canvas.s
        self.ops: list[tuple[Shape, tuple, float, float]] = []

    def fill(self, shape: Shape, colour, opacity: float = 1.0, soft: float = 1.0) -> None:
        self.ops.append((shape, colour, opacity, soft))


class Partials:
    """Hands intermediate pictures to `send(index, pixels)`: at most `wanted`, never one twice in a row.

    `offer(take)` calls `take()` for the pixels only while more are wanted; it returns False when they
    repeat the previous picture (nothing sent: the caller may offer again after more drawing).
    """

    def __init__(self, wanted: int, send: Callable[[int, np.ndarray], None] | None):
        self.wanted = max(0, min(int(wanted), 3)) if send is not None else 0
        self.send, self.sent, self._last = send, 0, None

    @property
    def done(self) -> bool:
        return self.sent >= self.wanted

    def offer(self, take: Callable[[], np.ndarray]) -> bool:
        if self.done:
            return True
        pixels = take()
        if self._last is not None and np.array_equal(pixels, self._last):
            return False
        self.send(self.sent, pixels)  # type: ignore[misc] - wanted is 0 without a `send`
        self.sent, self._last = self.sent + 1, pixels
        return True


# which of three stages, in drawing order, k partial images show
STAGES_FOR = {0: (), 1: (1,), 2: (0, 1), 3: (0, 1, 2)}


def _with_alpha_extremes(out: np.ndarray) -> np.ndarray:
    """Tiny images (thin subjects under a pixel wide) still get one opaque and one clear pixel."""
    alpha = out[..., 3]
    if alpha.size > 1 and not (alpha == 255).any():
        out[np.unravel_index(int(alpha.argmax()), alpha.shape) + (3,)] = 255
    if alpha.size > 1 and not (alpha == 0).any():
        out[np.unravel_index(int(alpha.argmin()), alpha.shape)] = 0
    return out
