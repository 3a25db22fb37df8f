"""Edits and variations for the sketch engine: input pictures restyled, repainted or re-laid out.

Everything here is numpy on float32 pixels, deterministic for the same inputs and seed.

Edit without a mask (restyle). The input's luminance is smoothed, spread by its own histogram (half
equalised, half kept) and cut into bands: 4, 6 or 8 for low, medium and high quality. Each band takes
a colour of the prompt's palette (`palette`: colour and mood words, `style`), darkest to
lightest, the seed choosing which palette colours fill the middle bands. Band edges are anti-aliased
and inked with thin contour lines, and `source.strength` mixes the original colours back in (1: fully
restyled, 0: the input's colours, the contour lines stay). Transparent parts of the input count as
paper (the palette's card colour).

Edit with a mask. The masked area (`source.repaint` > 0) is restyled as above and the prompt's
subjects (`render` with a transparent background, sized to the area's bounding box) are drawn over
it. Wherever repaint is 0 the output is the input (its RGB; its alpha too for transparent jobs). Soft
mask edges are left to the service: its `paste_unmasked` blends input and output by repaint once,
which blending here as well would square. An empty mask returns the input (and no partial images).

Extra input images (`source.images[1:]`, up to 15) are colour references: their dominant colours
(pooled, each image weighing the same, colourful pixels more than grey ones) pull the palette's hues
and saturations 60% of the way (`tint_palette`): the first colour tints the backdrop family (sky,
hills, paper, ink), the next ones the accents. So they change the restyled bands and the subjects.

Transparency. A transparent edit is RGBA: the input's alpha where it has one, else 255; subjects
drawn into a repainted area are opaque over it (alpha composited "over"). Variations are never
transparent: an RGBA input is flattened over white.

Variation. The input is rebuilt as a mosaic, tile by tile: a seeded grid (2x2 to 3x4, the longer
side of the picture getting more tiles) whose tiles are shuffled (never left all in place), about a
third of them mirrored, each hue-rotated about the grey axis by a seeded angle (60-180 degrees either
way) plus a small per-tile jitter, both scaled by `source.strength`; thin dark gutters separate the
tiles. Luminance is kept, so the picture's tones stay the input's. Strength 0 returns the input.

Partial images. A restyle sends its smoothed tones, then the grey value bands, then the coloured
bands; a masked edit the area's value bands, then the restyled area, then the subjects half drawn;
a variation the mosaic 1/(k+1), 2/(k+1)... of the way through its tiles. k=1 sends the middle
stage of three, k=2 the first two. A snapshot that would repeat the previous one is not sent, so
a degenerate input (one flat colour) may get fewer; otherwise each differs from the final picture.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from ..base import GenerationJob, SourceImages
from . import prompt_palette, render, seeded
from .canvas import F32, STAGES_FOR, Partials, coverage, planes
from .palette import RGB, Palette

Send = Callable[[int, np.ndarray], None]
BANDS = {"low": 4, "medium": 6, "high": 8}
INK = {"low": 0.35, "medium": 0.45, "high": 0.55}  # opacity of the contour lines along band edges
LUMA = np.asarray([0.2126, 0.7152, 0.0722], F32)
GRIDS = ((2, 2), (2, 3), (3, 3), (3, 4))  # (short side, long side) tiles of a variation
MAX_SOURCES = 16


# ---- edits ---------------------------------------------------------------------------------------
# Pixels are planar float32 (3, H, W) in here, as on the canvas: numpy's inner loops then run along rows.


def edit(job: GenerationJob, seed: int, send: Send | None = None) -> np.ndarray:
    """One edited picture: uint8 (H, W, 3), or (H, W, 4) for a transparent job."""
    # 1. Check the inputs
    source = _checked(job, MAX_SOURCES)
    image = source.images[0]
    # 2. The palette: the prompt's, tinted by the extra images
    key, gens = seeded(job.prompt, seed)
    refs = dominant_colours(source.images[1:])
    pal = prompt_palette(job.prompt, key, gens[0], job.style, refs)
    alpha = _alpha(image) if job.transparent else None
    snap = Partials(job.partial_images, send)
    if source.repaint is not None:
        return _repaint(job, seed, source, pal, refs, gens[4], alpha, snap)
    # 3. Restyle the whole picture, sending some of its stages
    stages = STAGES_FOR[snap.wanted]
    looks = restyle(_flatten(image, pal.card), _opaque(image), pal, job.quality, gens[4], source.strength)
    for i, pixels in enumerate(looks):
        if i in stages:
            snap.offer(lambda p=pixels: _pixels(p, alpha))
    return _pixels(pixels, alpha)


def _repaint(job: GenerationJob, seed: int, source: SourceImages, pal: Palette, refs: list[RGB],
             rng: np.random.Generator, alpha: np.ndarray | None, snap: Partials) -> np.ndarray:
    """The masked area restyled with the prompt's subjects over it; the input wherever repaint is 0."""
    image, mask = source.images[0], source.repaint
    assert mask is not None
    box = _bounding_box(mask)
    if box is None:  # nothing to repaint
        return _pixels(_planes(image), alpha)
    ys, xs = box
    base, crop, crop_mask = _planes(image), image[ys, xs], (mask[ys, xs] > 0).astype(F32)
    stages = STAGES_FOR[snap.wanted]

    def blended(area: np.ndarray, area_alpha: np.ndarray | None = None) -> np.ndarray:
        """The input with `area` (and its alpha) wherever the box is to be repainted."""
        rgb = base.copy()
        rgb[:, ys, xs] += (area - rgb[:, ys, xs]) * crop_mask
        out_alpha = alpha
        if alpha is not None and area_alpha is not None:
            out_alpha = alpha.astype(F32)
            out_alpha[ys, xs] += (area_alpha - out_alpha[ys, xs]) * crop_mask
        return _pixels(rgb, out_alpha)

    _, values, _, restyled = restyle(_flatten(crop, pal.card), _opaque(crop), pal, job.quality, rng,
                                     source.strength)
    if 0 in stages:
        snap.offer(lambda: blended(values))
    if 1 in stages:
        snap.offer(lambda: blended(restyled))
    crop_alpha = _alpha(crop).astype(F32) if alpha is not None else None

    def with_subjects(layer: np.ndarray) -> np.ndarray:
        cover = layer[..., 3].astype(F32) / F32(255)
        area = restyled + (_planes(layer) - restyled) * cover
        return blended(area, None if crop_alpha is None else crop_alpha + (255 - crop_alpha) * cover)

    height, width = crop.shape[:2]
    layer = render(job.prompt, width, height, seed=seed, quality=job.quality, transparent=True, style=job.style,
                   partials=1 if 2 in stages else 0, tint=refs,
                   on_partial=lambda _, half: snap.offer(lambda: with_subjects(half)))
    return with_subjects(layer)


def restyle(rgb: np.ndarray, opaque: np.ndarray | None, pal: Palette, quality: str, rng: np.random.Generator,
            strength: float) -> Iterator[np.ndarray]:
    """The restyle's stages, planar: smoothed tones, value bands, coloured bands, the final picture.

    `opaque`: where the input is visible (None: everywhere); only those pixels shape the histogram.
    """
    height, width = rgb.shape[1:]
    # 1. Smoothed luminance
    lum = _box_blur(np.tensordot(LUMA, rgb, 1), max(0, round(min(height, width) / 256)))
    yield np.broadcast_to(lum, rgb.shape)
    # 2. Bands from the half-equalised tone; x is the continuous band coordinate
    bands = BANDS[quality]
    x = _tone(lum, opaque) * F32(bands)
    band = np.minimum(x.astype(np.int32), bands - 1)
    yield np.broadcast_to((band.astype(F32) + F32(0.5)) * F32(255 / bands), rgb.shape)
    # 3. A palette colour per band, anti-aliased across band edges (distance in pixels from x's slope)
    ramp = palette_ramp(pal, bands, rng)
    frac = x - band
    upper = frac >= 0.5
    neighbour = band + upper * 2 - 1
    valid = (neighbour >= 0) & (neighbour < bands)
    np.clip(neighbour, 0, bands - 1, out=neighbour)
    edge = (F32(0.5) - np.abs(frac - F32(0.5))) / np.maximum(_slope(x), F32(1e-3))
    mix = coverage(edge) * valid
    colour = np.empty_like(rgb)
    for c in range(3):
        here = np.take(ramp[:, c], band)
        colour[c] = here + (np.take(ramp[:, c], neighbour) - here) * mix
    yield colour
    # 4. The original colours mixed back in, then contour lines in ink
    final = colour + (rgb - colour) * F32(1 - min(max(strength, 0.0), 1.0))
    ink = coverage(edge - F32(max(0.5, min(height, width) / 1600))) * valid * F32(INK[quality])
    final += (planes(pal.ink) - final) * ink
    yield final


def palette_ramp(pal: Palette, bands: int, rng: np.random.Generator) -> np.ndarray:
    """`bands` palette colours, darkest to lightest: the extremes always, the middle ones picked by `rng`."""
    pool = [pal.sky_top, pal.sky_bottom, *pal.hills, pal.far, pal.accent, pal.accent2, pal.accent3, pal.card,
            pal.ink, pal.line]  # not the sun: it stays yellow or orange whatever the prompt's colours
    colours = np.unique(np.asarray(pool, F32), axis=0)
    colours = colours[np.argsort(colours @ LUMA, kind="stable")]
    if len(colours) >= bands:
        middle = np.sort(rng.choice(len(colours) - 2, bands - 2, replace=False)) + 1
    else:  # a nearly monochrome palette: spread what there is
        middle = np.linspace(0, len(colours) - 1, bands)[1:-1].round().astype(int)
    return colours[np.concatenate([[0], middle, [len(colours) - 1]])]


def dominant_colours(images: Sequence[np.ndarray], count: int = 3) -> list[RGB]:
    """Up to `count` dominant colours of some images, most dominant first (their visible pixels only)."""
    samples, weights = [], []
    for image in images:
        step_y, step_x = max(1, image.shape[0] // 64), max(1, image.shape[1] // 64)
        px = image[::step_y, ::step_x].reshape(-1, image.shape[2])
        px = (px[px[:, 3] >= 128] if image.shape[2] == 4 else px)[:, :3].astype(F32)
        if len(px):
            saturation = (px.max(1) - px.min(1)) / F32(255)
            samples.append(px)
            weights.append((F32(0.25) + saturation) / F32(len(px)))  # every image weighs the same
    if not samples:
        return []
    px, weight = np.concatenate(samples), np.concatenate(weights)
    q = (px // 32).astype(np.int64)
    bins = q[:, 0] * 64 + q[:, 1] * 8 + q[:, 2]
    total = np.bincount(bins, weight, 512)
    sums = np.stack([np.bincount(bins, weight * px[:, c], 512) for c in range(3)], 1)
    top = [int(b) for b in np.argsort(-total, kind="stable")[:count] if total[b] > 0]
    return [tuple(float(round(v)) for v in sums[b] / total[b]) for b in top]


# ---- variations ----------------------------------------------------------------------------------


def variation(job: GenerationJob, seed: int, send: Send | None = None) -> np.ndarray:
    """One variation of `job.source.images[0]`: uint8 (H, W, 3), a seeded mosaic of it (module docstring)."""
    # 1. Check the inputs
    if job.transparent:
        raise ValueError("variations are never transparent, but the job asks for transparent=True")
    source = _checked(job, 1)
    rgb = _flatten(source.images[0], (255.0, 255.0, 255.0))
    strength = min(max(source.strength, 0.0), 1.0)
    if strength == 0:
        return _pixels(rgb, None)
    # 2. Plan: the grid, where each tile comes from, mirrors and hue turns
    rng = seeded("", seed)[1][4]  # the prompt plays no part
    height, width = rgb.shape[1:]
    short, long = GRIDS[int(rng.integers(len(GRIDS)))]
    rows, cols = (short, long) if width >= height else (long, short)
    rows, cols = min(rows, height), min(cols, width)
    n = rows * cols
    order = rng.permutation(n)
    if (order == np.arange(n)).all():
        order = np.roll(order, 1)
    mirrored = rng.random(n) < 0.35
    turn = float(rng.choice([-1.0, 1.0]) * rng.uniform(60, 180)) * strength
    jitter = rng.uniform(-20, 20, n) * strength
    ys, xs = np.linspace(0, height, rows + 1).round().astype(int), np.linspace(0, width, cols + 1).round().astype(int)
    gutter = max(1, round(min(height, width) * 0.004)) if min(height // rows, width // cols) >= 24 else 0
    ink = rgb.mean((1, 2)) * F32(0.22)
    # 3. Build the mosaic over the input, tile by tile, sending it k times on the way
    snap = Partials(job.partial_images, send)
    marks = [max(1, n * (j + 1) // (snap.wanted + 1)) for j in range(snap.wanted)]
    out = rgb.copy()
    for t in range(n):
        (r, c), (sr, sc) = divmod(t, cols), divmod(int(order[t]), cols)
        out[:, ys[r]:ys[r + 1], xs[c]:xs[c + 1]] = ink[:, None, None]
        y0, y1 = ys[r] + (gutter if r else 0), ys[r + 1] - (gutter if r < rows - 1 else 0)
        x0, x1 = xs[c] + (gutter if c else 0), xs[c + 1] - (gutter if c < cols - 1 else 0)
        if y1 > y0 and x1 > x0:
            src_y = ys[sr] + (np.arange(y1 - y0) * (ys[sr + 1] - ys[sr])) // (y1 - y0)
            src_x = xs[sc] + (np.arange(x1 - x0) * (xs[sc + 1] - xs[sc])) // (x1 - x0)
            tile = rgb[:, src_y[:, None], (src_x[::-1] if mirrored[t] else src_x)[None, :]]
            out[:, y0:y1, x0:x1] = turned(tile, turn + float(jitter[t]))
        if marks and marks[0] <= t + 1 < n and snap.offer(lambda: _pixels(out, None)):
            marks.pop(0)
    return _pixels(out, None)


def turned(rgb: np.ndarray, degrees: float) -> np.ndarray:
    """Planes with their hues turned by `degrees`, each pixel's luminance kept (up to clipping)."""
    out = np.tensordot(hue_rotation(degrees), rgb, 1)
    out += np.tensordot(LUMA, rgb - out, 1)
    return np.clip(out, 0, 255, out=out)


def hue_rotation(degrees: float) -> np.ndarray:
    """A 3x3 matrix turning RGB colours about the grey axis (keeps the channel mean: greys stay grey)."""
    a = math.radians(degrees)
    cos, third = math.cos(a), 1 / 3
    root = math.sqrt(third) * math.sin(a)
    diagonal, minus, plus = cos + (1 - cos) * third, (1 - cos) * third - root, (1 - cos) * third + root
    return np.asarray([[diagonal, minus, plus], [plus, diagonal, minus], [minus, plus, diagonal]], F32)


# ---- helpers -------------------------------------------------------------------------------------


def _checked(job: GenerationJob, most: int) -> SourceImages:
    source = job.source
    if source is None or not source.images:
        raise ValueError(f"an {job.operation} needs job.source with at least one image, got {source!r}")
    if len(source.images) > most:
        raise ValueError(f"the sketch engine takes at most {most} source images for an {job.operation}, "
                         f"got {len(source.images)}")
    if job.quality not in BANDS:
        raise ValueError(f"bad quality {job.quality!r}")
    for i, image in enumerate(source.images):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[:2] != (job.height, job.width) \
                or image.shape[2] not in (3, 4):
            raise ValueError(f"source image {i} is {image.dtype} {image.shape}; expected uint8 "
                             f"({job.height}, {job.width}, 3 or 4)")
    if source.repaint is not None and source.repaint.shape != (job.height, job.width):
        raise ValueError(f"repaint is {source.repaint.shape}; expected ({job.height}, {job.width})")
    return source


def _planes(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3 or 4) to float32 planes (3, H, W) of its colour."""
    return np.stack([image[..., c].astype(F32) for c in range(3)])


def _alpha(image: np.ndarray) -> np.ndarray:
    return image[..., 3] if image.shape[2] == 4 else np.full(image.shape[:2], 255, np.uint8)


def _opaque(image: np.ndarray) -> np.ndarray | None:
    return image[..., 3] > 0 if image.shape[2] == 4 else None


def _flatten(image: np.ndarray, paper: RGB | tuple[float, float, float]) -> np.ndarray:
    """Planes of the colour; an RGBA image composited over `paper`."""
    rgb = _planes(image)
    if image.shape[2] == 4:
        rgb += (planes(paper) - rgb) * (F32(1) - image[..., 3].astype(F32) / F32(255))
    return rgb


def _pixels(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Planes (and alpha 0-255, any dtype) to uint8 (H, W, 3), or (H, W, 4) with alpha; rounded."""
    out = np.empty((*rgb.shape[1:], 3 if alpha is None else 4), np.uint8)
    for c, plane in enumerate(rgb if alpha is None else (*rgb, alpha)):
        value = np.clip(plane, 0, 255) + F32(0.5)  # >= 0.5, so the cast (truncation) rounds
        out[..., c] = value
    return out


def _box_blur(x: np.ndarray, radius: int) -> np.ndarray:
    """A (2 radius + 1)-wide box blur along both axes, edges repeated."""
    if radius < 1:
        return x
    for axis in (0, 1):
        padded = np.pad(x, [(radius, radius) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        size = x.shape[axis]
        total = padded.take(range(size), axis=axis)  # a copy
        for i in range(1, 2 * radius + 1):
            total += padded[i:i + size] if axis == 0 else padded[:, i:i + size]
        x = total * F32(1 / (2 * radius + 1))
    return x


def _tone(lum: np.ndarray, opaque: np.ndarray | None) -> np.ndarray:
    """Luminance 0-255 to tone in [0, 1): half its histogram-equalised value, half its own."""
    level = np.clip(lum, 0, 255)
    index = np.minimum(level.astype(np.int32), 254)
    visible = index if opaque is None else index[opaque]
    hist = np.bincount(visible.ravel(), minlength=256).astype(np.float64)
    cdf = (np.cumsum(hist) - hist / 2) / max(hist.sum(), 1.0)
    lut = (0.5 * cdf + 0.5 * np.arange(256) / 256).astype(F32)
    low = np.take(lut, index)
    tone = low + (np.take(lut, index + 1) - low) * (level - index)
    return np.minimum(tone, F32(0.99999), out=tone)


def _slope(x: np.ndarray) -> np.ndarray:
    """How fast x changes per pixel: the length of its gradient, by central differences inside."""
    gx, gy = np.zeros_like(x), np.zeros_like(x)
    if x.shape[1] > 2:
        np.subtract(x[:, 2:], x[:, :-2], out=gx[:, 1:-1])
    if x.shape[0] > 2:
        np.subtract(x[2:], x[:-2], out=gy[1:-1])
    return np.sqrt(gx * gx + gy * gy) * F32(0.5)


def _bounding_box(mask: np.ndarray) -> tuple[slice, slice] | None:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if not len(rows):
        return None
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)
