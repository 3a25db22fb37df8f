"""The sketch engine: deterministic flat illustrations that follow the prompt, seed, quality and style."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from darkroom.engines.base import Engine, GenerationJob
from darkroom.engines.sketch import SketchEngine, render

TODO = "hero image for a todo app, blue and orange, cheerful"
SRC = Path(__file__).resolve().parents[2] / "src"


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def mean_saturation(img: np.ndarray) -> float:
    rgb = img[..., :3].astype(np.float32)
    hi, lo = rgb.max(-1), rgb.min(-1)
    return float(np.where(hi > 0, (hi - lo) / np.maximum(hi, 1), 0).mean())


def digest(img: np.ndarray) -> str:
    return hashlib.sha256(img.tobytes() + repr(img.shape).encode()).hexdigest()


# ---- determinism ----------------------------------------------------------------------------------


@pytest.mark.parametrize("quality", ["low", "medium", "high"])
@pytest.mark.parametrize("transparent", [False, True])
def test_same_inputs_give_identical_pixels(quality, transparent):
    a = render(TODO, 640, 512, seed=42, quality=quality, transparent=transparent)
    b = render(TODO, 640, 512, seed=42, quality=quality, transparent=transparent)
    assert a.dtype == b.dtype == np.uint8
    assert np.array_equal(a, b)


def test_identical_pixels_in_another_process():
    """Catches anything salted per process (str hashes) or taken from the clock or a global generator."""
    cases = [(TODO, 7, "high", False, None), ("a calm night over the mountains", 3, "medium", True, "natural")]
    here = [digest(render(p, 300, 200, seed=s, quality=q, transparent=t, style=st)) for p, s, q, t, st in cases]
    code = (
        "import hashlib, sys\n"
        "from darkroom.engines.sketch import render\n"
        f"for p, s, q, t, st in {cases!r}:\n"
        "    img = render(p, 300, 200, seed=s, quality=q, transparent=t, style=st)\n"
        "    print(hashlib.sha256(img.tobytes() + repr(img.shape).encode()).hexdigest())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == here


# ---- variety --------------------------------------------------------------------------------------


def test_different_prompts_give_substantially_different_images():
    prompts = ["a cat", "a dog", "a red apple", "a blue apple", "a calm night over the mountains",
               "red sunset city skyline", "green forest", TODO, ""]
    images = [render(p, 256, 256, seed=1, quality="medium") for p in prompts]
    for i in range(len(images)):
        for j in range(i + 1, len(images)):
            assert mean_abs_diff(images[i], images[j]) > 10, (prompts[i], prompts[j])


def test_different_seeds_give_different_compositions():
    images = [render(TODO, 256, 256, seed=s, quality="medium") for s in (0, 1, 2, 3, 2**40, -5)]
    for i in range(len(images)):
        for j in range(i + 1, len(images)):
            assert mean_abs_diff(images[i], images[j]) > 8


def test_quality_levels_differ_in_detail_but_keep_the_composition():
    low, medium, high = (render(TODO, 768, 512, seed=9, quality=q) for q in ("low", "medium", "high"))
    other_seed = render(TODO, 768, 512, seed=10, quality="medium")
    for a, b in ((low, medium), (medium, high), (low, high)):
        assert not np.array_equal(a, b)
        assert 0.5 < mean_abs_diff(a, b) < mean_abs_diff(medium, other_seed) / 2


# ---- shapes and alpha -----------------------------------------------------------------------------


SIZES = [(17, 33), (33, 17), (1, 1), (256, 256), (1023, 777), (3072, 1024), (1024, 1536), (3840, 2160)]


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_opaque_output_is_rgb_of_the_requested_size(width, height):
    quality = "low" if width * height > 4_000_000 else "medium"
    img = render(TODO, width, height, seed=1, quality=quality)
    assert img.shape == (height, width, 3)
    assert img.dtype == np.uint8
    assert img.flags["C_CONTIGUOUS"]


@pytest.mark.parametrize(("width", "height"), [s for s in SIZES if s != (1, 1)] + [(2160, 3840), (2, 3), (8, 8)])
def test_transparent_output_has_real_alpha(width, height):
    quality = "high" if width * height > 4_000_000 else "medium"
    img = render("a person with a laptop", width, height, seed=2, quality=quality, transparent=True)
    assert img.shape == (height, width, 4)
    assert img.dtype == np.uint8
    alpha = img[..., 3]
    assert (alpha == 0).any(), "the backdrop must be fully transparent"
    assert (alpha == 255).any(), "the subject must be opaque"
    if min(width, height) >= 64:
        assert ((alpha > 0) & (alpha < 255)).any(), "edges are anti-aliased"
    assert not img[..., :3][alpha == 0].any(), "colour under alpha 0 is zero"


@pytest.mark.parametrize("quality", ["low", "medium", "high"])
def test_transparent_output_at_every_quality(quality):
    img = render(TODO, 1024, 640, seed=5, quality=quality, transparent=True)
    alpha = img[..., 3]
    assert (alpha == 0).mean() > 0.2
    assert (alpha == 255).mean() > 0.05
    assert ((alpha > 0) & (alpha < 255)).any()


def test_opaque_output_covers_the_whole_canvas():
    for prompt in (TODO, "a calm night over the mountains", "a beach by the ocean"):
        img = render(prompt, 300, 500, seed=4, quality="high")
        assert img.shape[2] == 3
        assert img.reshape(-1, 3).max(1).min() > 0  # no uncovered (black) holes


# ---- looks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("quality", ["low", "medium", "high"])
def test_flat_illustration_not_noise(quality):
    for prompt in (TODO, "red sunset city skyline", "green forest, pastel"):
        img = render(prompt, 512, 384, seed=11, quality=quality)
        same_as_right = (img[:, 1:] == img[:, :-1]).all(-1).mean()
        # random noise would give about 0; flat fills give most pixels (high dithers gradients by one level)
        assert same_as_right > (0.3 if quality == "high" else 0.8)
        nearly_same = (np.abs(img[:, 1:].astype(int) - img[:, :-1]) <= 2).all(-1).mean()
        assert nearly_same > 0.9


def test_colour_words_steer_the_palette():
    for seed in (1, 2, 3):
        red = render("a red apple on a table", 256, 256, seed=seed, quality="medium").reshape(-1, 3).mean(0)
        blue = render("a blue apple on a table", 256, 256, seed=seed, quality="medium").reshape(-1, 3).mean(0)
        assert red[0] > red[2] + 20
        assert blue[2] > blue[0] + 20
        green = render("a green field", 256, 256, seed=seed, quality="medium").reshape(-1, 3).mean(0)
        assert green[1] > max(green[0], green[2])


def test_mood_words_shift_the_palette():
    bright = render("a bright cheerful garden", 256, 256, seed=1, quality="medium").mean()
    dark = render("a dark moody garden", 256, 256, seed=1, quality="medium").mean()
    assert dark < bright - 30
    night = render("a garden at night", 256, 256, seed=1, quality="medium").mean()
    assert night < bright - 30


def test_natural_style_is_more_muted_than_vivid():
    for prompt in (TODO, "a cat", "red sunset city skyline"):
        natural = render(prompt, 256, 256, seed=3, quality="medium", style="natural")
        vivid = render(prompt, 256, 256, seed=3, quality="medium", style="vivid")
        default = render(prompt, 256, 256, seed=3, quality="medium")
        assert mean_saturation(natural) < mean_saturation(vivid) - 0.05
        assert mean_saturation(natural) < mean_saturation(default)


def test_rejects_nonsense_arguments():
    with pytest.raises(ValueError):
        render(TODO, 0, 10, seed=1, quality="medium")
    with pytest.raises(ValueError):
        render(TODO, 10, 10, seed=1, quality="ultra")


# ---- the engine -----------------------------------------------------------------------------------


def test_engine_declares_its_capabilities():
    engine = SketchEngine()
    assert isinstance(engine, Engine)
    assert engine.name == "sketch"
    assert engine.capabilities.native_alpha is True
    assert engine.capabilities.max_pixels == 3840 * 2160
    assert engine.capabilities.max_batch == 16
    assert engine.capabilities.operations == {"generate", "edit", "variation"}
    assert engine.capabilities.max_source_images == 16
    assert engine.capabilities.partial_images is True


@pytest.mark.parametrize("transparent", [False, True])
def test_engine_returns_one_image_per_seed(transparent):
    engine = SketchEngine()
    engine.load()
    job = GenerationJob(prompt=TODO, width=320, height=192, quality="medium", seeds=(5, 6, 7),
                        transparent=transparent, style="vivid")
    images = engine.generate(job).images
    engine.close()
    assert len(images) == job.n == 3
    for seed, img in zip(job.seeds, images):
        assert img.shape == (192, 320, 4 if transparent else 3)
        expected = render(TODO, 320, 192, seed=seed, quality="medium", transparent=transparent, style="vivid")
        assert np.array_equal(img, expected)
    assert not np.array_equal(images[0], images[1])


def test_tiled_filling_matches_evaluating_every_pixel(monkeypatch):
    """Big shapes are filled tile by tile; that shortcut must not change a single pixel."""
    import darkroom.engines.sketch.canvas as sketch_canvas

    for prompt in (TODO, "a calm night over the mountains", "red sunset city skyline"):
        tiled = render(prompt, 600, 400, seed=3, quality="high")
        monkeypatch.setattr(sketch_canvas, "TILE", 10**6)
        exact = render(prompt, 600, 400, seed=3, quality="high")
        monkeypatch.undo()
        assert np.array_equal(tiled, exact)


# ---- partial images -------------------------------------------------------------------------------


def render_with_partials(prompt, width, height, k, **kw):
    partials = []
    final = render(prompt, width, height, partials=k, on_partial=lambda i, px: partials.append((i, px.copy())), **kw)
    return partials, final


PARTIAL_CASES = [(TODO, 640, 384, "medium", False), ("a calm night over the mountains", 300, 500, "high", False),
                 ("red sunset city skyline", 1024, 768, "low", False), ("a beach by the ocean", 256, 256, "low", False),
                 ("a person with a laptop", 512, 320, "medium", True), (TODO, 1024, 640, "low", True),
                 ("green forest, pastel", 333, 222, "high", True)]


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize(("prompt", "width", "height", "quality", "transparent"), PARTIAL_CASES)
def test_partials_are_distinct_snapshots_shaped_as_the_final_image(prompt, width, height, quality, transparent, k):
    partials, final = render_with_partials(prompt, width, height, k, seed=3, quality=quality, transparent=transparent)
    assert [i for i, _ in partials] == list(range(k))
    pictures = [px for _, px in partials] + [final]
    for px in pictures:
        assert px.shape == (height, width, 4 if transparent else 3) and px.dtype == np.uint8
        assert px.flags["C_CONTIGUOUS"]
    for before, after in zip(pictures, pictures[1:]):
        assert not np.array_equal(before, after)
    for px in pictures[:-1]:
        assert not np.array_equal(px, final)


@pytest.mark.parametrize(("prompt", "width", "height", "quality", "transparent"), PARTIAL_CASES)
def test_partials_leave_the_final_image_byte_identical(prompt, width, height, quality, transparent):
    plain = render(prompt, width, height, seed=8, quality=quality, transparent=transparent)
    for k in (1, 2, 3):
        _, final = render_with_partials(prompt, width, height, k, seed=8, quality=quality, transparent=transparent)
        assert np.array_equal(final, plain), k


def test_partials_progress_toward_the_final_image():
    """Each snapshot is closer to the final picture than the one before it (sky, landscape, subjects)."""
    for prompt in (TODO, "a calm night over the mountains", "red sunset city skyline"):
        partials, final = render_with_partials(prompt, 512, 384, 3, seed=2, quality="medium")
        distances = [mean_abs_diff(px, final) for _, px in partials]
        assert distances == sorted(distances, reverse=True)
        assert partials[0][1].reshape(-1, 3).max(1).min() > 0, "the sky snapshot covers the whole frame"


def test_transparent_partials_show_the_subjects_being_drawn():
    partials, final = render_with_partials("a person with a laptop", 400, 300, 3, seed=1, quality="high",
                                           transparent=True)
    opaque = [int((px[..., 3] > 0).sum()) for _, px in partials] + [int((final[..., 3] > 0).sum())]
    assert opaque == sorted(opaque) and opaque[0] < opaque[-1]


def test_engine_sends_partials_per_image_in_order():
    engine = SketchEngine()
    got = []
    job = GenerationJob(prompt=TODO, width=256, height=192, quality="medium", seeds=(5, 6), partial_images=2,
                        on_partial=lambda image, index, px: got.append((image, index, px.shape)))
    images = engine.generate(job).images
    assert [(image, index) for image, index, _ in got] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert all(shape == (192, 256, 3) for _, _, shape in got)
    assert np.array_equal(images[1], render(TODO, 256, 192, seed=6, quality="medium"))


def test_no_partials_without_a_callback():
    job = GenerationJob(prompt=TODO, width=64, height=64, quality="medium", seeds=(1,), partial_images=3)
    assert np.array_equal(SketchEngine().generate(job).images[0], render(TODO, 64, 64, seed=1, quality="medium"))


def test_engine_refuses_an_unknown_operation():
    job = GenerationJob(prompt=TODO, width=64, height=64, quality="medium", seeds=(1,), operation="upscale")
    with pytest.raises(ValueError, match="upscale"):
        SketchEngine().generate(job)
