"""The sketch engine: a deterministic procedural illustrator. It is NOT an AI model.

It draws flat, vector-style pictures (a backdrop gradient, layered hills, mountains, a skyline or
water, a sun or moon, and one or two geometric subjects such as a checklist card, a phone, a laptop
or a simple figure) from a handful of prompt keywords and a seeded random generator. It exists so
the whole Image API works offline, in CI, and for anyone testing an Image API client: the same
prompt, size, seed, quality, style and transparency give byte-identical pixels in any process.

Edits and variations (`edit.py`) work on the input images with the same palette:
- an edit without a mask restyles the whole input: its luminance, smoothed and posterised into
  4/6/8 bands (low/medium/high), is mapped onto the prompt's palette, inked along the band edges,
  and mixed with the original colours by `source.strength`;
- an edit with a mask redraws the masked area only: the restyled input with the prompt's subjects
  drawn over it (wherever repaint is 0 the output is the input);
- extra input images are colour references: their dominant colours tint the palette;
- a variation rebuilds the input as a mosaic, tile by tile: a seeded grid whose tiles are shuffled,
  some mirrored, and hue-rotated (luminance kept) by a seeded angle scaled by `source.strength`.

Partial images (`job.partial_images` = k, up to 3) are snapshots of the real canvas, taken before
the picture is finished and never changing it: a generation sends the sky, then the landscape, then
the subjects half drawn (k=1: the landscape; k=2: the sky and the landscape; a transparent picture:
its subjects at 1/(k+1), 2/(k+1)... of their drawing). Edits and variations send their own stages.

Moderation. Its own drawings are flat geometric shapes in prompt-chosen palettes: nothing in them
is a body. On moderation's nudity detector they scored at most 0.43 in 7,500 pictures: 4,500 random
prompts (subjects, colour and mood words), sizes, qualities, styles, seeds and transparency, then a
search of 3,000 seeds around the highest, in skin-like tones (the 0.43: a transparent figure in
brown and orange, seen over grey); the median is 0.002. tests/moderation/test_nudity.py sweeps a
sample, finals and partials, on every run.
`DETECTOR_CEILING` (0.5) declares that bound with a margin: while every threshold that could block
is above it (the defaults are 0.6 and 0.8), the service does not run the detector on its
generations. Edits and variations carry the user's pixels and are always checked.

The drawing primitives (shapes as signed distance functions, the canvas) are in `canvas.py`,
the subjects in `subjects.py`, the colour and mood tables in `palette.py`. With a
transparent background the backdrop is left out and only the subjects are drawn, so the alpha is real.
"""

from __future__ import annotations

import functools
import math
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..base import Capabilities, Engine, EngineCancelled, Generation, GenerationJob

DETECTOR_CEILING = 0.5  # see "Moderation" above
from .canvas import (
    F32,
    STAGES_FOR,
    Canvas,
    Partials,
    Recorder,
    above,
    circle,
    coverage,
    cut,
    planes,
    polygon,
    rect,
    segment,
)
from .palette import RGB, Palette, build_palette, prompt_words, tint_palette
from .subjects import Scene, draw_subjects, tree

# Keywords that pick backdrop motifs.
MOTIF_WORDS = {
    "mountains": {"mountain", "mountains", "peak", "peaks", "alps", "hiking", "summit", "snow"},
    "city": {"city", "skyline", "town", "buildings", "building", "urban", "downtown", "street"},
    "water": {"ocean", "sea", "water", "beach", "lake", "waves", "wave", "river", "coast", "boat"},
    "forest": {"forest", "woods", "pine", "pines", "trees", "jungle", "nature", "park"},
    "night": {"night", "moon", "midnight", "stars", "starry", "moonlight", "evening"},
}
DETAIL = {"low": 0, "medium": 1, "high": 2}

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


def draw_sky_stage(sc: Scene, rng: np.random.Generator, extra: np.random.Generator, land: Land) -> int:
    """The sky, the sun or moon, clouds, stars or birds; returns the sky's last row (see `draw_sky`)."""
    end = draw_sky(sc, land)
    draw_sun(sc, rng, land)
    draw_sky_details(sc, extra, land)
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
    if "water" in motifs:
        draw_water(sc, extra, land)
    draw_hills(sc, land, 2, 3)


def draw_forest(sc: Scene, rng: np.random.Generator, land: Land) -> None:
    """A row of small trees along the middle hill."""
    c, top = sc.canvas, land.top(1)
    colour = tuple((a + b) / 2 for a, b in zip(sc.pal.foliage, sc.pal.hills[1]))
    u = -c.half_w - 0.02
    while u < c.half_w + 0.02:
        h, pine, step = rng.uniform(0.07, 0.14), rng.random() < 0.6, rng.uniform(0.04, 0.1)
        tree(sc, u, float(top(np.float32(u))) + 0.015, h, pine, colour)
        u += step


# ---- entry points ---------------------------------------------------------------------------------


def seeded(prompt: str, seed: int) -> tuple[int, list[np.random.Generator]]:
    """The prompt's hash and five independent generators: palette, land, subjects, extras, edits."""
    key = zlib.crc32(prompt.encode("utf-8"))
    streams = np.random.SeedSequence([key, abs(int(seed)), int(seed < 0)]).spawn(5)
    return key, [np.random.default_rng(s) for s in streams]


def prompt_palette(prompt: str, key: int, rng: np.random.Generator, style: str | None,
                   tint: Sequence[RGB] = ()) -> Palette:
    """The prompt's palette (night skies for night words), pulled toward `tint` colours if any."""
    words = prompt_words(prompt)
    pal = build_palette(words, key, rng, style, night=bool(MOTIF_WORDS["night"].intersection(words)))
    return tint_palette(pal, tint) if tint else pal


def render(prompt: str, width: int, height: int, *, seed: int, quality: str, transparent: bool = False,
           style: str | None = None, partials: int = 0, on_partial: Callable[[int, np.ndarray], None] | None = None,
           tint: Sequence[RGB] = ()) -> np.ndarray:
    """One picture as a uint8 array, (height, width, 3), or (height, width, 4) when transparent.

    With `partials` = k > 0, `on_partial(index, pixels)` first gets up to k snapshots of the canvas
    (module docstring), shaped as the result. `tint`: colours the palette leans toward (edits).
    """
    # 1. Check the arguments; seed the generators
    if width < 1 or height < 1 or quality not in DETAIL:
        raise ValueError(f"bad size {width}x{height} or quality {quality!r}")
    words = set(prompt_words(prompt))
    key, (rng_palette, rng_land, rng_subject, rng_extra, _) = seeded(prompt, seed)
    motifs = {name for name, keys in MOTIF_WORDS.items() if keys & words}
    q = DETAIL[quality]
    # 2. Plan: the canvas (low quality: half resolution, scaled up), palette and land
    draft = q == 0 and min(width, height) >= 512
    canvas = Canvas(-(-width // 2), -(-height // 2)) if draft else Canvas(width, height)
    pal = prompt_palette(prompt, key, rng_palette, style, tint)
    sc = Scene(canvas, pal, q, "night" in motifs)
    land = plan_land(rng_land, "water" in motifs)
    finish = functools.partial(_full_size, width=width, height=height, draft=draft)
    snap = Partials(partials, on_partial)
    stages = STAGES_FOR[snap.wanted] if not transparent else ()
    # 3. The backdrop: sky, then land
    if not transparent:
        end = draw_sky_stage(sc, rng_land, rng_extra, land)
        if 0 in stages:  # the rows the hills will cover show the rest of the gradient
            snap.offer(lambda: finish(_sky_snapshot(sc, land, end)))
        draw_land_stage(sc, rng_land, rng_extra, land, motifs)
        if 1 in stages:
            snap.offer(lambda: finish(canvas.snapshot(False, q == 2)))
    # 4. The subjects: planned on a recorder, then replayed with snapshots along the way
    sc.canvas = Recorder(canvas)
    draw_subjects(sc, rng_subject, rng_extra, land.top(2), words)
    ops, sc.canvas = sc.canvas.ops, canvas
    if transparent:  # k snapshots evenly spaced through the subjects
        marks = [max(1, len(ops) * (j + 1) // (snap.wanted + 1)) for j in range(snap.wanted)]
    else:  # one halfway through them
        marks = [max(1, len(ops) // 2)] * (snap.wanted - snap.sent if 2 in stages else 0)
    for i, op in enumerate(ops, 1):
        canvas.fill(*op)
        if marks and marks[0] <= i < len(ops) and snap.offer(lambda: finish(canvas.snapshot(transparent, q == 2))):
            marks.pop(0)
    return finish(canvas.to_uint8(transparent, dither=q == 2))


def _sky_snapshot(sc: Scene, land: Land, end: int) -> np.ndarray:
    c = sc.canvas
    rgb = c.rgb.copy()
    rgb[:, end:] = sky_rows(sc, land, end, c.h)
    return c.to_uint8(False, sc.q == 2, rgb)


def _full_size(pixels: np.ndarray, *, width: int, height: int, draft: bool) -> np.ndarray:
    if draft:
        pixels = pixels.repeat(2, axis=0).repeat(2, axis=1)[:height, :width]
    return np.ascontiguousarray(pixels)


def _generated(job: GenerationJob, seed: int, send: Callable[[int, np.ndarray], None] | None) -> np.ndarray:
    return render(job.prompt, job.width, job.height, seed=seed, quality=job.quality, transparent=job.transparent,
                  style=job.style, partials=job.partial_images, on_partial=send)


class SketchEngine(Engine):
    """Procedural flat illustrations (not an AI model): offline, instant and reproducible."""

    name = "sketch"
    capabilities = Capabilities(native_alpha=True, max_pixels=3840 * 2160, max_batch=16,
                                concurrency=os.cpu_count() or 2,  # pure numpy: thread-safe
                                operations=frozenset({"generate", "edit", "variation"}), max_source_images=16,
                                partial_images=True, detector_ceiling=DETECTOR_CEILING)

    def generate(self, job: GenerationJob, should_stop: Callable[[], bool] = lambda: False) -> Generation:
        from .edit import (  # edit draws its subjects with `render`, from here
            edit,
            variation,
        )

        draw = {"generate": _generated, "edit": edit, "variation": variation}.get(job.operation)
        if draw is None:
            raise ValueError(f"the sketch engine cannot do operation {job.operation!r}")
        images = []
        for i, seed in enumerate(job.seeds):
            if should_stop():  # every client of the call has gone: stop between images
                raise EngineCancelled(f"{i} images")
            send = functools.partial(job.on_partial, i) if job.partial_images and job.on_partial else None
            images.append(draw(job, seed, send))
        return Generation(images)

    def generate_batch(self, jobs: Sequence[GenerationJob],
                       should_stop: Callable[[], bool] = lambda: False) -> list[Generation]:
        return [self.generate(job, should_stop) for job in jobs]
