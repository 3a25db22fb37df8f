from __future__ import annotations

import numpy as np
import pytest

from darkroom.postprocess import keying
from darkroom.postprocess.keying import KEYS, KeyColour, choose_key, steering

from .composites import TINT, composite

# ---------------------------------------------------------------------------------------------
# Key colours


def test_the_offered_keys():
    assert {name: key.rgb for name, key in KEYS.items()} == {
        "green": (0, 177, 64), "blue": (0, 71, 187), "magenta": (255, 0, 255)}
    assert all(key.name == name for name, key in KEYS.items())


@pytest.mark.parametrize("prompt", ["a red fox", "a cup of coffee, photo", "", "a golden retriever"])
def test_auto_is_green_by_default(prompt):
    assert choose_key(prompt) is KEYS["green"]


@pytest.mark.parametrize("prompt", ["a green frog", "an emerald ring", "lime slices", "a forest spirit",
                                    "a FROG on a leaf", "Greenish glass bottle"])
def test_auto_avoids_green_when_the_prompt_names_it(prompt):
    assert choose_key(prompt).name == "blue"


@pytest.mark.parametrize("prompt, avoided", [("a bird in the blue sky", "blue"), ("a navy suit", "blue"),
                                             ("a pink flamingo", "magenta"), ("purple grapes", "magenta")])
def test_auto_avoids_blue_and_magenta_families(prompt, avoided):
    assert choose_key(prompt).name == "green"
    assert choose_key(f"a green {prompt}").name not in ("green", avoided)


def test_auto_with_every_family_named_takes_the_least_named():
    assert choose_key("a green and emerald parrot with blue, navy and azure wings, pink beak").name == "magenta"


@pytest.mark.parametrize("preferred", ["green", "blue", "magenta"])
def test_preferred_name(preferred):
    assert choose_key("a green frog", preferred) is KEYS[preferred]


def test_preferred_hex():
    key = choose_key("anything", "#FF8800")
    assert key == KeyColour("#ff8800", (255, 136, 0))


@pytest.mark.parametrize("bad", ["red", "Green", "#12345", "#1234567", "ff8800", "#gg0000", ""])
def test_bad_preferred_raises(bad):
    with pytest.raises(ValueError) as caught:
        choose_key("a cat", bad)
    assert repr(bad) in str(caught.value) and "'auto'" in str(caught.value) and "#rrggbb" in str(caught.value)


def test_steering_names_the_colour_in_both_prompts():
    positive, negative = steering(KEYS["magenta"])
    assert positive.startswith(", ") and "solid magenta background" in positive and "shadow" in positive
    assert negative.startswith(", ") and "magenta subject" in negative and "gradient" in negative


def test_steering_for_a_hex_key():
    assert "solid green background" in steering(choose_key("", "#10b040"))[0]  # near the green key
    assert "#808080" in steering(choose_key("", "#808080"))[0]  # near no named key


# ---------------------------------------------------------------------------------------------
# The backdrop and the trimap


def test_backdrop_is_estimated_not_assumed():
    key = KEYS["green"]
    rgb, alpha, _, backdrop = composite(256, key)
    seen = keying.backdrop(rgb, key)
    clear = alpha == 0
    error = np.linalg.norm(seen.field.transpose(1, 2, 0) - backdrop, axis=-1)[clear]
    nominal = np.linalg.norm(backdrop - np.array(key.rgb), axis=-1)[clear]
    assert np.percentile(error, 99) < 5 and np.percentile(nominal, 50) > 12
    assert seen.distance.shape == (256, 256) and seen.low < seen.high


def test_border_colour_falls_back_to_the_key():
    far = np.full((32, 32, 3), (250, 250, 250), np.uint8)  # no border pixel looks like the key
    assert keying.border_colour(far, KEYS["blue"]).tolist() == list(KEYS["blue"].rgb)


@pytest.mark.parametrize("size", [256, 512])
@pytest.mark.parametrize("name", ["green", "blue", "magenta"])
def test_trimap_leaves_every_edge_unknown(size, name):
    rgb, alpha, _, _ = composite(size, KEYS[name], seed=size)
    trimap = keying.trimap(rgb, KEYS[name])
    assert trimap.dtype == np.float64 and trimap.shape == (size, size)
    assert set(np.unique(trimap)) == {0.0, 0.5, 1.0}
    # sure means sure (the antenna's spine is kept opaque: blurred, it peaks at alpha 0.86 at 256 px)
    assert not np.any((trimap == 1) & (alpha < 0.8)) and not np.any((trimap == 0) & (alpha > 0.1))
    soft = (alpha > 0.05) & (alpha < 0.95)
    assert np.mean(trimap[soft] == 0.5) > 0.99  # measured: all but 0-10 of 5,000-10,000
    # a band at least two pixels wide between sure background and sure subject, everywhere
    assert not np.any(keying.dilate(trimap == 1, 2) & (trimap == 0))
    # ... and not much more than the edges: the subject's inside and the backdrop are known
    assert (trimap == 0.5).mean() < 0.25 and np.mean(trimap[alpha > 0.999] == 1) > 0.6  # measured 0.2, 0.7


def test_trimap_of_a_bare_backdrop_is_all_background():
    rgb, _, _, _ = composite(128, KEYS["blue"], subject=np.array(KEYS["blue"].rgb) + TINT)
    assert np.all(keying.trimap(rgb, KEYS["blue"]) == 0)


def test_keying_alphas():
    rgb, alpha, _, _ = composite(256, KEYS["green"])
    seen = keying.backdrop(rgb, KEYS["green"])
    soft, keyed = keying.soft_alpha(seen), keying.keyed_alpha(seen)
    for keyed_only in (soft, keyed):
        assert keyed_only.min() == 0 and keyed_only.max() == 1 and np.all(keyed_only[alpha == 0] == 0)
    assert np.mean(soft[alpha > 0.999] == 1) > 0.99
    # on soft edges the ratio to the nearby subject is nearer the truth than the ramp (measured 0.13, 0.25)
    edge = (alpha > 0.05) & (alpha < 0.95)
    assert np.abs(keyed - alpha)[edge].mean() < 0.7 * np.abs(soft - alpha)[edge].mean()


def test_suppress_spill():
    colours = np.array([[100.0, 140.0, 100.0], [220.0, 120.0, 40.0], [200.0, 100.0, 220.0]])
    assert keying.suppress_spill(colours, KEYS["green"]).tolist() == [[100, 100, 100], [220, 120, 40],
                                                                      [200, 100, 220]]
    assert keying.suppress_spill(colours, KEYS["magenta"]).tolist() == [[100, 140, 100], [220, 120, 40],
                                                                        [100, 100, 120]]
    assert keying.suppress_spill(colours, KeyColour("#808080", (128, 128, 128))).tolist() == colours.tolist()


def test_morphology_matches_brute_force():
    rng = np.random.default_rng(1)
    values = rng.random((23, 31)).astype(np.float32)
    mask = values > 0.3
    for radius in (1, 3, 6):
        brute_max = np.array([[values[max(0, y - radius):y + radius + 1, max(0, x - radius):x + radius + 1].max()
                               for x in range(31)] for y in range(23)])
        brute_erode = np.array([[mask[max(0, y - radius):y + radius + 1, max(0, x - radius):x + radius + 1].all()
                                 for x in range(31)] for y in range(23)])
        assert np.array_equal(keying.max_filter(values, radius), brute_max)
        assert np.array_equal(keying.erode(mask, radius), brute_erode)
        assert np.array_equal(keying.dilate(mask, radius), ~keying.erode(~mask, radius))
