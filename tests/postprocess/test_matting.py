from __future__ import annotations

import sys

import numpy as np
import pytest

from darkroom.postprocess import keying, matting
from darkroom.postprocess.keying import KEYS, KeyColour, choose_key
from darkroom.postprocess.matting import cutout, preview_cutout

from .composites import blur, composite


def spill(rgb: np.ndarray, key: KeyColour) -> np.ndarray:
    """How much a colour leans to the key: its lowest key-dominant channel (G for green, B for blue, R
    and B for magenta) minus its highest other channel. Positive: the key shows."""
    dominant = np.asarray(key.rgb) > np.mean(key.rgb)
    rgb = rgb.astype(float)
    return rgb[..., dominant].min(-1) - rgb[..., ~dominant].max(-1)


def errors(out: np.ndarray, alpha: np.ndarray) -> tuple[float, float, float]:
    """(mean absolute alpha error, the same over the true soft edge, share of the soft edge kept soft)."""
    estimated = out[..., 3] / 255
    edge = (alpha > 0.02) & (alpha < 0.98)
    kept = np.mean((estimated[edge] > 0) & (estimated[edge] < 1))
    return float(np.abs(estimated - alpha).mean()), float(np.abs(estimated - alpha)[edge].mean()), float(kept)


@pytest.mark.parametrize("size", [256, 512])
@pytest.mark.parametrize("name", ["green", "blue", "magenta"])
def test_cutout_alpha_matches_the_composite(size, name):
    rgb, alpha, _, _ = composite(size, KEYS[name], seed=size + 1)
    out = cutout(rgb, KEYS[name])
    assert out.shape == (size, size, 4) and out.dtype == np.uint8
    mae, edge_mae, kept = errors(out, alpha)
    # measured: MAE 0.001-0.003, on the soft edge 0.02-0.04, kept soft 0.95-0.97
    assert mae <= 0.05 and edge_mae <= 0.08 and kept >= 0.85


def test_cutout_at_1024():
    rgb, alpha, _, _ = composite(1024, KEYS["green"], seed=3)
    mae, edge_mae, kept = errors(cutout(rgb, KEYS["green"]), alpha)
    assert mae <= 0.05 and edge_mae <= 0.08 and kept >= 0.85  # measured 0.0016, 0.04, 0.95


@pytest.mark.parametrize("name", ["green", "blue", "magenta"])
def test_no_key_colour_left_in_the_subject(name):
    key = KEYS[name]
    rgb, alpha, subject, _ = composite(512, key, seed=7)
    out = cutout(rgb, key)
    opaque = out[..., 3] > 127
    assert np.all(spill(out[..., :3], key)[opaque] <= 12)
    # edge pixels get the subject's colour back, not a mix with the key: far nearer than the input's
    edge = opaque & (alpha > 0.05) & (alpha < 0.95)
    wrong = np.linalg.norm(out[..., :3][edge] - subject[edge], axis=-1)
    mixed = np.linalg.norm(rgb[edge] - subject[edge], axis=-1)
    assert np.median(wrong) < 0.4 * np.median(mixed)  # measured ~0.15
    if name != "blue":  # the check has teeth: the same pixels of the input lean to the key
        assert np.sum(spill(rgb, key)[opaque] > 12) > 100


def test_transparent_pixels_take_the_nearest_subject_colour():
    key = KEYS["green"]
    rgb, alpha, subject, backdrop = composite(256, key)
    out = cutout(rgb, key)
    clear = out[..., 3] == 0
    assert np.mean(clear[alpha == 0]) > 0.99 and np.all(out[..., 3][alpha == 0] < 26)
    beside = clear & keying.dilate(~clear, 2)  # what a viewer blends in when it resamples the edge
    colours = out[..., :3][beside].astype(float)
    assert np.all(np.linalg.norm(colours - backdrop[beside], axis=-1) > 60)  # no green halo
    near = np.median(np.linalg.norm(colours - subject[beside], axis=-1))
    black = np.median(np.linalg.norm(subject[beside], axis=-1))
    assert near < 0.5 * black  # and no black one: measured 62 against 214 (the stripes vary a lot)


def test_a_green_subject_gets_a_non_green_key():
    key = choose_key("a green frog, sticker")
    assert key.name != "green"
    y, x = np.mgrid[0:256, 0:256] / 256
    frog = np.stack([60 + 30 * np.sin(x * 20), 170 + 30 * np.sin(y * 15), 50 + 20 * np.cos(x * 9)], -1)
    rgb, alpha, subject, _ = composite(256, key, subject=frog)
    out = cutout(rgb, key)
    assert errors(out, alpha)[0] <= 0.05
    inside = alpha > 0.999
    assert np.median(np.linalg.norm(out[..., :3][inside] - subject[inside], axis=-1)) < 10  # still green


def test_too_many_unknown_pixels_are_keyed_not_solved(monkeypatch):
    """Hair everywhere: keying alpha in the band instead of seconds of matting."""
    key = KEYS["green"]
    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:256, 0:256].astype(float)
    strands = np.zeros((256, 256))
    for x0, y0, angle in rng.uniform([0, 0, 0], [256, 256, np.pi], (60, 3)):
        across = np.abs((x - x0) * np.sin(angle) - (y - y0) * np.cos(angle))
        along = (x - x0) * np.cos(angle) + (y - y0) * np.sin(angle)
        strands = np.maximum(strands, np.clip(1.2 - across, 0, 1) * ((along > 0) & (along < 90)))
    hair = np.clip(blur(strands, 0.6), 0, 1)
    backdrop = np.array(key.rgb) + [8.0, -10.0, 6.0]
    noise = rng.normal(0, 3.5, (256, 256, 3))
    mixed = hair[..., None] * [200.0, 110.0, 50.0] + (1 - hair[..., None]) * backdrop + noise
    rgb = np.clip(mixed.round(), 0, 255).astype(np.uint8)
    assert np.mean(keying.trimap(rgb, key) == 0.5) > matting.MAX_UNKNOWN_SHARE
    monkeypatch.setattr(matting, "ALWAYS_SOLVED", 0)
    monkeypatch.setattr(matting, "_solve_crop", lambda *a: pytest.fail("matting ran"))
    mae, edge_mae, kept = errors(cutout(rgb, key), hair)
    # measured 0.033, 0.13, 0.54 (matting: 0.032, 0.12, 0.84 in 0.1 s here; 1.9 s for 1024 px of hair)
    assert mae <= 0.05 and edge_mae <= 0.2 and kept >= 0.4


@pytest.mark.parametrize("size", [256, 1024])
def test_preview_is_keying_only(size, monkeypatch):
    monkeypatch.setitem(sys.modules, "pymatting", None)  # `import pymatting` now fails
    rgb, alpha, _, _ = composite(size, KEYS["magenta"])
    out = preview_cutout(rgb, KEYS["magenta"])
    assert out.shape == (size, size, 4) and out.dtype == np.uint8
    assert np.mean(out[..., 3][alpha == 0] == 0) > 0.999 and np.mean(out[..., 3][alpha > 0.999] == 255) > 0.99
    assert errors(out, alpha)[0] <= 0.05  # measured 0.009 (its edges are harder than the truth)
    assert np.all(spill(out[..., :3], KEYS["magenta"])[(out[..., 3] > 0) & (out[..., 3] < 255)] <= 0)


def test_without_pymatting_the_cutout_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pymatting", None)
    rgb, _, _, _ = composite(64, KEYS["green"])
    for call in (lambda: cutout(rgb, KEYS["green"]), matting.warm_up):
        with pytest.raises(RuntimeError, match=r"pip install 'darkroom\[diffusers\]'"):
            call()


@pytest.mark.parametrize("bad", [np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 4), np.uint8),
                                 np.zeros((8, 8), np.uint8)])
def test_bad_input_is_refused(bad):
    for call in (cutout, preview_cutout):
        with pytest.raises(ValueError, match="uint8"):
            call(bad, KEYS["green"])


@pytest.mark.parametrize("shape", [(1, 1), (3, 40), (333, 517), (517, 333)])
def test_any_shape(shape):
    rgb, alpha, _, _ = composite(max(shape), KEYS["blue"])
    rgb, alpha = rgb[:shape[0], :shape[1]].copy(), alpha[:shape[0], :shape[1]]
    for out in (cutout(rgb, KEYS["blue"]), preview_cutout(rgb, KEYS["blue"])):
        assert out.shape == (*shape, 4) and out.dtype == np.uint8
    if min(shape) > 100:
        assert errors(cutout(rgb, KEYS["blue"]), alpha)[0] <= 0.05


def test_nothing_but_backdrop_or_nothing_but_subject():
    backdrop, _, _, _ = composite(128, KEYS["green"], subject=np.array(KEYS["green"].rgb) + [8.0, -10.0, 6.0])
    assert np.all(cutout(backdrop, KEYS["green"])[..., 3] == 0)
    subject = np.full((128, 128, 3), (200, 120, 40), np.uint8)
    out = cutout(subject, KEYS["green"])
    assert np.all(out[..., 3] == 255) and np.array_equal(out[..., :3], subject)


def test_warm_up_runs():
    matting.warm_up()


def test_band_crops_cover_every_unknown_pixel():
    rgb, _, _, _ = composite(512, KEYS["green"])
    unknown = keying.trimap(rgb, KEYS["green"]) == 0.5
    covered = np.zeros_like(unknown)
    for y0, y1, x0, x1 in matting.band_crops(unknown):
        assert y1 - y0 <= matting.TILE
        covered[y0:y1, x0:x1] = True
    assert np.all(covered[unknown]) and covered.mean() < 0.5


def test_fill_from_takes_the_nearest_known_colour():
    colours = np.zeros((64, 64, 3), np.uint8)
    colours[:, :8] = (200, 0, 0)
    colours[:, -8:] = (0, 0, 200)
    known = np.zeros((64, 64), bool)
    known[:, :8] = known[:, -8:] = True
    filled = matting.fill_from(colours, known)
    assert np.all(filled[:, 8:20] == (200, 0, 0)) and np.all(filled[:, 44:56] == (0, 0, 200))
