"""Shapes of the sketch engine, as signed distance functions in normalised units (negative inside).

A shape is its bounding box (u0, v0, u1, v1) plus a distance function of the coordinates u (a row
vector) and v (a column vector); `Canvas.fill` evaluates it only inside that box. Coordinates are
normalised to the image's short side, origin at the centre, v pointing down; angles are radians,
measured from +u toward +v (clockwise on screen).

Every distance here changes by at most 1 per unit (or stays close to that: `ellipse`), which the
canvas relies on to fill big shapes tile by tile. Besides the basics (circles, rounded and rotated
rectangles, capsules, convex polygons) there are ellipses, arcs, open strokes (polylines and
quadratic curves), any simple polygon (`outline`, concave allowed), stars, hearts, and the
combinators: `union`, `intersect`, `cut` (a hole), `above` (clipped by a curve), `ring` (an outline) and `moved`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

F32 = np.float32
Sdf = Callable[[np.ndarray, np.ndarray], np.ndarray]
Shape = tuple[tuple[float, float, float, float], Sdf]  # bounding box (u0, v0, u1, v1) and distance
Point = tuple[float, float]


def circle(cx: float, cy: float, r: float) -> Shape:
    return (cx - r, cy - r, cx + r, cy + r), lambda u, v: np.sqrt((u - cx) ** 2 + (v - cy) ** 2) - r


def rect(cx: float, cy: float, w: float, h: float, r: float = 0.0, angle: float = 0.0) -> Shape:
    hw, hh, r = w / 2, h / 2, min(r, w / 2, h / 2)
    cos, sin = math.cos(angle), math.sin(angle)

    def sdf(u, v):
        x, y = u - cx, v - cy
        if angle:
            x, y = x * cos + y * sin, y * cos - x * sin
        qx, qy = np.abs(x) - (hw - r), np.abs(y) - (hh - r)
        return np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2) + np.minimum(np.maximum(qx, qy), 0) - r

    ext_w, ext_h = (math.hypot(hw, hh),) * 2 if angle else (hw, hh)
    return (cx - ext_w, cy - ext_h, cx + ext_w, cy + ext_h), sdf


def segment(ax: float, ay: float, bx: float, by: float, r: float) -> Shape:
    dx, dy = bx - ax, by - ay
    dd = dx * dx + dy * dy or 1e-12

    def sdf(u, v):
        pu, pv = u - ax, v - ay
        t = np.clip((pu * dx + pv * dy) / dd, 0, 1)
        return np.sqrt((pu - dx * t) ** 2 + (pv - dy * t) ** 2) - r

    return (min(ax, bx) - r, min(ay, by) - r, max(ax, bx) + r, max(ay, by) + r), sdf


def polygon(points: list[Point]) -> Shape:
    """A convex polygon: the largest distance to any of its edge lines."""
    mx, my = sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)
    edges = []
    for (ax, ay), (bx, by) in zip(points, points[1:] + points[:1]):
        nx, ny = by - ay, ax - bx
        length = math.hypot(nx, ny) or 1e-12
        sign = -1.0 if (mx - ax) * nx + (my - ay) * ny > 0 else 1.0
        edges.append((ax, ay, sign * nx / length, sign * ny / length))

    def sdf(u, v):
        return np.maximum.reduce([(u - ax) * nx + (v - ay) * ny for ax, ay, nx, ny in edges])

    return _box(points), sdf


def ellipse(cx: float, cy: float, rx: float, ry: float, angle: float = 0.0) -> Shape:
    """An ellipse with radii rx, ry, turned by `angle` (close to exact near its edge)."""
    cos, sin, small = math.cos(angle), math.sin(angle), min(rx, ry)

    def sdf(u, v):
        x, y = u - cx, v - cy
        if angle:
            x, y = x * cos + y * sin, y * cos - x * sin
        k0 = np.sqrt((x / rx) ** 2 + (y / ry) ** 2)
        k1 = np.sqrt((x / (rx * rx)) ** 2 + (y / (ry * ry)) ** 2)
        near = k0 * (k0 - 1) / np.maximum(k1, 1e-9)
        return np.maximum(near, (k0 - 1) * small)  # inside, never deeper than the safe bound

    ext_w, ext_h = (max(rx, ry),) * 2 if angle else (rx, ry)
    return (cx - ext_w, cy - ext_h, cx + ext_w, cy + ext_h), sdf


def arc(cx: float, cy: float, r: float, start: float, end: float, width: float) -> Shape:
    """A stroke `width` thick each side along the circle of radius r from angle `start` to `end`."""
    span = min(max(end - start, 0.0), math.tau)
    mid, half = start + span / 2, span / 2
    ends = [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in (start, start + span)]

    def sdf(u, v):
        x, y = u - cx, v - cy
        off = np.abs((np.arctan2(y, x) - mid + math.pi) % math.tau - math.pi)
        along = np.abs(np.sqrt(x * x + y * y) - r)
        caps = np.minimum(*[np.sqrt((u - ex) ** 2 + (v - ey) ** 2) for ex, ey in ends])
        return np.where(off <= half, along, caps) - width

    return (cx - r - width, cy - r - width, cx + r + width, cy + r + width), sdf


def polyline(points: Sequence[Point], width: float) -> Shape:
    """An open stroke through `points`, `width` thick each side, with round joins and ends."""
    pieces = [segment(*a, *b, width) for a, b in zip(points, points[1:])]
    return union(*pieces) if len(pieces) > 1 else pieces[0]


def curve(a: Point, control: Point, b: Point, width: float, steps: int = 10) -> Shape:
    """A quadratic Bezier stroke from a to b bent toward `control`, as `steps` straight pieces."""
    ts = [i / steps for i in range(steps + 1)]
    return polyline([((1 - t) ** 2 * a[0] + 2 * t * (1 - t) * control[0] + t * t * b[0],
                      (1 - t) ** 2 * a[1] + 2 * t * (1 - t) * control[1] + t * t * b[1]) for t in ts], width)


def outline(points: Sequence[Point]) -> Shape:
    """Any simple polygon, concave too: exact distance to its edges, inside by the even-odd rule."""
    pts = list(points)
    edges = list(zip(pts, pts[1:] + pts[:1]))

    def sdf(u, v):
        best, inside = None, None
        for (ax, ay), (bx, by) in edges:
            dx, dy = bx - ax, by - ay
            pu, pv = u - ax, v - ay
            t = np.clip((pu * dx + pv * dy) / (dx * dx + dy * dy or 1e-12), 0, 1)
            d2 = (pu - dx * t) ** 2 + (pv - dy * t) ** 2
            best = d2 if best is None else np.minimum(best, d2)
            if ay != by:
                crosses = ((v < ay) != (v < by)) & (u < ax + (v - ay) * (dx / dy))
                inside = crosses if inside is None else inside ^ crosses
        d = np.sqrt(best)
        return d if inside is None else np.where(inside, -d, d)

    return _box(pts), sdf


def star(cx: float, cy: float, r: float, inner: float = 0.45, points: int = 5, angle: float = -math.pi / 2) -> Shape:
    """A star with `points` tips on radius r and notches on radius r * inner; the first tip at `angle`."""
    corners = []
    for i in range(2 * points):
        a, rr = angle + math.pi * i / points, r if i % 2 == 0 else r * inner
        corners.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    return outline(corners)


def heart(cx: float, cy: float, size: float) -> Shape:
    """A heart about `size` wide, centred on (cx, cy)."""
    r = size * 0.27
    lobes = [circle(cx + side * r * 0.92, cy - size * 0.12, r) for side in (-1, 1)]
    tip = polygon([(cx - r * 1.82, cy - size * 0.04), (cx + r * 1.82, cy - size * 0.04), (cx, cy + size * 0.46)])
    return union(*lobes, tip)


def union(*shapes: Shape) -> Shape:
    """Several shapes as one: filled once, so overlaps do not darken a translucent fill."""
    boxes = [box for box, _ in shapes]
    fs = [f for _, f in shapes]

    def sdf(u, v):
        d = fs[0](u, v)
        for f in fs[1:]:
            d = np.minimum(d, f(u, v))
        return d

    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)), sdf


def intersect(shape: Shape, other: Shape) -> Shape:
    """Where both shapes are."""
    (a0, b0, a1, b1), (c0, d0, c1, d1) = shape[0], other[0]
    box = (max(a0, c0), max(b0, d0), min(a1, c1), min(b1, d1))
    return box, lambda u, v: np.maximum(shape[1](u, v), other[1](u, v))


def halfplane(px: float, py: float, nx: float, ny: float) -> Shape:
    """Everything on the side of the line through (px, py) that the normal (nx, ny) points to (unbounded)."""
    length = math.hypot(nx, ny) or 1e-12
    nx, ny = nx / length, ny / length
    return (-math.inf, -math.inf, math.inf, math.inf), lambda u, v: (px - u) * nx + (py - v) * ny


def ring(shape: Shape, width: float) -> Shape:
    (u0, v0, u1, v1), f = shape
    return (u0 - width, v0 - width, u1 + width, v1 + width), lambda u, v: np.abs(f(u, v)) - width


def cut(shape: Shape, hole: Shape) -> Shape:
    return shape[0], lambda u, v: np.maximum(shape[1](u, v), -hole[1](u, v))


def above(shape: Shape, limit: Callable[[np.ndarray], np.ndarray] | float, steep: float = 1.0) -> Shape:
    """The part of `shape` above the line v = limit(u); `steep` bounds the line's |slope| + 1."""
    lim = limit if callable(limit) else (lambda u: limit)
    return shape[0], lambda u, v: np.maximum(shape[1](u, v), (v - lim(u)) / F32(steep))


def below(shape: Shape, limit: float) -> Shape:
    """The part of `shape` below the line v = limit."""
    return shape[0], lambda u, v: np.maximum(shape[1](u, v), limit - v)


def moved(shape: Shape, du: float, dv: float) -> Shape:
    (u0, v0, u1, v1), f = shape
    return (u0 + du, v0 + dv, u1 + du, v1 + dv), lambda u, v: f(u - du, v - dv)


def _box(points: Sequence[Point]) -> tuple[float, float, float, float]:
    us, vs = [p[0] for p in points], [p[1] for p in points]
    return min(us), min(vs), max(us), max(vs)
