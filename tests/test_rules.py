"""The per-family rules, checked directly (the live tests cover the wire)."""

from __future__ import annotations

import pytest

from darkroom.catalog import build_catalog
from darkroom.config import DEFAULT_PROMPT_LIMITS, load_settings
from darkroom.errors import InvalidRequest
from darkroom.protocol.images import ImageGenerateRequest
from darkroom.rules import plan_generation

CATALOG = build_catalog(load_settings())


def plan(**fields):
    return plan_generation(ImageGenerateRequest(**{"prompt": "a todo app", **fields}), CATALOG, DEFAULT_PROMPT_LIMITS)


def test_defaults_per_family():
    dalle2 = plan()
    assert (dalle2.spec.name, dalle2.size, dalle2.response_format, dalle2.quality) == (
        "dall-e-2", "1024x1024", "url", None)
    gpt = plan(model="gpt-image-1")
    assert (gpt.size, gpt.quality, gpt.background, gpt.output_format, gpt.response_format, gpt.moderation) == (
        "1024x1024", "medium", "opaque", "png", "b64_json", "auto")
    assert plan(model="dall-e-3").style == "vivid"


@pytest.mark.parametrize("field, value", [("output_format", "png"), ("background", "auto"), ("moderation", "low"),
                                          ("quality", "high"), ("output_compression", None)])
def test_gpt_only_fields_pick_a_gpt_model(field, value):
    fields = {field: value} if value is not None else {"output_format": "webp", field: 80}
    assert plan(**fields).spec.name == "gpt-image-1"


@pytest.mark.parametrize("prompt, size", [
    ("a wide banner for a todo app", "1536x1024"),
    ("a portrait poster", "1024x1536"),
    ("a todo app icon", "1024x1024"),
])
def test_auto_size_follows_the_prompt(prompt, size):
    assert plan(model="gpt-image-1", prompt=prompt, size="auto").size == size


@pytest.mark.parametrize("size", ["1536x864", "1024x640", "3840x2160", "2160x3840", "2304x768", "1792x1024"])
def test_gpt_image_2_custom_sizes_accepted(size):
    assert plan(model="gpt-image-2", size=size).size == size


@pytest.mark.parametrize("size, why", [
    ("1000x1000", "multiples of 16"),
    ("4000x1008", "at most 3840"),
    ("3840x1264", "between 1:3 and 3:1"),
    ("1008x640", "between 655,360"),
    ("3840x2176", "between 655,360"),  # edge and ratio fine, 8,355,840 pixels too many
])
def test_gpt_image_2_custom_sizes_refused(size, why):
    with pytest.raises(InvalidRequest) as info:
        plan(model="gpt-image-2", size=size)
    assert info.value.param == "size" and why in info.value.message


def test_background_auto_follows_the_prompt():
    assert plan(model="gpt-image-1", prompt="a logo on a transparent background").background == "transparent"
    assert plan(model="gpt-image-1", prompt="a logo with no background", output_format="jpeg").background == "opaque"
    assert plan(model="gpt-image-2", prompt="a logo on a transparent background").background == "opaque"
    assert plan(model="gpt-image-1", prompt="a logo").background == "opaque"


def test_seeds_are_consecutive_and_wrap():
    assert plan(model="gpt-image-1", n=3, seed=2**32 - 2).seeds == (2**32 - 2, 2**32 - 1, 0)


def test_quality_maps_to_engine_detail():
    assert plan(model="dall-e-3", quality="hd").engine_quality == "high"
    assert plan(model="dall-e-3", quality="standard").engine_quality == "medium"
    assert plan(model="gpt-image-1", quality="low").engine_quality == "low"


def test_prompt_limits_come_from_settings():
    limits = {**DEFAULT_PROMPT_LIMITS, "gpt-image": 10}
    with pytest.raises(InvalidRequest) as info:
        plan_generation(ImageGenerateRequest(prompt="x" * 11, model="gpt-image-1"), CATALOG, limits)
    assert info.value.code == "string_above_max_length"


def test_pixel_caps_from_settings_and_model():
    settings = load_settings(max_pixels=1_100_000, models=[{"name": "small", "family": "gpt-image-2",
                                                            "max_pixels": 700_000}])
    catalog = build_catalog(settings)

    def size_of(model, size):
        request = ImageGenerateRequest(prompt="a todo app", model=model, size=size)
        return plan_generation(request, catalog, DEFAULT_PROMPT_LIMITS).size

    assert size_of("gpt-image-1", "1024x1024") == "1024x1024"
    assert size_of("small", "1024x640") == "1024x640"
    for model, size in (("gpt-image-1", "1536x1024"), ("small", "1024x1024"), ("gpt-image-2", "1536x864")):
        with pytest.raises(InvalidRequest) as info:
            size_of(model, size)
        assert info.value.param == "size" and "pixels" in info.value.message
