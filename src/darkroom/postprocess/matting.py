"""The cut-out: an RGB picture of a subject on a key colour becomes straight-alpha RGBA.

Used by the service for `background=transparent` on engines that cannot draw alpha (diffusers):

    cutout(rgb, key)          the final image: closed-form matting (pymatting) on the unknown band
    preview_cutout(rgb, key)  partial images: keying only, no pymatting (~10 ms at 512 px, ~20 at 1024)
    warm_up()                 at server start, in a thread: imports pymatting (numba compiles it on a
                              fresh install, ~45 s) and runs one tiny cut-out, so no request waits

How `cutout` works:
    1. Key (keying.py): the backdrop's real colour field, a trimap with an unknown band around every edge.
    2. Alpha: closed-form matting (Levin et al.) solved for the unknown pixels only, crop by crop: the
       band is covered by runs of TILE-pixel tiles, each run solved with MARGIN pixels of context
       (pymatting's Laplacian, the reduced system L_uu x = -L_uk x_k by pymatting's conjugate gradient
       with a Jacobi preconditioner, started from the keying alpha). Against pymatting's
       whole-image `estimate_alpha_cf` + `estimate_foreground_ml`, 2x faster at 512 px and 4x at 1024
       (`python -m bench matting`: ~65 ms and ~200 ms on 2 CPU cores), with the same alpha error.
    3. Colours: in the band, unmixed from the known backdrop B (F = B + (I - B) / alpha) and cleared of
       key spill; the subject's inside keeps its pixels; everything transparent gets the nearest
       subject colour (a push-pull fill), so that viewers resampling the image draw no dark or green halo.

pymatting is the optional extra `diffusers`; it is imported only inside these functions.
"""

from __future__ import annotations

import numpy as np

from . import keying
from .keying import KeyColour

TILE = 64  # the band is covered by tiles this size; horizontal runs of them are solved as one crop
MARGIN = 8  # context around each crop: the solution at a crop's cut edge barely moves beyond this
EPSILON = 1e-5  # the Laplacian's regulariser: smooths alpha over the noise of generated backdrops
PRIOR_WEIGHT = 1e-4  # a faint pull towards the keying alpha: keeps every system well-posed
CG_RTOL = 1e-3  # measured: tighter costs 25% more time and changes the matte by less than its noise
CG_MAXITER = 2000  # a crop that has not converged by then keeps its keying alpha
# Past this share of unknown pixels (hair or fur filling the frame) matting takes seconds, and the keying
# alpha (keying.keyed_alpha) is used in the band instead: graceful, not as good. Measured on 1024x1024
# with 400 strands of hair (42% unknown): cut-out MAE 0.033 in 0.1 s this way; closed-form on every
# unknown pixel 0.028 in 1.7 s; closed-form at half resolution, enlarged, 0.057 in 1.2 s (it loses the
# strands thinner than a pixel there).
MAX_UNKNOWN_SHARE = 0.15
ALWAYS_SOLVED = 40_000  # unknown pixels solved whatever their share (small pictures: ~0.1 s)
PREVIEW_HALVES_FROM = 256  # previews of pictures at least twice this size are keyed at half resolution
OPAQUE_FROM = 0.1  # below this alpha the unmixed colour is mostly noise: take the nearest subject colour
_MISSING = "transparent backgrounds for diffusers models need pymatting: pip install 'darkroom[diffusers]'"


def cutout(rgb: np.ndarray, key: KeyColour) -> np.ndarray:
    """(H, W, 3) uint8 drawn on `key` -> (H, W, 4) uint8 RGBA, straight alpha."""
    _check(rgb)
    pymatting = _pymatting()
    # 1. Key: the backdrop as drawn, and the trimap.
    seen = keying.backdrop(rgb, key)
    trimap = keying.trimap_of(seen)
    # 2. Alpha on the unknown band.
    alpha = solve_alpha(pymatting, rgb, seen, trimap)
    # 3. Colours free of the key.
    colours = foreground(rgb, alpha, trimap == 0.5, seen.field, key)
    return _rgba(colours, alpha)


def preview_cutout(rgb: np.ndarray, key: KeyColour) -> np.ndarray:
    """A quick RGBA for partial images: the keying alpha, spill taken off partly transparent pixels.
    Large pictures are keyed at half resolution (partial images are half-size decodes anyway)."""
    _check(rgb)
    step = 2 if min(rgb.shape[:2]) >= 2 * PREVIEW_HALVES_FROM else 1
    alpha = keying.soft_alpha(keying.backdrop(rgb[::step, ::step], key))
    if step > 1:
        alpha = _enlarge(alpha, rgb)
    edge = (alpha > 0) & (alpha < 1)
    colours = rgb.copy()
    colours[edge] = np.clip(keying.suppress_spill(rgb[edge].astype(np.float32), key), 0, 255).astype(np.uint8)
    return _rgba(colours, alpha)


def warm_up() -> None:
    """Import pymatting (compiling it on a fresh install) and run every code path once on a tiny image."""
    side = 48
    y, x = np.mgrid[0:side, 0:side]
    inside = ((y - side / 2) ** 2 + (x - side / 2) ** 2 < (side / 3) ** 2)[..., None]
    rgb = np.where(inside, np.array([200, 120, 40], np.uint8), np.array(keying.KEYS["green"].rgb, np.uint8))
    cutout(rgb, keying.KEYS["green"])


def _pymatting():
    try:
        import pymatting
    except ImportError as exc:
        raise RuntimeError(_MISSING) from exc
    return pymatting


def _check(rgb: np.ndarray) -> None:
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"a cut-out needs an (H, W, 3) uint8 image, got {rgb.dtype} {rgb.shape}")


# ---------------------------------------------------------------------------------------------
# Alpha


def solve_alpha(pymatting, rgb: np.ndarray, seen: keying.Backdrop, trimap: np.ndarray) -> np.ndarray:
    """float64 (H, W) alpha: the trimap's known values, closed-form matting on its unknown pixels (or,
    when they are too many, the keying alpha)."""
    unknown = trimap == 0.5
    alpha = trimap.copy()
    if unknown.sum() > max(MAX_UNKNOWN_SHARE * unknown.size, ALWAYS_SOLVED):
        alpha[unknown] = keying.keyed_alpha(seen)[unknown]
        return alpha
    start = keying.soft_alpha(seen)  # measured: a better start than keyed_alpha on textured subjects
    for crop in band_crops(unknown):
        _solve_crop(pymatting, rgb, trimap, start, alpha, crop)
    return alpha


def band_crops(unknown: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1): the bounding box of the unknown pixels in each horizontal run of TILE x TILE
    tiles that hold some. Boxes hug the band, so the Laplacians are built over few known pixels."""
    h, w = unknown.shape
    starts = np.arange(0, w, TILE)
    crops = []
    for top in range(0, h, TILE):
        strip = unknown[top:top + TILE]
        columns = strip.any(0)
        busy = np.add.reduceat(columns, starts) > 0
        edges = np.flatnonzero(np.diff(np.concatenate([[0], busy.view(np.int8), [0]])))
        for first, after in zip(edges[::2], edges[1::2]):
            left, right = int(starts[first]), min(w, int(after) * TILE)
            xs = np.flatnonzero(columns[left:right])
            ys = np.flatnonzero(strip[:, left:right].any(1))
            crops.append((top + int(ys[0]), top + int(ys[-1]) + 1, left + int(xs[0]), left + int(xs[-1]) + 1))
    return crops


def _solve_crop(pymatting, rgb, trimap, start, alpha, crop) -> None:
    """Solve one crop with MARGIN pixels of context and write its unknown pixels into `alpha`."""
    y0, y1, x0, x1 = crop
    h, w = trimap.shape
    top, bottom, left, right = max(0, y0 - MARGIN), min(h, y1 + MARGIN), max(0, x0 - MARGIN), min(w, x1 + MARGIN)
    window = (slice(top, bottom), slice(left, right))
    known_values = trimap[window].ravel()
    unknown = known_values == 0.5
    known = ~unknown
    guess = start[window].ravel()[unknown].astype(np.float64)
    laplacian = pymatting.cf_laplacian(rgb[window] / 255.0, epsilon=EPSILON, is_known=known.reshape(bottom - top, -1))
    rows = laplacian[unknown]
    system = rows[:, unknown]
    system.setdiag(system.diagonal() + PRIOR_WEIGHT)  # the Laplacian stores every diagonal entry: in place
    rhs = PRIOR_WEIGHT * guess - rows[:, known] @ known_values[known]
    try:
        solved = pymatting.cg(system, rhs, x0=guess, rtol=CG_RTOL, maxiter=CG_MAXITER, M=pymatting.jacobi(system))
    except ValueError:  # did not converge (a crop with almost no known pixels): keep the keying alpha
        solved = guess
    values = known_values.copy()
    values[unknown] = np.clip(solved, 0.0, 1.0)
    inner = (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))
    core = values.reshape(bottom - top, right - left)[inner]
    target = alpha[y0:y1, x0:x1]
    band = trimap[y0:y1, x0:x1] == 0.5
    target[band] = core[band]


# ---------------------------------------------------------------------------------------------
# Colours


def foreground(rgb: np.ndarray, alpha: np.ndarray, band: np.ndarray, field: np.ndarray,
               key: KeyColour) -> np.ndarray:
    """uint8 (H, W, 3) straight colours: own pixels inside, unmixed and spill-free in the band, the
    nearest subject colour where (nearly) transparent."""
    out = rgb.copy()
    solid = band & (alpha >= OPAQUE_FROM)
    a = alpha[solid][:, None]
    backdrop = field[:, solid].T
    unmixed = backdrop + (rgb[solid] - backdrop) / a
    out[solid] = np.clip(keying.suppress_spill(unmixed, key), 0, 255).round().astype(np.uint8)
    clear = alpha < OPAQUE_FROM
    if clear.any() and not clear.all():
        np.copyto(out, fill_from(out, ~clear), where=clear[..., None])
    return out


def fill_from(colours: np.ndarray, known: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) for the pixels that are not `known`: the colour of the nearest known ones.
    Push-pull: sum known colours down a pyramid of 2x2 blocks, then paint each level's empty blocks
    from the level above. (The known pixels' own values are not returned: callers keep theirs.)"""
    masked = (colours * known[..., None]).astype(np.uint16)  # uint16: a 2x2 sum of uint8 fits
    sums = [_halve(masked).astype(np.float32)]
    counts = [_halve(known.astype(np.uint8)).astype(np.float32)]
    while max(counts[-1].shape) > 1:
        sums.append(_halve(sums[-1]))
        counts.append(_halve(counts[-1]))
    painted = sums[-1] / np.maximum(counts[-1], 1e-6)[..., None]
    for summed, count in zip(reversed(sums[:-1]), reversed(counts[:-1])):
        own = summed / np.maximum(count, 1e-6)[..., None]
        painted = np.where((count > 0)[..., None], own, _enlarge(painted, count))
    return _enlarge(np.clip(painted + 0.5, 0, 255).astype(np.uint8), known)


def _enlarge(layer: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Each pixel as a 2x2 block, cropped to `like`'s height and width."""
    return layer.repeat(2, 0).repeat(2, 1)[:like.shape[0], :like.shape[1]]


def _halve(layer: np.ndarray) -> np.ndarray:
    """Sum of each 2x2 block (an odd last row or column padded with zeros)."""
    h, w = layer.shape[:2]
    if h % 2 or w % 2:
        layer = np.pad(layer, [(0, h % 2), (0, w % 2)] + [(0, 0)] * (layer.ndim - 2))
    return layer[0::2, 0::2] + layer[1::2, 0::2] + layer[0::2, 1::2] + layer[1::2, 1::2]


def _rgba(colours: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    out = np.empty((*alpha.shape, 4), np.uint8)
    out[..., :3] = colours
    out[..., 3] = np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)
    return out
