"""The rules for edits and variations, checked directly (the SDK tests cover the wire)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from darkroom.catalog import build_catalog
from darkroom.config import DEFAULT_PROMPT_LIMITS, load_settings
from darkroom.edit_rules import EDIT_STRENGTH, INPAINT_STRENGTH, VARIATION_STRENGTH, plan_edit, plan_variation
from darkroom.errors import InvalidRequest, PayloadTooLarge
from darkroom.protocol.edits import ImageEditRequest, ImageVariationRequest, Upload, Uploads

CATALOG = build_catalog(load_settings())
MAX_PIXELS = 16_777_216


def png(width: int, height: int, mode: str = "RGB", colour=(30, 90, 200)) -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), colour if mode == "RGB" else (*colour, 255)).save(out, "PNG")
    return out.getvalue()


def mask(width: int, height: int) -> bytes:
    alpha = np.full((height, width), 255, np.uint8)
    alpha[: height // 2] = 0
    out = io.BytesIO()
    Image.fromarray(np.dstack([np.zeros((height, width, 3), np.uint8), alpha]), "RGBA").save(out, "PNG")
    return out.getvalue()


def edit(images: list[bytes], mask_png: bytes | None = None, **fields):
    uploads = Uploads([Upload(f"image[{i}]", data) for i, data in enumerate(images)],
                      Upload("mask", mask_png) if mask_png else None)
    req = ImageEditRequest(**{"prompt": "make it a todo app hero", **fields})
    return plan_edit(req, uploads, CATALOG, DEFAULT_PROMPT_LIMITS, MAX_PIXELS)


def test_edit_defaults():
    plan = edit([png(640, 480)])
    assert plan.spec.name == "gpt-image-1.5" and plan.operation == "edit"
    assert (plan.size, plan.quality, plan.output_format, plan.response_format) == ("1536x1024", "medium", "png",
                                                                                   "b64_json")
    assert plan.source.images[0].shape == (1024, 1536, 3) and plan.source.repaint is None
    assert plan.source.strength == EDIT_STRENGTH["low"] and plan.input_sizes == ((640, 480),)


def test_mask_becomes_the_repaint_area_at_the_output_size():
    plan = edit([png(512, 512)], mask(512, 512), size="1024x1024", input_fidelity="high")
    repaint = plan.source.repaint
    assert repaint.shape == (1024, 1024) and repaint.dtype == np.float32
    assert repaint[:500].min() == 1.0 and repaint[524:].max() == 0.0
    assert plan.source.strength == INPAINT_STRENGTH["high"]


@pytest.mark.parametrize("model, width, height, expected", [
    ("gpt-image-1", 1000, 1000, "1024x1024"),
    ("gpt-image-1", 600, 1000, "1024x1536"),
    ("gpt-image-2", 1280, 720, "1280x720"),
    ("gpt-image-2", 300, 300, "1024x1024"),  # too small for a custom size: the closest preset
    ("gpt-image-2", 5000, 2500, "3840x1920"),  # scaled under the edge cap
])
def test_auto_size_follows_the_first_image(model, width, height, expected):
    assert edit([png(width, height)], model=model, size="auto").size == expected


@pytest.mark.parametrize("kwargs, param, error", [
    (dict(model="dall-e-3"), "model", InvalidRequest),
    (dict(model="dall-e-2", input_fidelity="high"), "input_fidelity", InvalidRequest),
    (dict(model="gpt-image-1-mini", input_fidelity="low"), "input_fidelity", InvalidRequest),
    (dict(model="dall-e-2", output_format="png"), "output_format", InvalidRequest),
    (dict(partial_images=2), "partial_images", InvalidRequest),  # without stream
    (dict(size="1000x1000"), "size", InvalidRequest),
    (dict(prompt=None), "prompt", InvalidRequest),
])
def test_field_refusals(kwargs, param, error):
    with pytest.raises(error) as info:
        edit([png(256, 256)], **kwargs)
    assert info.value.param == param


def test_input_refusals():
    with pytest.raises(InvalidRequest) as info:
        edit([png(512, 512)], mask(256, 256))
    assert info.value.param == "mask" and "512x512" in info.value.message
    with pytest.raises(InvalidRequest) as info:
        edit([png(512, 512)], png(512, 512))  # no alpha channel
    assert info.value.param == "mask"
    with pytest.raises(InvalidRequest) as info:
        edit([png(512, 256)], model="dall-e-2")
    assert "square" in info.value.message
    with pytest.raises(InvalidRequest) as info:
        edit([png(64, 64)] * 2, model="dall-e-2")
    assert info.value.param == "image"
    noise = np.random.default_rng(0).integers(0, 256, (1400, 1400, 3), np.uint8)
    big = io.BytesIO()
    Image.fromarray(noise).save(big, "PNG", compress_level=0)
    with pytest.raises(PayloadTooLarge):
        edit([big.getvalue()], model="dall-e-2")


def test_dalle2_takes_the_image_transparency_as_mask():
    rgba = np.zeros((256, 256, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[:64, :, 3] = 0
    out = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(out, "PNG")
    plan = edit([out.getvalue()], model="dall-e-2", size="256x256")
    assert plan.source.repaint is not None and plan.source.repaint[:64].min() == 1.0
    assert plan.response_format == "url"


def test_variation_plan():
    plan = plan_variation(ImageVariationRequest(n=3, size="512x512"), Uploads([Upload("image", png(300, 300))]),
                          CATALOG, MAX_PIXELS)
    assert (plan.spec.name, plan.operation, plan.n, plan.size, plan.response_format) == (
        "dall-e-2", "variation", 3, "512x512", "url")
    assert plan.source.strength == VARIATION_STRENGTH and plan.source.images[0].shape == (512, 512, 3)
    with pytest.raises(InvalidRequest) as info:
        plan_variation(ImageVariationRequest(model="gpt-image-1"), Uploads([Upload("image", png(64, 64))]),
                       CATALOG, MAX_PIXELS)
    assert info.value.param == "model"
