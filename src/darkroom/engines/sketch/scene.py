"""What every subject's drawing gets: the `Scene` (canvas, palette, detail) and a `Frame` to draw in.

A subject is drawn in its own units: `Frame(cx, cy, k)` maps a subject's local point (x, y) to
(cx + x * k, cy + y * k), optionally mirrored (`flip`) and turned (`angle`), and builds the shapes
of `shapes.py` there, so a drawing reads as its design: "a head of radius 0.09 at (0, -0.32)". At
k = 1 a subject spans about half the picture's short side.

Colours: a subject uses the palette (`Scene.pal`) for the picture's own look, and fixed natural
colours where they make it recognisable (a red apple, a yellow banana); `Scene.tone` fits those to
the style (natural: muted, vivid: stronger) and the night. A colour word right before the subject's
word ("a blue car") becomes `Scene.own`, which `Scene.main` returns instead of the default.
"""

from __future__ import annotations

import colorsys
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from . import shapes
from .canvas import F32, Canvas, Recorder
from .palette import RGB, Palette
from .shapes import Shape, cut, moved

STYLE_SATURATION = {"natural": 0.6, "vivid": 1.15}


@dataclass
class Scene:
    canvas: Canvas | Recorder
    pal: Palette
    q: int  # detail: 0 low, 1 medium, 2 high
    night: bool
    style: str | None = None
    own: RGB | None = None  # the colour the prompt names for the subject being drawn

    def shadow(self, shape: Shape, k: float, opacity: float = 0.22) -> None:
        if self.q:
            soft = max(1.0, 0.012 * self.canvas.s)
            hidden = (soft + 1) / self.canvas.s  # the part under the (opaque) shape itself is skipped
            cast = cut(moved(shape, 0.012 * k, 0.02 * k), (shape[0], lambda u, v: shape[1](u, v) + F32(hidden)))
            self.canvas.fill(cast, self.pal.shadow, opacity, soft)

    def fill(self, shape: Shape, colour, opacity: float = 1.0) -> None:
        self.canvas.fill(shape, colour, opacity)

    def tone(self, colour: RGB) -> RGB:
        """A fixed natural colour fitted to the style and the night."""
        return _tone(tuple(colour), self.style, self.night)

    def main(self, default: RGB) -> RGB:
        """The subject's main colour: the one the prompt names, else `default` (toned)."""
        return self.own if self.own is not None else self.tone(default)


@functools.lru_cache(maxsize=4096)
def _tone(colour: tuple[float, ...], style: str | None, night: bool) -> RGB:
    h, light, s = colorsys.rgb_to_hls(*(c / 255 for c in colour))
    s = min(s * STYLE_SATURATION.get(style or "", 1.0), 1.0)
    if style == "natural":
        light = 0.5 + (light - 0.5) * 0.85
    if night:
        light *= 0.82
    return tuple(float(round(c * 255)) for c in colorsys.hls_to_rgb(h, light, s))  # type: ignore[return-value]


def shade(colour: RGB, f: float) -> RGB:
    """Darker (f < 1, toward black) or lighter (f > 1, toward white by f - 1)."""
    if f <= 1:
        return tuple(float(round(c * f)) for c in colour)  # type: ignore[return-value]
    t = min(f - 1, 1.0)
    return tuple(float(round(c + (255 - c) * t)) for c in colour)  # type: ignore[return-value]


def mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(float(round(x + (y - x) * t)) for x, y in zip(a, b))  # type: ignore[return-value]


class Frame:
    """A subject's own coordinates: local (x, y) -> the picture's (u, v); see the module docstring."""

    def __init__(self, cx: float, cy: float, k: float, flip: bool = False, angle: float = 0.0):
        self.cx, self.cy, self.k, self.sx, self.angle = cx, cy, k, -1.0 if flip else 1.0, angle
        self.cos, self.sin = math.cos(angle), math.sin(angle)

    def pt(self, x: float, y: float) -> tuple[float, float]:
        x *= self.sx
        if self.angle:
            x, y = x * self.cos - y * self.sin, x * self.sin + y * self.cos
        return self.cx + x * self.k, self.cy + y * self.k

    def _a(self, a: float) -> float:
        """A local angle in the picture."""
        return (math.pi - a if self.sx < 0 else a) + self.angle

    def pts(self, points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        return [self.pt(x, y) for x, y in points]

    def circle(self, x, y, r) -> Shape:
        return shapes.circle(*self.pt(x, y), r * self.k)

    def rect(self, x, y, w, h, r=0.0, angle=0.0) -> Shape:
        return shapes.rect(*self.pt(x, y), w * self.k, h * self.k, r * self.k, self._a(angle) if angle or self.angle else 0.0)

    def ellipse(self, x, y, rx, ry, angle=0.0) -> Shape:
        return shapes.ellipse(*self.pt(x, y), rx * self.k, ry * self.k, self._a(angle) if angle or self.angle else 0.0)

    def segment(self, x0, y0, x1, y1, r) -> Shape:
        return shapes.segment(*self.pt(x0, y0), *self.pt(x1, y1), r * self.k)

    def polygon(self, points) -> Shape:
        return shapes.polygon(self.pts(points))

    def outline(self, points) -> Shape:
        return shapes.outline(self.pts(points))

    def polyline(self, points, r) -> Shape:
        return shapes.polyline(self.pts(points), r * self.k)

    def curve(self, a, control, b, r, steps: int = 10) -> Shape:
        return shapes.curve(self.pt(*a), self.pt(*control), self.pt(*b), r * self.k, steps)

    def arc(self, x, y, r, start, end, width) -> Shape:
        a, b = self._a(start), self._a(end)
        if self.sx < 0:
            a, b = b, a
        return shapes.arc(*self.pt(x, y), r * self.k, a, a + (end - start), width * self.k)

    def star(self, x, y, r, inner=0.45, points=5) -> Shape:
        return shapes.star(*self.pt(x, y), r * self.k, inner, points, self._a(-math.pi / 2))

    def clip(self, shape: Shape, x: float, y: float, nx: float, ny: float) -> Shape:
        """The part of `shape` on the side of the local line through (x, y) that (nx, ny) points to."""
        (px, py), (qx, qy) = self.pt(x, y), self.pt(x + nx, y + ny)
        return shapes.intersect(shape, shapes.halfplane(px, py, qx - px, qy - py))

    def heart(self, x, y, size) -> Shape:
        return shapes.heart(*self.pt(x, y), size * self.k)
