"""The sketch engine's edits (restyle, masked repaint) and variations, and their partial images."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from darkroom.engines.base import GenerationJob, SourceImages
from darkroom.engines.sketch import SketchEngine, render
from darkroom.engines.sketch.edit import dominant_colours, edit, hue_rotation, variation
from darkroom.postprocess.sources import paste_unmasked

SRC = Path(__file__).resolve().parents[2] / "src"
W, H = 320, 224


def photo(width: int = W, height: int = H, seed: int = 0) -> np.ndarray:
    """A stand-in for a photo: smooth colour gradients, a few soft blobs and some grain."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([90 + 80 * x / width, 110 + 60 * y / height, 140 - 50 * x / width], -1)
    for cx, cy, r, colour in zip(rng.uniform(0, width, 5), rng.uniform(0, height, 5), rng.uniform(15, 60, 5),
                                 rng.uniform(0, 255, (5, 3))):
        inside = np.clip((r - np.hypot(x - cx, y - cy)) / 3, 0, 1)[..., None]
        img += (colour - img) * inside
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def disc_mask(width: int = W, height: int = H, soft: float = 0.0) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    d = np.hypot((x - width * 0.6) / (width * 0.25), (y - height * 0.5) / (height * 0.3))
    if soft:
        return np.clip((1 - d) / soft, 0, 1).astype(np.float32)
    return (d < 1).astype(np.float32)


def edit_job(prompt="a red balloon", images=None, repaint=None, strength=0.8, **kw) -> GenerationJob:
    images = images if images is not None else (photo(),)
    height, width = images[0].shape[:2]
    return GenerationJob(prompt=prompt, width=width, height=height, quality=kw.pop("quality", "medium"),
                         seeds=kw.pop("seeds", (1,)), operation="edit",
                         source=SourceImages(tuple(images), repaint, strength), **kw)


def variation_job(image=None, strength=0.6, **kw) -> GenerationJob:
    image = image if image is not None else photo()
    height, width = image.shape[:2]
    return GenerationJob(prompt="", width=width, height=height, quality="medium", seeds=kw.pop("seeds", (1,)),
                         operation="variation", source=SourceImages((image,), strength=strength), **kw)


def run(job: GenerationJob) -> list[np.ndarray]:
    return SketchEngine().generate(job).images


def with_partials(job: GenerationJob, k: int) -> tuple[list[tuple[int, int, np.ndarray]], list[np.ndarray]]:
    got: list[tuple[int, int, np.ndarray]] = []
    job = dataclasses.replace(job, partial_images=k, on_partial=lambda i, p, px: got.append((i, p, px.copy())))
    return got, run(job)


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def luminance(img: np.ndarray) -> np.ndarray:
    return img[..., :3].astype(np.float32) @ np.asarray([0.2126, 0.7152, 0.0722], np.float32)


def digest(img: np.ndarray) -> str:
    return hashlib.sha256(img.tobytes() + repr(img.shape).encode()).hexdigest()


EDIT_CASES = {
    "restyle": lambda **kw: edit_job(**kw),
    "masked": lambda **kw: edit_job(repaint=disc_mask(), **kw),
    "soft mask": lambda **kw: edit_job(repaint=disc_mask(soft=0.4), **kw),
}


# ---- determinism ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", EDIT_CASES)
@pytest.mark.parametrize("transparent", [False, True])
def test_edits_are_deterministic(case, transparent):
    job = EDIT_CASES[case](transparent=transparent, seeds=(4, 5))
    first, second = run(job), run(job)
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert not np.array_equal(first[0], first[1]), "seeds give different edits"


def test_edits_and_variations_are_identical_in_another_process():
    cases = {"restyle": edit_job(seeds=(3,)), "masked": edit_job(repaint=disc_mask(), seeds=(3,)),
             "variation": variation_job(seeds=(3,))}
    here = [digest(run(job)[0]) for job in cases.values()]
    code = (
        "import hashlib, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_sketch_edit import edit_job, variation_job, disc_mask, run, digest\n"
        "for job in (edit_job(seeds=(3,)), edit_job(repaint=disc_mask(), seeds=(3,)), variation_job(seeds=(3,))):\n"
        "    print(digest(run(job)[0]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONHASHSEED": "999"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == here


# ---- edits with a mask ----------------------------------------------------------------------------


@pytest.mark.parametrize("soft", [0.0, 0.4])
@pytest.mark.parametrize("quality", ["low", "medium", "high"])
def test_masked_edit_keeps_the_unmasked_pixels_and_repaints_the_rest(soft, quality):
    image, mask = photo(), disc_mask(soft=soft)
    out = run(edit_job(images=(image,), repaint=mask, quality=quality))[0]
    assert out.shape == image.shape
    kept = mask == 0
    assert np.abs(out[kept].astype(int) - image[kept]).max() <= 1
    repainted = mask == 1
    assert mean_abs_diff(out[repainted], image[repainted]) > 25
    # the service's paste of the unmasked pixels changes nothing but the soft edge, which it blends once
    pasted = paste_unmasked(image, out.copy(), mask)
    assert np.abs(pasted[(mask == 0) | (mask == 1)].astype(int) - out[(mask == 0) | (mask == 1)]).max() <= 1
    edge = (mask > 0) & (mask < 1)
    expected = image[edge] + (out[edge].astype(np.float32) - image[edge]) * mask[edge][:, None]
    assert np.abs(pasted[edge] - expected).max(initial=0) <= 1


def test_masked_edit_draws_the_prompts_subjects_inside_the_area():
    image, mask = photo(), disc_mask()
    laptop = run(edit_job("a laptop on a desk", images=(image,), repaint=mask, strength=1.0))[0]
    phone = run(edit_job("a phone on a desk", images=(image,), repaint=mask, strength=1.0))[0]
    inside = mask == 1
    assert mean_abs_diff(laptop[inside], phone[inside]) > 5
    assert np.array_equal(laptop[~inside], phone[~inside])


def test_an_empty_mask_returns_the_input():
    image = photo()
    out = run(edit_job(images=(image,), repaint=np.zeros((H, W), np.float32)))[0]
    assert np.array_equal(out, image)


def test_a_full_mask_repaints_everything():
    image = photo()
    out = run(edit_job(images=(image,), repaint=np.ones((H, W), np.float32)))[0]
    assert mean_abs_diff(out, image) > 25


# ---- edits without a mask: restyle ----------------------------------------------------------------


def mean_hue_direction(img: np.ndarray) -> float:
    """Mean of red minus blue: positive for reddish pictures, negative for bluish ones."""
    rgb = img[..., :3].astype(np.float32)
    return float((rgb[..., 0] - rgb[..., 2]).mean())


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_restyle_follows_the_prompts_colour_words(seed):
    image = photo(seed=seed)
    red = run(edit_job("a red poster, warm", images=(image,), seeds=(seed,)))[0]
    blue = run(edit_job("a blue poster, cool", images=(image,), seeds=(seed,)))[0]
    assert mean_hue_direction(red) > 15
    assert mean_hue_direction(blue) < -15
    assert mean_hue_direction(red) > mean_hue_direction(blue) + 40


def test_restyle_posterises_more_finely_at_higher_quality():
    def main_colours(img):
        colours, counts = np.unique(img.reshape(-1, 3), axis=0, return_counts=True)
        return int((counts > img.shape[0] * img.shape[1] * 0.01).sum())

    image = photo(seed=5)
    counts = [main_colours(run(edit_job("a poster", images=(image,), strength=1.0, quality=q))[0])
              for q in ("low", "medium", "high")]
    assert counts[0] <= 4 < counts[2]
    assert counts == sorted(counts)


def test_restyle_keeps_the_inputs_structure():
    image = photo(seed=2)
    out = run(edit_job("a green poster", images=(image,), strength=1.0))[0]
    correlation = np.corrcoef(luminance(image).ravel(), luminance(out).ravel())[0, 1]
    assert correlation > 0.7


def test_strength_mixes_the_original_colours_back():
    image = photo(seed=3)
    distances = [mean_abs_diff(run(edit_job("a red poster", images=(image,), strength=s))[0], image)
                 for s in (0.0, 0.5, 1.0)]
    assert distances[0] < 6  # only the contour lines
    assert distances[0] < distances[1] < distances[2]


def test_extra_images_are_colour_references():
    image = photo(seed=4)
    red_ref = np.zeros((H, W, 3), np.uint8) + np.asarray([220, 30, 40], np.uint8)
    blue_ref = np.zeros((H, W, 3), np.uint8) + np.asarray([30, 60, 220], np.uint8)
    plain = run(edit_job("a poster", images=(image,)))[0]
    reddish = run(edit_job("a poster", images=(image, red_ref)))[0]
    bluish = run(edit_job("a poster", images=(image, blue_ref)))[0]
    assert mean_abs_diff(plain, reddish) > 5 and mean_abs_diff(plain, bluish) > 5
    assert mean_hue_direction(reddish) > mean_hue_direction(bluish) + 30


def test_extra_images_also_colour_the_repainted_subjects():
    image, mask = photo(seed=4), disc_mask()
    ref = np.zeros((H, W, 3), np.uint8) + np.asarray([240, 200, 20], np.uint8)
    plain = run(edit_job("a phone", images=(image,), repaint=mask))[0]
    tinted = run(edit_job("a phone", images=(image, ref), repaint=mask))[0]
    assert mean_abs_diff(plain[mask == 1], tinted[mask == 1]) > 5


def test_dominant_colours_prefer_colourful_and_visible_pixels():
    half = np.zeros((64, 64, 4), np.uint8)
    half[:, :32] = (200, 20, 20, 255)  # red, visible
    half[:, 32:] = (20, 200, 20, 0)  # green, transparent
    grey = np.full((64, 64, 3), 128, np.uint8)
    colours = dominant_colours([half, grey])
    assert colours[0] == (200.0, 20.0, 20.0)
    assert (20.0, 200.0, 20.0) not in colours
    assert dominant_colours([]) == []


def test_sixteen_images_are_taken_and_more_refused():
    images = (photo(64, 48),) + tuple(photo(64, 48, seed=i) for i in range(1, 16))
    assert run(edit_job(images=images))[0].shape == (48, 64, 3)
    with pytest.raises(ValueError, match="at most 16"):
        run(edit_job(images=images + (photo(64, 48),)))


@pytest.mark.parametrize("bad", ["no source", "wrong size", "wrong mask size"])
def test_malformed_sources_are_refused(bad):
    job = edit_job(repaint=disc_mask())
    if bad == "no source":
        job = dataclasses.replace(job, source=None)
    elif bad == "wrong size":
        job = dataclasses.replace(job, width=W + 1)
    else:
        job = dataclasses.replace(job, source=SourceImages((photo(),), np.ones((3, 3), np.float32)))
    with pytest.raises(ValueError):
        run(job)


# ---- transparency ---------------------------------------------------------------------------------


def rgba_photo() -> np.ndarray:
    alpha = np.full((H, W), 255, np.uint8)
    alpha[:, : W // 3] = 0  # a clear left third
    alpha[:, W // 3: W // 2] = 128
    return np.dstack([photo(), alpha])


@pytest.mark.parametrize("case", EDIT_CASES)
def test_transparent_edits_keep_the_inputs_alpha(case):
    image = rgba_photo()
    out = run(EDIT_CASES[case](images=(image,), transparent=True))[0]
    assert out.shape == (H, W, 4) and out.dtype == np.uint8
    mask = EDIT_CASES[case]().source.repaint
    outside = np.ones((H, W), bool) if mask is None else mask == 0
    assert np.array_equal(out[..., 3][outside], image[..., 3][outside])


def test_transparent_edit_of_an_rgb_input_is_opaque():
    out = run(edit_job(transparent=True))[0]
    assert out.shape == (H, W, 4)
    assert (out[..., 3] == 255).all()


def test_subjects_painted_into_a_clear_area_are_opaque():
    image = np.zeros((H, W, 4), np.uint8)  # entirely clear
    mask = np.ones((H, W), np.float32)
    out = run(edit_job("a person with a laptop", images=(image,), repaint=mask, transparent=True))[0]
    alpha = out[..., 3]
    assert (alpha == 0).mean() > 0.3 and (alpha == 255).mean() > 0.05


def test_opaque_edit_of_an_rgba_input_is_rgb():
    out = run(edit_job(images=(rgba_photo(),), repaint=disc_mask()))[0]
    assert out.shape == (H, W, 3)


# ---- variations -----------------------------------------------------------------------------------


def test_variations_are_deterministic_and_differ_by_seed():
    job = variation_job(seeds=(1, 2, 3, 4))
    first, second = run(job), run(job)
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    for i in range(4):
        assert first[i].shape == (H, W, 3) and first[i].dtype == np.uint8
        for j in range(i + 1, 4):
            assert mean_abs_diff(first[i], first[j]) > 10


def test_variations_keep_the_inputs_tones():
    image = photo(seed=6)
    out = run(variation_job(image, seeds=(9,)))[0]
    assert mean_abs_diff(out, image) > 10, "it is a variation, not a copy"
    lum_in, lum_out = luminance(image), luminance(out)
    hist_in = np.histogram(lum_in, 16, (0, 256))[0] / lum_in.size
    hist_out = np.histogram(lum_out, 16, (0, 256))[0] / lum_out.size
    assert np.minimum(hist_in, hist_out).sum() > 0.85  # histogram overlap
    assert abs(lum_in.mean() - lum_out.mean()) < 8


def test_variation_hue_rotation_keeps_greys_and_channel_means():
    m = hue_rotation(123.0)
    assert np.allclose(m @ np.asarray([100, 100, 100], np.float32), 100, atol=1e-3)
    colour = np.asarray([200, 50, 10], np.float32)
    assert np.isclose((m @ colour).mean(), colour.mean(), atol=1e-3)
    assert np.allclose(hue_rotation(0.0), np.eye(3), atol=1e-6)


def test_variation_of_an_rgba_input_is_rgb():
    out = run(variation_job(rgba_photo()))[0]
    assert out.shape == (H, W, 3)
    assert out[:, : W // 3].mean() > 0, "clear pixels count as white, not black"


def test_variation_with_zero_strength_is_the_input():
    image = photo()
    assert np.array_equal(run(variation_job(image, strength=0.0))[0], image)


@pytest.mark.parametrize(("width", "height"), [(1, 1), (3, 2), (17, 33), (1024, 256)])
def test_variations_and_edits_of_any_size(width, height):
    image = photo(width, height)
    assert run(variation_job(image))[0].shape == (height, width, 3)
    assert run(edit_job(images=(image,)))[0].shape == (height, width, 3)
    assert run(edit_job(images=(image,), repaint=disc_mask(width, height)))[0].shape == (height, width, 3)


def test_variations_are_never_transparent():
    with pytest.raises(ValueError, match="transparent"):
        run(variation_job(transparent=True))


# ---- partial images -------------------------------------------------------------------------------


PARTIAL_JOBS = {
    "restyle": lambda: edit_job(seeds=(2, 3)),
    "restyle transparent": lambda: edit_job(images=(rgba_photo(),), transparent=True, quality="high"),
    "masked": lambda: edit_job(repaint=disc_mask(), seeds=(2, 3)),
    "masked transparent": lambda: edit_job(images=(rgba_photo(),), repaint=disc_mask(soft=0.3), transparent=True),
    "variation": lambda: variation_job(seeds=(2, 3)),
}


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("case", PARTIAL_JOBS)
def test_partials_are_distinct_intermediate_pictures(case, k):
    job = PARTIAL_JOBS[case]()
    got, finals = with_partials(job, k)
    assert [(i, p) for i, p, _ in got] == [(i, p) for i in range(job.n) for p in range(k)]
    for i, final in enumerate(finals):
        pictures = [px for image, _, px in got if image == i] + [final]
        for px in pictures:
            assert px.shape == final.shape and px.dtype == np.uint8
        for before, after in zip(pictures, pictures[1:]):
            assert not np.array_equal(before, after)
        assert not any(np.array_equal(px, final) for px in pictures[:-1])


@pytest.mark.parametrize("case", PARTIAL_JOBS)
def test_partials_leave_the_final_picture_identical(case):
    job = PARTIAL_JOBS[case]()
    plain = run(job)
    for k in (1, 2, 3):
        _, finals = with_partials(job, k)
        assert all(np.array_equal(a, b) for a, b in zip(finals, plain)), k


def test_masked_partials_keep_the_unmasked_pixels():
    image, mask = photo(), disc_mask()
    got, _ = with_partials(edit_job(images=(image,), repaint=mask), 3)
    for _, _, px in got:
        assert np.array_equal(px[mask == 0], image[mask == 0])


def test_variation_partials_build_the_mosaic_tile_by_tile():
    image = photo()
    got, (final,) = with_partials(variation_job(image), 3)
    distances = [mean_abs_diff(px, final) for _, _, px in got]
    assert distances == sorted(distances, reverse=True)


def test_edit_functions_work_without_the_engine():
    job = edit_job()
    assert np.array_equal(edit(job, 1), run(job)[0])
    job = variation_job()
    assert np.array_equal(variation(job, 1), run(job)[0])
    assert render("a red balloon", W, H, seed=1, quality="medium").shape == (H, W, 3)
