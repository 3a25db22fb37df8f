"""The sketch engine's subjects (engines/sketch/subjects.py and the drawings): each one paints, each is its
own picture, colour words and seats work, unknown prompts get their own sign; and a real server and the
openai SDK return those pictures."""

from __future__ import annotations

import base64
import io
import itertools

import numpy as np
import openai
import pytest
from PIL import Image

from darkroom.engines.sketch import render
from darkroom.engines.sketch.subjects import GROUNDED, SUBJECTS
from darkroom.engines.sketch.words import SUBJECT_WORDS, plan

SIDE = 128


def alone(name: str, seed: int = 1, side: int = SIDE, quality: str = "low") -> np.ndarray:
    """A subject drawn on its own (transparent, low quality: no shadows or confetti), as float RGBA."""
    prompt = f"a {SUBJECT_WORDS[name][0]}"
    assert [p.name for p in plan(prompt).subjects] == [name]
    return render(prompt, side, side, seed=seed, quality=quality, transparent=True).astype(np.float32)


@pytest.fixture(scope="module")
def drawings() -> dict[str, np.ndarray]:
    return {name: alone(name) for name in SUBJECTS}


def test_every_subject_has_words_and_a_drawing():
    assert set(SUBJECTS) == set(SUBJECT_WORDS) and len(SUBJECTS) >= 60
    assert GROUNDED <= set(SUBJECTS)


def test_each_subject_paints_a_plausible_area_inside_the_picture(drawings):
    for name, img in drawings.items():
        alpha = img[..., 3] / 255
        covered = float(alpha.mean())
        assert 0.02 < covered < 0.5, (name, covered)
        ys, xs = np.nonzero(alpha > 0.5)
        assert ys.min() > 0 and xs.min() > 0 and ys.max() < SIDE - 1 and xs.max() < SIDE - 1, (name, "touches an edge")
        height, width = ys.max() - ys.min(), xs.max() - xs.min()
        assert height > SIDE * 0.15 and width > SIDE * 0.15, (name, height, width)
        opaque = img[..., :3][alpha > 0.5]
        box_filled = float((alpha[ys.min():ys.max() + 1, xs.min():xs.max() + 1] > 0.5).mean())
        assert np.ptp(opaque, axis=0).max() > 40 or box_filled < 0.6, (name, "one flat blob is no drawing")


def test_subjects_are_pairwise_distinct_pictures(drawings):
    """A stub, or a copy of another drawing, would look like another subject here."""
    names = list(drawings)
    flat = {n: np.concatenate([drawings[n][..., :3] * (drawings[n][..., 3:] / 255), drawings[n][..., 3:]], -1)
            for n in names}
    masks = {n: drawings[n][..., 3] > 0 for n in names}

    def distance(a: str, b: str) -> float:  # mean difference over the pixels either one covers
        either = masks[a] | masks[b]
        return float(np.abs(flat[a] - flat[b])[either].mean())

    closest = min((distance(a, b), a, b) for a, b in itertools.combinations(names, 2))
    assert closest[0] > 40, closest


def test_grounded_subjects_stand_on_the_ground_and_the_others_float():
    for name in ("cat", "house", "car", "cactus", "sun", "heart", "coffee", "plane"):
        bottom = np.nonzero(alone(name, side=256)[..., 3].max(1) > 128)[0].max() / 256
        if name in GROUNDED:
            assert bottom > 0.75, (name, bottom)  # the near hill is at 0.77-0.83 of the height
        else:
            assert bottom < 0.75, (name, bottom)


def test_a_cat_on_a_sofa_draws_both_the_cat_above_the_seat():
    both = render("a cat on a sofa", 256, 256, seed=3, quality="low", transparent=True)
    sofa = render("a sofa", 256, 256, seed=3, quality="low", transparent=True)
    covered, sofa_only = both[..., 3] > 128, sofa[..., 3] > 128
    assert covered.sum() > sofa_only.sum() * 1.08
    top_of_both, top_of_sofa = np.nonzero(covered.any(1))[0].min(), np.nonzero(sofa_only.any(1))[0].min()
    assert top_of_both < top_of_sofa - 20  # the cat sits up above the sofa's back


def test_colour_words_colour_their_subject():
    for name in ("car", "heart", "cat", "house", "umbrella"):
        word = SUBJECT_WORDS[name][0]
        red, blue = (render(f"a {c} {word}", 160, 160, seed=2, quality="low", transparent=True) for c in ("red", "blue"))
        r, b = (img[..., :3][img[..., 3] == 255].astype(np.float32).mean(0) for img in (red, blue))
        assert r[0] > r[2] + 25 and b[2] > b[0] + 25, (name, r, b)


@pytest.mark.parametrize("quality", ["low", "medium", "high"])
def test_unknown_prompts_get_a_sign_of_their_own(quality):
    prompts = ["quantum zebra accountant", "velvet tornado", "xylophone bureaucracy", "zzz", "", "42", "猫"]
    images = {p: render(p, 256, 256, seed=5, quality=quality) for p in prompts}
    for a, b in itertools.combinations(prompts, 2):
        assert np.abs(images[a].astype(np.int16) - images[b]).mean() > 6, (a, b)
    signs = [render(p, 256, 256, seed=5, quality=quality, transparent=True) for p in prompts]
    assert all((sign[..., 3] == 255).mean() > 0.1 for sign in signs)  # a sign on its own, transparent around it


def test_the_stroke_font_draws_every_letter_differently():
    from darkroom.engines.sketch.canvas import Canvas
    from darkroom.engines.sketch.lettering import FONT, write
    from darkroom.engines.sketch.palette import build_palette
    from darkroom.engines.sketch.scene import Frame, Scene

    pal = build_palette([], 0, np.random.default_rng(0), None, False)
    glyphs = {}
    for ch in FONT:
        canvas = Canvas(48, 48)
        write(Scene(canvas, pal, 1, False), Frame(0, 0, 1), ch, 0, 0, 0.7, (255, 255, 255), 0.9)
        glyphs[ch] = canvas.alpha.copy()
        assert 0.05 < glyphs[ch].mean() < 0.4, ch
    closest = min((float(np.abs(glyphs[a] - glyphs[b]).mean()), a, b) for a, b in itertools.combinations(FONT, 2))
    assert closest[0] > 0.02, closest


def test_scenes_change_the_backdrop():
    def mean_rgb(prompt: str, rows: slice) -> np.ndarray:
        return render(prompt, 192, 192, seed=4, quality="medium")[rows].reshape(-1, 3).astype(np.float32).mean(0)

    top, bottom = slice(0, 40), slice(170, 192)
    assert mean_rgb("a cat in space", top).max() < 70  # a black sky
    under = mean_rgb("a cat underwater", top)
    assert under[2] > under[0] + 40
    snow, desert = mean_rgb("a cat in the snow", bottom), mean_rgb("a cat in the desert", bottom)
    assert snow.min() > 190 and desert[0] > desert[2] + 40
    beach = mean_rgb("a cat on the beach", bottom)
    assert beach[0] > beach[2] + 30  # sand in front of the water


def test_new_subjects_keep_tiles_exact_and_partials_real(monkeypatch):
    import darkroom.engines.sketch.canvas as sketch_canvas

    prompts = ["a red car, a castle and a wave at sunset", "a cat on a sofa, a bicycle", "quantum zebra",
               "a planet and a rocket in space"]
    for prompt in prompts:
        tiled = render(prompt, 600, 400, seed=3, quality="high")
        monkeypatch.setattr(sketch_canvas, "TILE", 10**6)
        exact = render(prompt, 600, 400, seed=3, quality="high")
        monkeypatch.undo()
        assert np.array_equal(tiled, exact), prompt
        for transparent in (False, True):
            got: list[np.ndarray] = []
            final = render(prompt, 320, 240, seed=1, quality="medium", transparent=transparent, partials=3,
                           on_partial=lambda i, px: got.append(px.copy()))
            assert len(got) == 3 and all(not np.array_equal(a, b) for a, b in zip(got + [final], got[1:] + [final]))
            assert np.array_equal(final, render(prompt, 320, 240, seed=1, quality="medium", transparent=transparent))


def test_the_sdk_gets_a_cat_on_a_sofa_from_a_live_server(server):
    """As a user would: the official SDK against `darkroom serve`, the PNG decoded and checked."""
    with openai.OpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0) as client:
        response = client.images.generate(model="gpt-image-1.5", prompt="A cat on a sofa", size="1024x1024",
                                          quality="low", background="transparent", output_format="png",
                                          extra_body={"seed": 11})
        fallback = client.images.generate(model="gpt-image-1.5", prompt="quantum zebra accountant", quality="low",
                                          extra_body={"seed": 11})
    image = Image.open(io.BytesIO(base64.b64decode(response.data[0].b64_json)))
    assert image.format == "PNG" and image.mode == "RGBA" and image.size == (1024, 1024)
    expected = render("A cat on a sofa", 1024, 1024, seed=11, quality="low", transparent=True)
    assert np.array_equal(np.asarray(image), expected)
    figure = render("a person", 1024, 1024, seed=11, quality="low", transparent=True)
    assert np.abs(np.asarray(image, np.int16) - figure).mean() > 5  # not the waving person any more
    sign = np.asarray(Image.open(io.BytesIO(base64.b64decode(fallback.data[0].b64_json))))
    assert np.array_equal(sign, render("quantum zebra accountant", 1024, 1024, seed=11, quality="low"))
