"""The local image check: nudenet's detector on pictures the tests draw (see pictures.py)."""

from __future__ import annotations

import numpy as np
import pytest

from darkroom.config import DEFAULT_MODERATION
from darkroom.engines.sketch import render
from darkroom.moderation.nudity import EXPOSED, NudityDetector

from .pictures import gradients, nude_drawing


@pytest.fixture(scope="module")
def detector() -> NudityDetector:
    detector = NudityDetector()
    detector.load()
    return detector


@pytest.mark.parametrize("side", [320, 512, 1024])
def test_the_drawing_scores_above_both_levels_at_any_size(detector, side):
    scores = detector.scores(nude_drawing(side))
    assert set(scores) == set(EXPOSED)
    assert scores["FEMALE_BREAST_EXPOSED"] > 0.85 > DEFAULT_MODERATION["low"].nudity
    assert detector.score(nude_drawing(side)) == max(scores.values())


def test_gradients_and_noise_stay_below_the_strictest_threshold(detector):
    # The bundled detector sees skin in some smooth synthetic gradients; these score at most ~0.12
    # here, and the `auto` threshold (0.6) leaves room for that.
    for picture in gradients():
        assert detector.score(picture) < DEFAULT_MODERATION["auto"].nudity / 2


@pytest.mark.parametrize("prompt", ["A cheerful hero image for a todo app", "a portrait of a woman, peach tones",
                                    "warm orange abstract shapes", "a beige desert with dunes"])
def test_sketch_pictures_are_not_nudity(detector, prompt):
    for seed in range(3):
        assert detector.score(render(prompt, 1024, 1024, seed=seed, quality="low")) < 0.2


def test_transparent_pixels_are_seen_over_grey(detector):
    drawing = nude_drawing(512)
    opaque = np.dstack([drawing, np.full(drawing.shape[:2], 255, np.uint8)])
    invisible = opaque.copy()
    invisible[..., 3] = 0  # nothing of the drawing shows
    assert detector.score(opaque) == pytest.approx(detector.score(drawing), abs=1e-4)
    assert detector.score(invisible) < 0.05


def test_wide_images_are_padded_not_stretched(detector):
    wide = np.full((512, 1536, 3), 84, np.uint8)
    wide[:, :512] = nude_drawing(512)
    assert detector.score(wide) > 0.5
