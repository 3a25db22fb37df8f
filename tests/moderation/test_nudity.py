"""The local image check: nudenet's detector on pictures the tests draw (see pictures.py)."""

from __future__ import annotations

import numpy as np
import pytest

from darkroom.config import DEFAULT_MODERATION
from darkroom.engines.sketch import render
from darkroom.moderation import nudity
from darkroom.moderation.nudity import EXPOSED, NudityDetector, providers_for

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


# ---- one call for many images ------------------------------------------------------------------------

def test_batched_scores_equal_one_by_one_scores(detector):
    images = [nude_drawing(320), nude_drawing(1024), *gradients(256),
              render("a todo app hero image", 1536, 1024, seed=3, quality="low"),
              render("a hiker in a forest", 512, 512, seed=1, quality="low", transparent=True)]
    one_by_one = [detector.score(image) for image in images]
    for wide in (False, True):
        batched = detector.score_batch(images, wide=wide)
        assert batched == pytest.approx(one_by_one, abs=1e-5)
    assert batched[0] > 0.85 and max(batched[2:]) < 0.5  # the nude drawing stands out inside the batch
    assert detector.score_batch([]) == []


# ---- where it runs ---------------------------------------------------------------------------------------

def test_the_cuda_provider_is_chosen_only_when_the_engine_is_on_cuda_and_it_is_installed():
    cpu_only = ["AzureExecutionProvider", "CPUExecutionProvider"]
    with_cuda = ["CUDAExecutionProvider", *cpu_only]
    assert providers_for("cuda", cpu_only) == ["CPUExecutionProvider"]
    assert providers_for("cpu", with_cuda) == ["CPUExecutionProvider"]
    assert providers_for("mps", with_cuda) == ["CPUExecutionProvider"]
    assert providers_for("cuda", with_cuda) == [("CUDAExecutionProvider", {"device_id": 0}), "CPUExecutionProvider"]
    assert providers_for("cuda:3", with_cuda)[0] == ("CUDAExecutionProvider", {"device_id": 3})


def test_use_device_opens_a_cuda_session_only_when_the_provider_is_present(monkeypatch):
    import onnxruntime

    opened = []
    monkeypatch.setattr(nudity, "_open_session", lambda providers, threads: opened.append(providers) or object())
    detector = NudityDetector()
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert detector.use_device("cuda:0") == "CPUExecutionProvider" and opened == []
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert detector.use_device("cpu") == "CPUExecutionProvider" and opened == []
    assert detector.use_device("cuda:1") == "CUDAExecutionProvider"
    assert opened == [[("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"]]
    assert detector.use_device("cuda:1") == "CUDAExecutionProvider" and len(opened) == 1  # once


# ---- the sketch engine's declared ceiling ------------------------------------------------------------------

# The highest-scoring settings a search of 7,500 pictures found (src/darkroom/engines/sketch/__init__.py,
# "Moderation"): prompt, size, quality, style, transparent, seed.
HIGHEST_FOUND = [
    ("person character brown orange happy minimal", 512, 512, "medium", "natural", True, 40),  # 0.43
    ("team forest pink coral ocean calm", 512, 512, "medium", "natural", True, 37),
    ("people hiker coral orange rose fire sunrise", 256, 256, "medium", None, True, 255),
    ("character hiker orange beige brown cheerful", 256, 256, "low", None, False, 0),
]


def sketch_sample(count: int, seed: int = 0):
    """Random sketch generations over its whole range, partial snapshots included."""
    from darkroom.engines.sketch.palette import COLOUR_WORDS, MOOD_WORDS
    from darkroom.engines.sketch.subjects import SUBJECT_WORDS

    rng = np.random.default_rng(seed)
    words = [sorted(w) for w in SUBJECT_WORDS.values()]
    colours, moods = sorted(COLOUR_WORDS), sorted(MOOD_WORDS)
    sizes = [(256, 256), (512, 512), (1024, 1024), (1536, 1024), (1024, 1536), (1024, 640)]
    for i in range(count):
        chosen = [str(rng.choice(words[k])) for k in rng.choice(len(words), int(rng.integers(0, 3)), replace=False)]
        chosen += [str(w) for w in rng.choice(colours, int(rng.integers(0, 4)), replace=False)]
        chosen += [str(w) for w in rng.choice(moods, int(rng.integers(0, 3)), replace=False)]
        width, height = sizes[int(rng.integers(len(sizes)))] if i % 4 == 0 else sizes[int(rng.integers(2))]
        partials: list[np.ndarray] = []
        final = render(" ".join(chosen), width, height, seed=int(rng.integers(2**31)),
                       quality=str(rng.choice(["low", "medium", "high"])), transparent=bool(rng.random() < 0.25),
                       style=[None, "vivid", "natural"][int(rng.integers(3))], partials=int(i % 5 == 0) * 3,
                       on_partial=lambda index, pixels: partials.append(pixels.copy()))
        yield final
        yield from partials


def test_sketch_drawings_stay_below_the_declared_ceiling(detector):
    from darkroom.engines.sketch import DETECTOR_CEILING, SketchEngine

    assert SketchEngine.capabilities.detector_ceiling == DETECTOR_CEILING < DEFAULT_MODERATION["auto"].nudity
    pictures = [render(p, w, h, seed=s, quality=q, style=st, transparent=t) for p, w, h, q, st, t, s in HIGHEST_FOUND]
    pictures += list(sketch_sample(120))
    scores = detector.score_batch(pictures[:4]) + [detector.score(picture) for picture in pictures[4:]]
    assert len(scores) > 130
    assert max(scores) < DETECTOR_CEILING
    assert scores[0] > 0.35  # the search's highest is still where it was found: the sweep sees what it should
