"""Key colours and trimaps: the first half of a transparent background for engines without alpha.

An engine that cannot draw alpha (a diffusion model) is asked to draw the subject on a flat key
colour; `matting.cutout` then turns that picture into RGBA. This module holds the numpy-only part:

    choose_key(prompt, preferred)   which key colour to ask for ("auto": one the prompt does not name)
    steering(key)                   what to add to the prompt and the negative prompt to get it
    backdrop(rgb, key)              the backdrop as the engine really drew it: a smooth colour field
                                    (never exactly the key: tinted, shaded, noisy), each pixel's
                                    distance from it, and the distances that mean background / subject
    trimap(rgb, key)                pymatting's trimap (0 background, 1 subject, 0.5 unknown)
    soft_alpha(backdrop)            a keying-only alpha for previews: a ramp over the distance
    keyed_alpha(backdrop)           a keying-only alpha for the band of a matte too furry to solve
    suppress_spill(colours, key)    takes the key's cast off edge colours

Every boundary between sure background and sure subject gets an unknown band a few pixels wide, so
soft edges are solved by matting rather than by a threshold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class KeyColour:
    name: str  # "green", "blue", "magenta", or "#rrggbb" for a configured colour
    rgb: tuple[int, int, int]


# In order of preference for "auto": green first (the classic chroma key, the farthest from skin).
KEYS: dict[str, KeyColour] = {
    "green": KeyColour("green", (0, 177, 64)),
    "blue": KeyColour("blue", (0, 71, 187)),
    "magenta": KeyColour("magenta", (255, 0, 255)),
}

# Words that put a key's colour family into the subject; a key whose family the prompt names is avoided.
_FAMILIES: dict[str, tuple[str, ...]] = {
    "green": ("green", "greenish", "emerald", "lime", "forest", "jungle", "grass", "grassy", "leaf", "leafy",
              "leaves", "foliage", "olive", "mint", "jade", "chartreuse", "teal", "frog", "cactus", "cacti", "fern",
              "moss", "mossy", "shamrock", "clover", "sage", "pine", "avocado", "broccoli", "lettuce", "cucumber",
              "pickle", "spinach", "kale", "meadow", "garden", "tree", "bush", "shrub", "plant", "vine", "ivy"),
    "blue": ("blue", "bluish", "navy", "azure", "cyan", "teal", "turquoise", "cobalt", "sapphire", "indigo",
             "cerulean", "ultramarine", "ocean", "sea", "sky", "aqua", "aquamarine", "denim", "lagoon", "glacier",
             "blueberry", "bluebird", "jeans", "underwater", "water"),
    "magenta": ("magenta", "pink", "pinkish", "purple", "purplish", "violet", "fuchsia", "lavender", "lilac",
                "mauve", "plum", "orchid", "rose", "rosy", "raspberry", "flamingo", "amethyst", "grape", "berry",
                "blossom", "peony", "bubblegum", "cerise"),
}
_FAMILY_PATTERNS = {name: re.compile(r"\b(?:" + "|".join(words) + r")(?:s|es)?\b", re.IGNORECASE)
                    for name, words in _FAMILIES.items()}
_HEX = re.compile(r"#[0-9a-fA-F]{6}")


def choose_key(prompt: str, preferred: str = "auto") -> KeyColour:
    """The key colour to draw `prompt`'s subject on. `preferred`: "auto", a name in KEYS, or "#rrggbb".

    "auto" takes the first key (green, blue, magenta) whose colour family the prompt does not name;
    when it names all three, the one it names least often."""
    if preferred in KEYS:
        return KEYS[preferred]
    if _HEX.fullmatch(preferred):
        value = preferred.lower()
        return KeyColour(value, (int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)))
    if preferred != "auto":
        names = ", ".join(f"'{name}'" for name in KEYS)
        raise ValueError(f"transparent key must be 'auto', {names} or a colour '#rrggbb', but is {preferred!r}")
    mentions = {name: len(_FAMILY_PATTERNS[name].findall(prompt)) for name in KEYS}
    return KEYS[min(KEYS, key=lambda name: mentions[name])]  # min keeps the first of equals: preference order


def steering(key: KeyColour) -> tuple[str, str]:
    """(text appended to the prompt, text appended to the negative prompt) that ask a diffusion model
    for the subject alone on a flat, evenly lit backdrop of `key`'s colour. Both start with ", " (the
    engine strips it when the user gave no text of their own)."""
    colour = _colour_words(key)
    positive = (f", isolated on a plain flat solid {colour} background, studio cut-out, evenly lit, "
                "no shadow, clean edges")
    negative = (f", gradient background, vignette, scenery, landscape, floor, shadow, reflection, texture, "
                f"{colour} subject, {colour} tint")
    return positive, negative


def _colour_words(key: KeyColour) -> str:
    """A name a text encoder knows: the key's own, the nearest named key's when close, else its hex."""
    if key.name in KEYS:
        return key.name
    nearest = min(KEYS.values(), key=lambda k: _distance(k.rgb, key.rgb))
    if _distance(nearest.rgb, key.rgb) <= 80:
        return nearest.name
    return f"colour {key.name}"


def _distance(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    return float(np.linalg.norm(np.subtract(a, b, dtype=np.float64)))


# ---------------------------------------------------------------------------------------------
# The backdrop as drawn

# Work on a subsample about this many pixels across: the backdrop is smooth, so this sees it fully.
_SAMPLE_SIDE = 256
_BLOCK = 16  # subsample pixels per side of one cell of the coarse backdrop grid
_MIN_SHARE = 0.2  # a cell with less backdrop than this is filled from its neighbours
_NEAR_KEY = 150.0  # border pixels farther than this from the nominal key are not taken for backdrop
_LOOSE = 70.0  # first pass: pixels this close to the border's backdrop colour count as backdrop
# Distances (0-255 RGB units) around the noise: at or below `low` is background, at or above `high`
# the subject. `low` follows the measured noise (4x the median distance of backdrop pixels, ~6 sigma
# for Gaussian noise), never below LOW_MIN; `high` sits GAP above it.
LOW_MIN = 20.0
GAP = 40.0
# Erosion radii (pixels) of sure background and sure subject: the unknown band is at least their sum
# wide, so that a soft edge is solved by matting, not decided by a threshold.
BG_RADIUS = 3
FG_RADIUS = 3
# A wide soft edge (blur, fur) is still see-through past FG_RADIUS: within WIDE more pixels, a pixel is
# sure subject only where its distance has levelled off at the highest nearby. Measured: 6 leaves too
# much of a textured subject unknown at 256 px; 0 leaves edges blurred over 3 px at 1024 too opaque.
WIDE = 3
LEVEL = 0.05  # "levelled off": within this share (or half of `low`) of the farthest distance nearby


@dataclass(frozen=True)
class Backdrop:
    field: np.ndarray  # (3, H, W) float32, 0-255: the backdrop colour estimated at every pixel (planar:
    # the distance is computed a channel at a time, twice as fast as on interleaved pixels)
    distance: np.ndarray  # (H, W) float32: each pixel's RGB distance from the field
    low: float  # distance at or below which a pixel is background
    high: float  # distance at or above which a pixel is subject

    @cached_property
    def peak(self) -> np.ndarray:
        """(H, W) float32: the farthest distance within WIDE pixels, i.e. next to a soft edge, the
        distance of the opaque subject it fades from."""
        return max_filter(self.distance, WIDE)


def backdrop(rgb: np.ndarray, key: KeyColour) -> Backdrop:
    """Estimate the backdrop of an (H, W, 3) uint8 image drawn on `key`: a coarse grid of the mean
    colour of backdrop-like pixels, holes (the subject) filled from neighbours, upsampled bilinearly."""
    step = max(1, min(rgb.shape[:2]) // _SAMPLE_SIDE)
    small = rgb[::step, ::step].astype(np.float32)
    guess = border_colour(small, key)
    near = _norm(small - guess) < _LOOSE
    grid = _fill_holes(*_cell_means(small, near), guess)
    # Second pass: backdrop pixels judged against the first field, which follows shading and gradients.
    residual = _norm(small - _upsample(grid, small.shape[:2], step=1).transpose(1, 2, 0))
    noise = float(np.median(residual[residual < _LOOSE])) if np.any(residual < _LOOSE) else LOW_MIN / 4
    near = residual < max(LOW_MIN, 4 * noise) + GAP / 2
    grid = _fill_holes(*_cell_means(small, near), guess)
    residual = _norm(small - _upsample(grid, small.shape[:2], step=1).transpose(1, 2, 0))
    calm = residual < max(LOW_MIN, 4 * noise)
    noise = float(np.median(residual[calm])) if calm.any() else noise
    low = max(LOW_MIN, 4 * noise)
    field = _upsample(grid, rgb.shape[:2], step=step)
    return Backdrop(field, _distance_to(rgb, field), low, low + GAP)


def _distance_to(rgb: np.ndarray, field: np.ndarray) -> np.ndarray:
    squared = np.zeros(rgb.shape[:2], np.float32)
    for c in range(3):
        diff = rgb[..., c] - field[c]
        diff *= diff
        squared += diff
    return np.sqrt(squared, out=squared)


def border_colour(rgb: np.ndarray, key: KeyColour) -> np.ndarray:
    """The backdrop's real colour (float32 RGB) from the image's border: the median of the border
    pixels nearest the key (half of those within _NEAR_KEY), or the key itself if none are."""
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.float32)
    distance = _norm(border - np.asarray(key.rgb, np.float32))
    candidates = distance[distance < _NEAR_KEY]
    if candidates.size < max(4, border.shape[0] // 20):
        return np.asarray(key.rgb, np.float32)
    nearest = border[distance <= np.median(candidates)]
    return np.median(nearest, axis=0).astype(np.float32)


def _cell_means(small: np.ndarray, near: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per coarse cell: mean colour of its backdrop pixels (gh, gw, 3), and whether there were enough."""
    h, w = near.shape
    ys, xs = np.arange(0, h, _BLOCK), np.arange(0, w, _BLOCK)
    weights = near.astype(np.float32)
    sums = np.add.reduceat(np.add.reduceat(small * weights[..., None], ys, axis=0), xs, axis=1)
    counts = np.add.reduceat(np.add.reduceat(weights, ys, axis=0), xs, axis=1)
    areas = np.outer(np.diff(np.append(ys, h)), np.diff(np.append(xs, w)))
    enough = counts >= _MIN_SHARE * areas
    return sums / np.maximum(counts, 1)[..., None], enough


def _fill_holes(means: np.ndarray, enough: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Cells without backdrop take the mean of their filled neighbours, ring by ring inwards."""
    if not enough.any():
        return np.broadcast_to(fallback, means.shape).astype(np.float32)
    values, known = means.copy(), enough.copy()
    while not known.all():
        padded_values = np.pad(values * known[..., None], ((1, 1), (1, 1), (0, 0)))
        padded_known = np.pad(known, 1).astype(np.float32)
        sums = sum(padded_values[1 + dy:padded_values.shape[0] - 1 + dy, 1 + dx:padded_values.shape[1] - 1 + dx]
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1))
        counts = sum(padded_known[1 + dy:padded_known.shape[0] - 1 + dy, 1 + dx:padded_known.shape[1] - 1 + dx]
                     for dy in (-1, 0, 1) for dx in (-1, 0, 1))
        grow = ~known & (counts > 0)
        values[grow] = sums[grow] / counts[grow][:, None]
        known |= grow
    return values.astype(np.float32)


def _upsample(grid: np.ndarray, shape: tuple[int, int], step: int) -> np.ndarray:
    """Bilinear (3, H, W) from the coarse (gh, gw, 3) grid, whose cell centres sit at the middle of each
    block of the subsample taken every `step` pixels; flat beyond the outermost centres."""
    gh, gw, _ = grid.shape
    rows = _interpolation(gh, shape[0], step)
    cols = _interpolation(gw, shape[1], step)
    return np.stack([rows @ grid[..., c] @ cols.T for c in range(3)])


def _interpolation(cells: int, size: int, step: int) -> np.ndarray:
    """(size, cells) weights of linear interpolation between cell centres (in full-resolution pixels)."""
    sampled = -(-size // step)  # pixels of the subsample along this axis
    starts = np.arange(0, sampled, _BLOCK)
    ends = np.minimum(starts + _BLOCK, sampled)
    centres = (starts + ends - 1) / 2 * step
    positions = np.arange(size, dtype=np.float64)
    return np.stack([np.interp(positions, centres, np.eye(cells)[i]) for i in range(cells)], 1).astype(np.float32)


def _norm(diff: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("...c,...c->...", diff, diff))


# ---------------------------------------------------------------------------------------------
# Trimap and keying alpha


def trimap(rgb: np.ndarray, key: KeyColour) -> np.ndarray:
    """pymatting's trimap (float64 (H, W): 0 background, 1 subject, 0.5 unknown) of an image drawn on `key`."""
    return trimap_of(backdrop(rgb, key))


def trimap_of(seen: Backdrop) -> np.ndarray:
    """Sure background and sure subject eroded away from each other, the rest unknown. Thin parts that
    erosion would wipe out (a wire, a gap between fingers) stay known where they are unmistakable."""
    background = seen.distance <= seen.low
    subject = seen.distance >= seen.high
    sure_bg = erode(background, BG_RADIUS)
    sure_fg = erode(subject, FG_RADIUS)
    thin = subject & ~dilate(sure_fg, FG_RADIUS + 1) & (seen.distance >= 2 * seen.high)
    ring = sure_fg & ~erode(subject, FG_RADIUS + WIDE)  # where a wide soft edge may still be see-through
    peak = seen.peak[ring]
    sure_fg[ring] = seen.distance[ring] >= peak - _slack(seen, peak)
    sure_fg[thin] = _ridge(seen.distance, thin)  # only its spine: the sides of a wire are see-through
    sure_bg |= background & ~dilate(sure_bg, BG_RADIUS + 1) & (seen.distance <= seen.low / 3)  # ~the noise
    out = np.full(background.shape, 0.5)
    out[sure_fg] = 1.0
    out[sure_bg] = 0.0
    return out


def _ridge(distance: np.ndarray, where: np.ndarray) -> np.ndarray:
    """For the pixels `where`: whether each is (within 5%) the farthest from the backdrop of its 3x3."""
    ys, xs = np.nonzero(where)
    padded = np.pad(distance, 1, mode="edge")
    around = np.max([padded[ys + 1 + dy, xs + 1 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)
    return distance[ys, xs] >= 0.95 * around


def soft_alpha(seen: Backdrop) -> np.ndarray:
    """Keying-only alpha (float32 0-1), the cheapest: a ramp from `low` to `high` distance. Edges come
    out harder than they are (a pixel GAP from the backdrop is opaque), fine for a preview."""
    return np.clip((seen.distance - seen.low) * (1.0 / GAP), 0.0, 1.0)


def keyed_alpha(seen: Backdrop) -> np.ndarray:
    """Keying-only alpha (float32 0-1): how far each pixel is from the backdrop, as a share of how far
    the subject next to it is (`peak`). Exact for a one-colour subject over a flat backdrop, so strong on
    hair and fur; fooled where the subject's colours vary within WIDE pixels of its edge."""
    peak = seen.peak
    span = np.maximum(peak - _slack(seen, peak) - seen.low, GAP)
    return np.clip((seen.distance - seen.low) / span, 0.0, 1.0)


def _slack(seen: Backdrop, peak: np.ndarray) -> np.ndarray:
    """How far below the nearby peak a distance still counts as levelled off (opaque): noise, shading."""
    return np.maximum(LEVEL * peak, seen.low / 2)


def suppress_spill(colours: np.ndarray, key: KeyColour) -> np.ndarray:
    """Take the key's cast off (..., 3) float colours: the key's dominant channels (above its mean: G
    for green, B for blue, R and B for magenta) may not exceed the strongest other channel."""
    rgb = np.asarray(key.rgb, np.float64)
    dominant = rgb > rgb.mean()
    if not dominant.any() or dominant.all():
        return colours
    spill = np.maximum(colours[..., dominant].min(-1) - colours[..., ~dominant].max(-1), 0.0)
    out = colours.copy()
    out[..., dominant] -= spill[..., None]
    return out


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """Square erosion; pixels beyond the border count as the nearest border pixel (no erosion from it)."""
    out = mask.copy()
    for axis in (0, 1):
        source = out.copy()
        for shift in range(1, radius + 1):
            _and_shifted(out, source, shift, axis)
    return out


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    return ~erode(~mask, radius)


def max_filter(values: np.ndarray, radius: int) -> np.ndarray:
    """Maximum over each (2 radius + 1)^2 square (within the image), separable."""
    return _max_rows(_max_rows(values, radius).T, radius).T


def _max_rows(values: np.ndarray, radius: int) -> np.ndarray:
    """Sliding maximum down axis 0: windows of doubling width (1, 2, 4, ...), then two overlapping."""
    n, size = values.shape[0], 2 * radius + 1
    spans = np.pad(values, [(radius, radius)] + [(0, 0)] * (values.ndim - 1), constant_values=-np.inf)
    width = 1
    while 2 * width <= size:
        spans = np.maximum(spans[:-width], spans[width:])  # spans[i] = max of `2 width` values from i
        width *= 2
    return np.maximum(spans[:n], spans[size - width:size - width + n])


def _and_shifted(out: np.ndarray, source: np.ndarray, shift: int, axis: int) -> None:
    n = out.shape[axis]
    if shift >= n:
        return
    head = [slice(None)] * 2
    tail = [slice(None)] * 2
    head[axis], tail[axis] = slice(shift, None), slice(None, n - shift)
    out[tuple(head)] &= source[tuple(tail)]
    out[tuple(tail)] &= source[tuple(head)]
