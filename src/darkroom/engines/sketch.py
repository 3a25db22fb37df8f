"""The sketch engine: a deterministic procedural illustrator. It is NOT an AI model.

It draws flat, vector-style pictures (a backdrop gradient, layered hills, mountains, a skyline or
water, a sun or moon, and one or two geometric subjects such as a checklist card, a phone, a laptop
or a simple figure) from a handful of prompt keywords and a seeded random generator. It exists so
the whole Image API works offline, in CI, and for anyone testing an Image API client: the same
prompt, size, seed, quality, style and transparency give byte-identical pixels in any process.

The drawing primitives (shapes as signed distance functions, the canvas) are in `sketch_canvas.py`,
the colour and mood tables in `sketch_palette.py`. With a transparent background the backdrop is
left out and only the subjects are drawn, so the alpha is real.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .base import Capabilities, Engine, Generation, GenerationJob
from .sketch_canvas import (F32, Canvas, Shape, above, circle, coverage, cut, moved, planes, polygon, rect, ring,
                            segment)
from .sketch_palette import Palette, build_palette, prompt_words

# Keywords that pick backdrop motifs and subjects; the first two subjects found are drawn.
MOTIF_WORDS = {
    "mountains": {"mountain", "mountains", "peak", "peaks", "alps", "hiking", "summit", "snow"},
    "city": {"city", "skyline", "town", "buildings", "building", "urban", "downtown", "street"},
    "water": {"ocean", "sea", "water", "beach", "lake", "waves", "wave", "river", "coast", "boat"},
    "forest": {"forest", "woods", "pine", "pines", "trees", "jungle", "nature", "park"},
    "night": {"night", "moon", "midnight", "stars", "starry", "moonlight", "evening"},
}
SUBJECT_WORDS = {
    "checklist": {"check", "checklist", "todo", "todos", "task", "tasks", "list", "productivity", "planner"},
    "phone": {"phone", "app", "mobile", "smartphone", "ios", "android"},
    "laptop": {"laptop", "computer", "desktop", "dashboard", "website", "web", "saas", "analytics"},
    "figure": {"person", "people", "man", "woman", "girl", "boy", "team", "user", "character", "hiker"},
    "trees": {"tree", "trees", "forest", "woods", "park", "garden", "nature", "pine"},
}
FREE_SUBJECTS = ("figure", "cards", "trees", "cards")  # when the prompt names none (cards twice as likely)
DETAIL = {"low": 0, "medium": 1, "high": 2}
@dataclass
class Scene:
    canvas: Canvas
    pal: Palette
    q: int  # detail: 0 low, 1 medium, 2 high
    night: bool

    def shadow(self, shape: Shape, k: float, opacity: float = 0.22) -> None:
        if self.q:
            soft = max(1.0, 0.012 * self.canvas.s)
            hidden = (soft + 1) / self.canvas.s  # the part under the (opaque) shape itself is skipped
            cast = cut(moved(shape, 0.012 * k, 0.02 * k), (shape[0], lambda u, v: shape[1](u, v) + F32(hidden)))
            self.canvas.fill(cast, self.pal.shadow, opacity, soft)


# ---- the backdrop ---------------------------------------------------------------------------------


@dataclass
class Land:
    horizon: float
    hills: list[tuple[float, np.ndarray]]  # base height, then rows of (amplitude, frequency, phase)

    def top(self, i: int) -> Callable[[np.ndarray], np.ndarray]:
        base, waves = self.hills[i]
        return lambda u: base + sum(F32(a) * np.sin(u * F32(f) + F32(p)) for a, f, p in waves)

    def lowest(self, i: int) -> float:
        """A height below which hill i covers everything."""
        base, waves = self.hills[i]
        return base + float(np.abs(waves[:, 0]).sum())


def plan_land(rng: np.random.Generator, water: bool) -> Land:
    horizon = float(rng.uniform(-0.02, 0.1))
    bases = (horizon + 0.05, horizon + 0.15, float(rng.uniform(0.27, 0.33)) + (0.1 if water else 0))
    hills = []
    for i, base in enumerate(bases):
        amp = rng.uniform([0.015, 0.004], [0.045 + 0.015 * i, 0.015])
        freq = rng.uniform([1.5, 6.0], [4.0, 11.0])
        hills.append((base, np.stack([amp, freq, rng.uniform(0, 2 * math.pi, 2)], 1)))
    return Land(horizon, hills)


def draw_sky(sc: Scene, land: Land) -> None:
    c, pal = sc.canvas, sc.pal
    v = (np.arange(c.h, dtype=F32) + F32(0.5 - c.h / 2)) / F32(c.s)
    t = np.clip((v + c.half_h) / (land.horizon + 0.25 + c.half_h), 0, 1)[:, None]
    top, bottom = np.asarray(pal.sky_top, F32), np.asarray(pal.sky_bottom, F32)
    end = c.row_below(land.lowest(0))  # the first hill hides everything further down
    c.rgb[:, :end] = planes(top) + planes(bottom - top) * t[:end]
    c.opaque = True  # the rows below `end` are covered by the hills


def draw_sun(sc: Scene, rng: np.random.Generator, land: Land) -> None:
    c, pal = sc.canvas, sc.pal
    u, v, r = rng.uniform(-0.38, 0.38), land.horizon - rng.uniform(0.2, 0.34), rng.uniform(0.07, 0.12)
    for i in range(sc.q):
        c.fill(circle(u, v, r * (1.45 + 0.5 * i)), pal.sun, 0.1 if not sc.night else 0.06)
    disc = circle(u, v, r)
    c.fill(cut(disc, circle(u + 0.45 * r, v - 0.25 * r, r * 0.88)) if sc.night else disc, pal.sun)


def draw_sky_details(sc: Scene, rng: np.random.Generator, land: Land) -> None:
    c, pal = sc.canvas, sc.pal
    wide = max(1, round(2 * c.half_w))
    n = (6, 18, 36)[sc.q] * wide
    us, vs = rng.uniform(-c.half_w, c.half_w, 36 * wide), rng.uniform(-c.half_h, land.horizon - 0.08, 36 * wide)
    rs = rng.uniform(0.002, 0.005, 36 * wide)
    clouds = rng.uniform([-0.45, -0.42, 0.08], [0.45, -0.2, 0.16], (3, 3))
    if sc.night:
        for u, v, r in zip(us[:n], vs[:n], rs[:n]):
            c.fill(circle(u, v, r), pal.sun, 0.9)
        return
    for u, v, w in clouds[: sc.q + 1] if sc.q else []:
        c.fill(segment(u - w / 2, v, u + w / 2, v, 0.025), pal.card, 0.85)
        c.fill(above(circle(u - w * 0.12, v - 0.01, 0.045), v + 0.024), pal.card, 0.85)
        c.fill(above(circle(u + w * 0.18, v - 0.005, 0.032), v + 0.024), pal.card, 0.85)
    if sc.q == 2:  # a few birds
        for u, v in zip(us[:3] * 0.6, vs[:3] * 0.5 + 0.1):
            c.fill(segment(u - 0.018, v - 0.008, u, v, 0.0025), pal.ink, 0.7)
            c.fill(segment(u, v, u + 0.018, v - 0.008, 0.0025), pal.ink, 0.7)


def draw_mountains(sc: Scene, rng: np.random.Generator, land: Land) -> None:
    c, pal = sc.canvas, sc.pal
    n = int(rng.integers(3, 6)) + round(2 * c.half_w) - 1
    peaks = np.linspace(-c.half_w, c.half_w, n) + rng.uniform(-0.08, 0.08, n)
    heights, widths = rng.uniform(0.12, 0.33, n), rng.uniform(0.22, 0.4, n)
    dark = tuple(x * 0.85 for x in pal.far)
    for u, h, w in zip(peaks, heights, widths):
        top, base = land.horizon - h, land.horizon + 0.15
        peak = polygon([(u, top), (u + w, base), (u - w, base)])
        c.fill(peak, pal.far)
        if sc.q:  # a shaded flank and a wavy snow cap
            c.fill(polygon([(u, top), (u + w, base), (u + w * 0.15, base)]), dark)
            c.fill(above(peak, lambda x, s=top + h * 0.3: s + 0.012 * np.sin(x * 70), 1.85), pal.card)


def draw_city(sc: Scene, rng: np.random.Generator, land: Land) -> None:
    c, pal = sc.canvas, sc.pal
    u, shades = -c.half_w - 0.04, (pal.far, tuple(x * 0.86 for x in pal.far))
    lights = pal.sun if sc.night else pal.card
    while u < c.half_w + 0.04:
        w, h, i = float(rng.uniform(0.05, 0.11)), float(rng.uniform(0.08, 0.3)), int(rng.integers(2))
        top, bottom = land.horizon + 0.08 - h, land.horizon + 0.2
        c.fill(rect(u + w / 2, (top + bottom) / 2, w, bottom - top), shades[i])
        win = c.window((u + 0.012, top + 0.015, u + w - 0.012, bottom), 0) if sc.q else None
        if win is not None:  # a periodic grid of windows, one distance field for the whole facade
            where, gu, gv = win  # a box's coverage is the product of its coverage along each axis
            gx = np.abs((gu - F32(u + 0.012)) % F32(0.022) - F32(0.011)) - F32(0.0055)
            gy = np.abs((gv - F32(top + 0.015)) % F32(0.03) - F32(0.015)) - F32(0.008)
            c.blend(where, coverage(gx * F32(c.s)) * (coverage(gy * F32(c.s)) * F32(0.7)), lights)
        u += w


def draw_water(sc: Scene, rng: np.random.Generator, land: Land) -> None:
    c, pal = sc.canvas, sc.pal
    shore = land.horizon + 0.12
    c.land(lambda u: np.full_like(u, shore), pal.water)
    offsets, periods = rng.uniform(0, 1, 8), rng.uniform(0.12, 0.22, 8)
    for i in range(sc.q * 2):
        v = shore + 0.03 + 0.055 * i
        win = c.window((-c.half_w, v - 0.01, c.half_w, v + 0.01), 1)
        if win is not None:
            where, gu, gv = win
            gx = np.maximum(np.abs((gu + F32(offsets[i])) % F32(periods[i]) - F32(periods[i] / 2)) - F32(0.03), 0)
            c.blend(where, coverage((np.sqrt(gx * gx + (gv - F32(v)) ** 2) - F32(0.003)) * F32(c.s)) * 0.5, pal.line)


def draw_hills(sc: Scene, land: Land, first: int, stop: int) -> None:
    c, pal = sc.canvas, sc.pal
    for i in range(first, stop):
        ty = c.land(land.top(i), pal.hills[i], land.lowest(i + 1) if i < 2 else math.inf)
        if sc.q == 2 and i == 1:  # halftone dots fading down from the ridge
            win = c.window((-c.half_w, (ty.min() - c.h / 2) / c.s, c.half_w, (ty.max() - c.h / 2) / c.s + 0.12), 0)
            if win is not None:
                where, u, v = win
                depth = v - ((ty[where[1]] - F32(c.h / 2)) / F32(c.s))[None, :]
                cell = F32(0.022)
                r = np.clip(F32(0.3) - depth / F32(0.4), 0, 0.3) * cell
                gu, gv = (u % cell) - cell / 2, (v % cell) - cell / 2
                inside = (depth > 0.004).astype(F32)
                c.blend(where, coverage((np.sqrt(gu * gu + gv * gv) - r) * F32(c.s)) * inside * 0.35, pal.hills[3])


def draw_backdrop(sc: Scene, rng: np.random.Generator, extra: np.random.Generator, land: Land, motifs) -> None:
    draw_sky(sc, land)
    draw_sun(sc, rng, land)
    draw_sky_details(sc, extra, land)
    if "mountains" in motifs:
        draw_mountains(sc, rng, land)
    if "city" in motifs:
        draw_city(sc, rng, land)
    draw_hills(sc, land, 0, 2)
    if "forest" in motifs:
        draw_forest(sc, rng, land)
    if "water" in motifs:
        draw_water(sc, extra, land)
    draw_hills(sc, land, 2, 3)


# ---- subjects -------------------------------------------------------------------------------------


def check_mark(sc: Scene, x: float, y: float, s: float, colour) -> None:
    sc.canvas.fill(segment(x - 0.5 * s, y, x - 0.12 * s, y + 0.38 * s, 0.13 * s), colour)
    sc.canvas.fill(segment(x - 0.12 * s, y + 0.38 * s, x + 0.52 * s, y - 0.4 * s, 0.13 * s), colour)


def draw_checklist(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    c, pal = sc.canvas, sc.pal
    w, h, rows = 0.4 * k, 0.46 * k, int(rng.integers(3, 5))
    done, lengths = rng.random(rows) < 0.6, rng.uniform(0.45, 0.95, rows)
    card = rect(cx, cy, w, h, 0.035 * k)
    sc.shadow(card, k)
    c.fill(card, pal.card)
    c.fill(rect(cx, cy - h / 2 + 0.065 * k, w - 0.08 * k, 0.045 * k, 0.0225 * k), pal.accent)
    if sc.q == 2:
        c.fill(circle(cx + w / 2 - 0.075 * k, cy - h / 2 + 0.065 * k, 0.013 * k), pal.card)
    gap = (h - 0.17 * k) / rows
    for i in range(rows):
        y, bx, b = cy - h / 2 + 0.13 * k + gap * (i + 0.5), cx - w / 2 + 0.075 * k, 0.055 * k
        box = rect(bx, y, b, b, 0.013 * k)
        if done[i] or i == 0:
            c.fill(box, pal.accent2)
            check_mark(sc, bx, y, b * 0.5, pal.card)
        else:
            c.fill(ring(box, 0.004 * k), pal.ink, 0.35)
        x0, length = bx + 0.06 * k, lengths[i] * (w - 0.2 * k)
        c.fill(rect(x0 + length / 2, y - (0.008 * k if sc.q == 2 else 0), length, 0.018 * k, 0.009 * k), pal.line)
        if sc.q == 2:
            c.fill(rect(x0 + length * 0.3, y + 0.016 * k, length * 0.6, 0.009 * k, 0.0045 * k), pal.line, 0.7)


def draw_phone(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    c, pal = sc.canvas, sc.pal
    w, h, lengths = 0.25 * k, 0.5 * k, rng.uniform(0.35, 0.9, 3)
    body = rect(cx, cy, w, h, 0.04 * k)
    sc.shadow(body, k)
    c.fill(body, pal.ink)
    c.fill(rect(cx, cy, w - 0.024 * k, h - 0.024 * k, 0.03 * k), pal.card)
    c.fill(rect(cx, cy - h / 2 + 0.03 * k, 0.07 * k, 0.016 * k, 0.008 * k), pal.ink)
    header = rect(cx, cy - h / 2 + 0.1 * k, w - 0.06 * k, 0.075 * k, 0.015 * k)
    c.fill(header, pal.accent)
    if sc.q == 2:
        c.fill(above(circle(cx + w * 0.25, cy - h / 2 + 0.1 * k, 0.05 * k), cy - h / 2 + 0.137 * k), pal.card, 0.25)
    for i in range(3):
        y = cy - h / 2 + 0.19 * k + i * 0.075 * k
        c.fill(circle(cx - w / 2 + 0.055 * k, y, 0.02 * k), (pal.accent2, pal.accent3)[i % 2])
        length = lengths[i] * (w - 0.12 * k)
        c.fill(rect(cx - w / 2 + 0.09 * k + length / 2, y, length, 0.016 * k, 0.008 * k), pal.line)
    c.fill(rect(cx, cy + h / 2 - 0.06 * k, w - 0.1 * k, 0.04 * k, 0.02 * k), pal.accent)


def draw_laptop(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    c, pal = sc.canvas, sc.pal
    sw, sh, sy, bars = 0.58 * k, 0.36 * k, cy - 0.03 * k, rng.uniform(0.25, 1.0, 6)
    lid = rect(cx, sy, sw, sh, 0.025 * k)
    y1 = sy + sh / 2
    base = polygon([(cx - sw / 2 - 0.04 * k, y1), (cx + sw / 2 + 0.04 * k, y1),
                    (cx + sw / 2 + 0.08 * k, y1 + 0.035 * k), (cx - sw / 2 - 0.08 * k, y1 + 0.035 * k)])
    sc.shadow(lid, k)
    sc.shadow(base, k)
    c.fill(lid, pal.ink)
    c.fill(base, pal.line)
    c.fill(rect(cx, y1 + 0.004 * k, 0.1 * k, 0.008 * k, 0.004 * k), pal.ink, 0.35)
    c.fill(rect(cx, sy, sw - 0.03 * k, sh - 0.03 * k, 0.012 * k), pal.card)
    c.fill(rect(cx - sw * 0.18, sy - sh / 2 + 0.05 * k, sw * 0.45, 0.022 * k, 0.011 * k), pal.line)
    for i, b in enumerate(bars):  # a bar chart
        x, bh = cx - sw / 2 + 0.06 * k + i * 0.045 * k, b * 0.2 * k
        c.fill(rect(x, y1 - 0.04 * k - bh / 2, 0.03 * k, bh, 0.008 * k), (pal.accent, pal.accent2)[i % 2])
    donut = circle(cx + sw * 0.3, sy + 0.02 * k, 0.055 * k)
    c.fill(ring(donut, 0.014 * k), pal.accent3)
    if sc.q == 2:
        c.fill(above(ring(donut, 0.014 * k), sy + 0.02 * k), pal.accent)


def draw_figure(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    c, pal = sc.canvas, sc.pal
    stride, wave = rng.uniform(0.01, 0.04) * k, rng.uniform(-0.6, 0.6)
    hip, shoulder = base - 0.14 * k, base - 0.29 * k
    c.fill(segment(cx - 0.07 * k, base, cx + 0.07 * k, base, 0.01 * k), pal.shadow, 0.2 if sc.q else 0)
    for side in (-1, 1):
        c.fill(segment(cx + side * 0.02 * k, hip, cx + side * (0.02 * k + stride), base - 0.015 * k, 0.02 * k), pal.ink)
    hand = (cx + 0.11 * k + 0.04 * k * math.sin(wave), shoulder - 0.09 * k * math.cos(wave))
    c.fill(segment(cx + 0.04 * k, shoulder + 0.02 * k, *hand, 0.018 * k), pal.accent)
    c.fill(segment(cx - 0.04 * k, shoulder + 0.02 * k, cx - 0.075 * k, hip, 0.018 * k), pal.accent)
    body = rect(cx, (hip + shoulder) / 2 + 0.005 * k, 0.11 * k, hip - shoulder + 0.03 * k, 0.045 * k)
    sc.shadow(body, k, 0.15)
    c.fill(body, pal.accent)
    c.fill(circle(*hand, 0.02 * k), pal.skin)
    c.fill(circle(cx - 0.075 * k, hip, 0.02 * k), pal.skin)
    hy = shoulder - 0.06 * k
    c.fill(circle(cx, hy, 0.045 * k), pal.skin)
    c.fill(above(circle(cx, hy - 0.008 * k, 0.049 * k), hy - 0.012 * k), pal.ink)
    if sc.q == 2:
        c.fill(rect(cx, (hip + shoulder) / 2 - 0.01 * k, 0.012 * k, 0.09 * k, 0.006 * k), pal.card, 0.5)


def draw_cards(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    c, pal = sc.canvas, sc.pal
    angles, offsets = rng.uniform(-0.3, 0.3, 3), rng.uniform(-0.09, 0.09, (3, 2)) * k
    c.fill(circle(cx + offsets[0, 0] * 2, cy - 0.12 * k, 0.15 * k), pal.accent3)
    for i, colour in enumerate((pal.accent2, pal.accent, pal.card)):
        card = rect(cx + offsets[i, 0], cy + offsets[i, 1], 0.34 * k, 0.24 * k, 0.03 * k, angles[i] * (2 - i) / 2)
        sc.shadow(card, k)
        c.fill(card, colour)
    u, v = cx + offsets[2, 0], cy + offsets[2, 1]
    c.fill(circle(u - 0.1 * k, v - 0.04 * k, 0.035 * k), pal.accent)
    c.fill(rect(u + 0.03 * k, v - 0.045 * k, 0.14 * k, 0.02 * k, 0.01 * k), pal.line)
    c.fill(rect(u, v + 0.04 * k, 0.24 * k, 0.018 * k, 0.009 * k), pal.line)
    c.fill(ring(circle(cx - 0.2 * k, cy + 0.14 * k, 0.03 * k), 0.008 * k), pal.accent2)


def tree(sc: Scene, x: float, base: float, h: float, pine: bool, colour) -> None:
    c = sc.canvas
    c.fill(rect(x, base - h * 0.25, 0.08 * h, h * 0.5), sc.pal.ink)
    if pine:
        for j in range(3):
            y, w = base - h + h * 0.22 * j, h * (0.16 + 0.05 * j)
            c.fill(polygon([(x, y), (x + w, y + h * 0.32), (x - w, y + h * 0.32)]), colour)
        return
    crown = circle(x, base - h * 0.7, h * 0.3)
    c.fill(crown, colour)
    if sc.q == 2:
        c.fill(cut(crown, circle(x + h * 0.08, base - h * 0.63, h * 0.3)), sc.pal.accent3, 0.3)


def draw_trees(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    specs = rng.uniform([-0.2, 0.24, 0], [0.2, 0.42, 1], (3, 3))
    for du, h, kind in sorted(specs.tolist(), key=lambda s: -s[1]):
        if sc.q:
            ground = segment(cx + (du - 0.05) * k, base, cx + (du + 0.05) * k, base, 0.008 * k)
            sc.canvas.fill(ground, sc.pal.shadow, 0.2)
        tree(sc, cx + du * k, base, h * k, kind < 0.5, sc.pal.foliage)


def draw_forest(sc: Scene, rng: np.random.Generator, land: Land) -> None:
    """A row of small trees along the middle hill."""
    c, top = sc.canvas, land.top(1)
    colour = tuple((a + b) / 2 for a, b in zip(sc.pal.foliage, sc.pal.hills[1]))
    u = -c.half_w - 0.02
    while u < c.half_w + 0.02:
        h, pine, step = rng.uniform(0.07, 0.14), rng.random() < 0.6, rng.uniform(0.04, 0.1)
        tree(sc, u, float(top(np.float32(u))) + 0.015, h, pine, colour)
        u += step


SUBJECTS = {"checklist": draw_checklist, "phone": draw_phone, "laptop": draw_laptop,
            "figure": draw_figure, "cards": draw_cards, "trees": draw_trees}
STANDING = {"figure", "trees"}


def draw_subjects(sc: Scene, rng: np.random.Generator, extra: np.random.Generator, land: Land, words) -> None:
    named = [name for name, keys in SUBJECT_WORDS.items() if keys.intersection(words)][:2]
    chosen = named or [FREE_SUBJECTS[int(rng.integers(len(FREE_SUBJECTS)))]]
    side = float(rng.choice([-1.0, 1.0]))
    places = [(side * rng.uniform(0.0, 0.14), rng.uniform(0.92, 1.08))]
    if len(chosen) > 1:
        places = [(side * rng.uniform(0.1, 0.17), 1.0), (-side * rng.uniform(0.22, 0.28), 0.8)]
    lift = rng.uniform(-0.08, 0.0, 2)
    for name, (u, k), dv in reversed(list(zip(chosen, places, lift))):
        v = float(land.top(2)(np.float32(u))) + 0.03 if name in STANDING else -0.04 + dv
        SUBJECTS[name](sc, rng, float(u), v, float(k))
    spots = extra.uniform([-0.45, -0.42, 0], [0.45, 0.2, 1], (8, 3))
    for u, v, kind in spots[: (0, 4, 8)[sc.q]]:  # confetti: pluses and dots around the subject
        colour = (sc.pal.accent, sc.pal.accent2, sc.pal.accent3)[int(kind * 3)]
        if kind < 0.5:
            sc.canvas.fill(segment(u - 0.012, v, u + 0.012, v, 0.004), colour)
            sc.canvas.fill(segment(u, v - 0.012, u, v + 0.012, 0.004), colour)
        else:
            sc.canvas.fill(circle(u, v, 0.008), colour)


# ---- entry points ---------------------------------------------------------------------------------


def render(prompt: str, width: int, height: int, *, seed: int, quality: str, transparent: bool = False,
           style: str | None = None) -> np.ndarray:
    """One picture as a uint8 array, (height, width, 3), or (height, width, 4) when transparent."""
    if width < 1 or height < 1 or quality not in DETAIL:
        raise ValueError(f"bad size {width}x{height} or quality {quality!r}")
    words = set(prompt_words(prompt))
    key = zlib.crc32(prompt.encode("utf-8"))
    streams = np.random.SeedSequence([key, abs(int(seed)), int(seed < 0)]).spawn(4)
    rng_palette, rng_land, rng_subject, rng_extra = (np.random.default_rng(s) for s in streams)
    motifs = {name for name, keys in MOTIF_WORDS.items() if keys & words}
    q = DETAIL[quality]
    draft = q == 0 and min(width, height) >= 512  # low quality: half resolution, scaled up
    canvas = Canvas(-(-width // 2), -(-height // 2)) if draft else Canvas(width, height)
    pal = build_palette(prompt_words(prompt), key, rng_palette, style, night="night" in motifs)
    sc = Scene(canvas, pal, q, "night" in motifs)
    land = plan_land(rng_land, "water" in motifs)
    if not transparent:
        draw_backdrop(sc, rng_land, rng_extra, land, motifs)
    draw_subjects(sc, rng_subject, rng_extra, land, words)
    out = canvas.to_uint8(transparent, dither=q == 2)
    if draft:
        out = out.repeat(2, axis=0).repeat(2, axis=1)[:height, :width]
    return np.ascontiguousarray(out)


class SketchEngine(Engine):
    """Procedural flat illustrations (not an AI model): offline, instant and reproducible."""

    name = "sketch"
    capabilities = Capabilities(native_alpha=True, max_pixels=3840 * 2160, max_batch=16,
                                concurrency=os.cpu_count() or 2)  # pure numpy: thread-safe

    def generate(self, job: GenerationJob) -> Generation:
        return Generation([
            render(job.prompt, job.width, job.height, seed=seed, quality=job.quality,
                   transparent=job.transparent, style=job.style)
            for seed in job.seeds
        ])
