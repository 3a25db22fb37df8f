"""The backdrop of the sketch engine: sky, sun or moon, and the land, far to near.

The sky is a gradient with a sun (a moon at night, a ringed planet in space), clouds, birds, stars
or falling snow; then, from the horizon down: mountains, a skyline, rolling hills, a forest, water.
Scenes (`words.SCENE_WORDS`) pick these motifs; `scene_palette` recolours the land for a beach
(sand before the water), snow, a desert, space (grey, cratered ground under a black sky) and
underwater (a sea gradient, light rays, seaweed and bubbles, a sandy floor).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from .canvas import F32, coverage, planes
from .palette import Palette, hsl, mix_hue
from .scene import Scene
from .shapes import above, below, circle, curve, cut, ellipse, polygon, rect, ring, segment
from .nature import tree


def scene_palette(pal: Palette, scenes) -> Palette:
    """The palette with the land (and for some scenes the sky) recoloured for the prompt's scenes."""
    if "underwater" in scenes:
        h = mix_hue(_hue(pal.sky_top), 200, 0.8)
        return replace(pal, sky_top=hsl(h, 0.55, 0.62), sky_bottom=hsl(h + 10, 0.6, 0.36),
                       hills=(hsl(h + 20, 0.35, 0.3), hsl(h + 30, 0.3, 0.26), hsl(42, 0.45, 0.7), hsl(40, 0.4, 0.6)),
                       far=hsl(h + 15, 0.4, 0.42), foliage=hsl(140, 0.45, 0.35))
    if "space" in scenes:
        return replace(pal, sky_top=hsl(240, 0.45, 0.05), sky_bottom=hsl(255, 0.4, 0.16),
                       hills=(hsl(230, 0.06, 0.45), hsl(230, 0.06, 0.55), hsl(230, 0.05, 0.66), hsl(230, 0.05, 0.5)),
                       sun=hsl(50, 0.3, 0.92))
    if "snow" in scenes:
        return replace(pal, hills=(hsl(210, 0.3, 0.86), hsl(210, 0.35, 0.91), hsl(205, 0.4, 0.96), hsl(210, 0.25, 0.78)),
                       foliage=hsl(150, 0.3, 0.3))
    if "desert" in scenes:
        return replace(pal, hills=(hsl(28, 0.55, 0.62), hsl(34, 0.6, 0.68), hsl(40, 0.65, 0.75), hsl(30, 0.5, 0.58)),
                       far=hsl(16, 0.45, 0.55), foliage=hsl(120, 0.35, 0.38))
    if "beach" in scenes:
        return replace(pal, hills=(*pal.hills[:2], hsl(42, 0.6, 0.78), hsl(38, 0.5, 0.66)))
    return pal


def _hue(rgb) -> float:
    import colorsys

    return colorsys.rgb_to_hls(*(x / 255 for x in rgb))[0] * 360


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


def sky_rows(sc: Scene, land: Land, y0: int, y1: int) -> np.ndarray:
    """The sky gradient of pixel rows y0..y1, as planes (3, rows, 1)."""
    c, pal = sc.canvas, sc.pal
    v = (np.arange(y0, y1, dtype=F32) + F32(0.5 - c.h / 2)) / F32(c.s)
    t = np.clip((v + c.half_h) / (land.horizon + 0.25 + c.half_h), 0, 1)[:, None]
    top, bottom = np.asarray(pal.sky_top, F32), np.asarray(pal.sky_bottom, F32)
    return planes(top) + planes(bottom - top) * t


def draw_sky(sc: Scene, land: Land) -> int:
    """The sky down to the first row the first hill hides entirely; returns that row."""
    c = sc.canvas
    end = c.row_below(land.lowest(0))
    c.rgb[:, :end] = sky_rows(sc, land, 0, end)
    c.opaque = True  # the rows below `end` are covered by the hills
    return end


def draw_sun(sc: Scene, rng: np.random.Generator, land: Land, scenes=frozenset(), disc: bool = True) -> None:
    """The sun, or the moon at night, or a ringed planet in space; none where a subject is one (`disc`)."""
    c, pal = sc.canvas, sc.pal
    u, v, r = rng.uniform(-0.38, 0.38), land.horizon - rng.uniform(0.2, 0.34), rng.uniform(0.07, 0.12)
    if not disc or "underwater" in scenes:
        return
    if "space" in scenes:
        c.fill(ring(ellipse(u, v, r * 1.9, r * 0.45, -0.3), r * 0.08), pal.accent3, 0.8)
        c.fill(circle(u, v, r), pal.accent)
        c.fill(above(circle(u, v, r), lambda x: v + 0.35 * r + 0.3 * (x - u), 1.3), pal.accent3, 0.5)
        c.fill(below(ring(ellipse(u, v, r * 1.9, r * 0.45, -0.3), r * 0.08), v), pal.accent3, 0.8)
        return
    for i in range(sc.q):
        c.fill(circle(u, v, r * (1.45 + 0.5 * i)), pal.sun, 0.1 if not sc.night else 0.06)
    disc = circle(u, v, r)
    c.fill(cut(disc, circle(u + 0.45 * r, v - 0.25 * r, r * 0.88)) if sc.night else disc, pal.sun)


def draw_sky_details(sc: Scene, rng: np.random.Generator, land: Land, scenes=frozenset()) -> None:
    c, pal = sc.canvas, sc.pal
    if "underwater" in scenes:
        draw_underwater_light(sc, rng)
        return
    wide = max(1, round(2 * c.half_w))
    n = (6, 18, 36)[sc.q] * wide
    us, vs = rng.uniform(-c.half_w, c.half_w, 36 * wide), rng.uniform(-c.half_h, land.horizon - 0.08, 36 * wide)
    rs = rng.uniform(0.002, 0.005, 36 * wide)
    clouds = rng.uniform([-0.45, -0.42, 0.08], [0.45, -0.2, 0.16], (3, 3))
    if "space" in scenes:
        us, vs, rs, n = rng.uniform(-c.half_w, c.half_w, 90 * wide), rng.uniform(-c.half_h, land.horizon, 90 * wide), \
            rng.uniform(0.0015, 0.0045, 90 * wide), 3 * n
    if sc.night:
        for u, v, r in zip(us[:n], vs[:n], rs[:n]):
            c.fill(circle(u, v, r), pal.sun, 0.9)
        return
    if "snow" in scenes and sc.q:  # falling flakes instead of clouds and birds
        for u, v, r in zip(us[:n], vs[:n], rs[:n]):
            c.fill(circle(u, v, r * 1.3), pal.card, 0.9)
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


def draw_sky_stage(sc: Scene, rng: np.random.Generator, extra: np.random.Generator, land: Land,
                   scenes=frozenset(), disc: bool = True) -> int:
    """The sky, the sun or moon, clouds, stars or birds; returns the sky's last row (see `draw_sky`)."""
    end = draw_sky(sc, land)
    draw_sun(sc, rng, land, scenes, disc)
    draw_sky_details(sc, extra, land, scenes)
    return end


def draw_land_stage(sc: Scene, rng: np.random.Generator, extra: np.random.Generator, land: Land, motifs) -> None:
    """Everything from the horizon down: mountains, skyline, hills, forest and water, far to near."""
    if "mountains" in motifs:
        draw_mountains(sc, rng, land)
    if "city" in motifs:
        draw_city(sc, rng, land)
    draw_hills(sc, land, 0, 2)
    if "forest" in motifs:
        draw_forest(sc, rng, land)
    if "desert" in motifs:
        draw_dunes_cacti(sc, rng, land)
    if "underwater" in motifs:
        draw_seaweed(sc, rng, land)
    if "water" in motifs:
        draw_water(sc, extra, land)
    draw_hills(sc, land, 2, 3)
    if "space" in motifs and sc.q:
        draw_craters(sc, extra, land)


def draw_forest(sc: Scene, rng: np.random.Generator, land: Land) -> None:
    """A row of small trees along the middle hill."""
    c, top = sc.canvas, land.top(1)
    colour = tuple((a + b) / 2 for a, b in zip(sc.pal.foliage, sc.pal.hills[1]))
    u = -c.half_w - 0.02
    while u < c.half_w + 0.02:
        h, pine, step = rng.uniform(0.07, 0.14), rng.random() < 0.6, rng.uniform(0.04, 0.1)
        tree(sc, u, float(top(np.float32(u))) + 0.015, h, pine, colour)
        u += step


def draw_dunes_cacti(sc: Scene, rng: np.random.Generator, land: Land) -> None:
    """A few small cacti along the middle dune."""
    c, top, colour = sc.canvas, land.top(1), sc.pal.foliage
    for u in rng.uniform(-c.half_w, c.half_w, 3 * max(1, round(2 * c.half_w))):
        h = float(rng.uniform(0.035, 0.06))
        base = float(top(np.float32(u))) + 0.01
        c.fill(rect(u, base - h / 2, h * 0.28, h, h * 0.14), colour)
        c.fill(rect(u - h * 0.28, base - h * 0.62, h * 0.2, h * 0.4, h * 0.1), colour)


def draw_seaweed(sc: Scene, rng: np.random.Generator, land: Land) -> None:
    """Waving strands of seaweed along the middle of the sea floor, and rising bubbles."""
    c, top, pal = sc.canvas, land.top(1), sc.pal
    wide = max(1, round(2 * c.half_w))
    for u in rng.uniform(-c.half_w, c.half_w, 5 * wide):
        base, h, sway = float(top(np.float32(u))) + 0.01, float(rng.uniform(0.08, 0.18)), float(rng.uniform(-0.04, 0.04))
        c.fill(curve((u, base), (u + sway * 2, base - h * 0.5), (u - sway, base - h), 0.006), pal.foliage)
    for u, v, r in rng.uniform([-c.half_w, -c.half_h, 0.004], [c.half_w, land.horizon, 0.012], (8 * wide, 3)):
        c.fill(ring(circle(u, v, r), 0.0018), pal.card, 0.6)


def draw_underwater_light(sc: Scene, rng: np.random.Generator) -> None:
    """Slanted shafts of light from the surface."""
    c = sc.canvas
    for u in rng.uniform(-c.half_w, c.half_w, 4 * max(1, round(2 * c.half_w))):
        w = float(rng.uniform(0.02, 0.06))
        c.fill(polygon([(u - w, -c.half_h), (u + w, -c.half_h), (u + w * 3 + 0.2, 0.2), (u + w + 0.2, 0.2)]),
               sc.pal.card, 0.12)


def draw_craters(sc: Scene, rng: np.random.Generator, land: Land) -> None:
    c = sc.canvas
    top = land.top(2)
    for u, dv, r in rng.uniform([-c.half_w, 0.04, 0.015], [c.half_w, 0.2, 0.04], (6, 3)):
        v = float(top(np.float32(u))) + dv
        c.fill(ellipse(u, v, r * 1.6, r * 0.5), sc.pal.hills[3], 0.7)
        c.fill(ellipse(u, v + r * 0.12, r * 1.3, r * 0.35), sc.pal.hills[1], 0.5)
