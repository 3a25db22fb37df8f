"""`images.edit` and `images.create_variation` with the official Python SDK against the live server."""

from __future__ import annotations

import base64
import io

import httpx
import numpy as np
import openai
import pytest
from PIL import Image

from .images import decode_b64

PROMPT = "Turn this into a hero image for a todo app, with a bright blue sky"


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def source_image(width: int = 1024, height: int = 1024) -> Image.Image:
    """A picture with structure: a gradient with a dark square, so changes are easy to see."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    rgb = np.stack([x + 0 * y, y + 0 * x, 255 - (x + y) / 2], axis=-1).astype(np.uint8)
    rgb[height // 4:height // 2, width // 4:width // 2] = (20, 20, 20)
    return Image.fromarray(rgb)


def top_half_mask(width: int = 1024, height: int = 1024) -> Image.Image:
    """Transparent (edit) in the top half, opaque (keep) below."""
    alpha = np.full((height, width), 255, np.uint8)
    alpha[: height // 2] = 0
    return Image.fromarray(np.dstack([np.zeros((height, width, 3), np.uint8), alpha]), "RGBA")


@pytest.fixture()
def client(server):
    with openai.OpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0, timeout=60) as c:
        yield c


def test_edit_one_image(client):
    result = client.images.edit(model="gpt-image-1", image=("in.png", png(source_image())), prompt=PROMPT,
                                size="1024x1024", quality="low")
    out = np.asarray(decode_b64(result.data[0].b64_json))
    assert out.shape == (1024, 1024, 3)
    assert not np.array_equal(out, np.asarray(source_image()))
    assert result.usage.input_tokens_details.image_tokens == 765  # one 1024x1024 input (see tokens.py)
    assert (result.size, result.quality, result.output_format) == ("1024x1024", "low", "png")


def test_edit_with_mask_keeps_every_unmasked_pixel(client):
    source = np.asarray(source_image())
    result = client.images.edit(model="gpt-image-1", image=("in.png", png(source_image())),
                                mask=("mask.png", png(top_half_mask())), prompt=PROMPT, size="1024x1024",
                                extra_body={"seed": 7})
    out = np.asarray(decode_b64(result.data[0].b64_json))
    assert np.array_equal(out[512:], source[512:])  # opaque in the mask: kept exactly
    changed = np.abs(out[:512].astype(int) - source[:512]).sum(axis=-1) > 30
    assert changed.mean() > 0.5  # transparent in the mask: repainted


def test_edit_with_a_list_of_images(client):
    first, second = source_image(), Image.new("RGB", (800, 600), (250, 40, 40))
    result = client.images.edit(model="gpt-image-1", image=[("a.png", png(first)), ("b.jpg", _jpeg(second))],
                                prompt=PROMPT, n=2, size="1536x1024", output_format="webp")
    assert len(result.data) == 2
    for item in result.data:
        image = decode_b64(item.b64_json)
        assert image.format == "WEBP" and image.size == (1536, 1024)
    assert result.usage.input_tokens_details.image_tokens == 765 + 765  # 1024x1024 and 800x600: 4 tiles each


def test_edit_size_auto_follows_the_input(client):
    result = client.images.edit(model="gpt-image-1", image=("in.png", png(source_image(1200, 700))), prompt=PROMPT)
    assert decode_b64(result.data[0].b64_json).size == (1536, 1024)
    result = client.images.edit(model="gpt-image-2", image=("in.png", png(source_image(1200, 700))), prompt=PROMPT,
                                size="auto")
    assert decode_b64(result.data[0].b64_json).size == (1200, 688)  # its own size, in multiples of 16


def test_edit_is_reproducible_with_a_seed(client):
    def edit() -> bytes:
        result = client.images.edit(model="gpt-image-1", image=("in.png", png(source_image())), prompt=PROMPT,
                                    size="1024x1024", quality="low", extra_body={"seed": 99})
        return base64.b64decode(result.data[0].b64_json)
    assert edit() == edit()


def test_edit_default_model_is_gpt_image_1_5(client, server):
    raw = client.images.with_raw_response.edit(image=("in.png", png(source_image(256, 256))), prompt=PROMPT)
    result = raw.parse()
    assert result.usage is not None and result.data[0].b64_json  # a GPT model: b64 and usage
    assert "x-darkroom-seed" in raw.headers


def test_input_fidelity_changes_how_much_survives(client):
    source = np.asarray(source_image()).astype(int)

    def distance(fidelity: str) -> float:
        result = client.images.edit(model="gpt-image-1", image=("in.png", png(source_image())), prompt=PROMPT,
                                    input_fidelity=fidelity, size="1024x1024", extra_body={"seed": 5})
        return float(np.abs(np.asarray(decode_b64(result.data[0].b64_json)).astype(int) - source).mean())
    assert distance("high") < distance("low")


def test_dalle2_edit_uses_the_image_transparency_and_answers_with_a_url(client):
    rgba = np.dstack([np.asarray(source_image(512, 512)), np.full((512, 512), 255, np.uint8)])
    rgba[:256, :, 3] = 0  # the top half is transparent: the area to edit
    result = client.images.edit(model="dall-e-2", image=("in.png", png(Image.fromarray(rgba, "RGBA"))),
                                prompt=PROMPT, size="512x512", extra_body={"seed": 3})
    assert result.usage is None and result.data[0].url
    fetched = httpx.get(result.data[0].url, timeout=10)
    out = np.asarray(Image.open(io.BytesIO(fetched.content)).convert("RGB"))
    assert out.shape == (512, 512, 3) and np.array_equal(out[256:], rgba[256:, :, :3])


def test_json_edit_with_a_data_url(client, http):
    data_url = "data:image/png;base64," + base64.b64encode(png(source_image(512, 512))).decode()
    response = http.post("/v1/images/edits", json={"model": "gpt-image-1", "prompt": PROMPT, "size": "1024x1024",
                                                   "images": [{"image_url": data_url}], "quality": "low"})
    assert response.status_code == 200, response.text
    assert decode_b64(response.json()["data"][0]["b64_json"]).size == (1024, 1024)


def test_variations(client):
    square = png(source_image(512, 512))
    result = client.images.create_variation(image=("in.png", square), n=2, size="256x256",
                                            response_format="b64_json")
    images = [np.asarray(decode_b64(item.b64_json)) for item in result.data]
    assert [i.shape for i in images] == [(256, 256, 3)] * 2 and not np.array_equal(images[0], images[1])
    linked = client.images.create_variation(image=("in.png", square), model="dall-e-2")  # url by default
    fetched = httpx.get(linked.data[0].url, timeout=10)
    assert fetched.status_code == 200 and Image.open(io.BytesIO(fetched.content)).size == (1024, 1024)


@pytest.mark.parametrize("call, param", [
    (lambda c: c.images.edit(model="gpt-image-1", image=("in.png", png(source_image())), prompt=PROMPT,
                             mask=("m.png", png(top_half_mask(512, 512)))), "mask"),
    (lambda c: c.images.edit(model="dall-e-3", image=("in.png", png(source_image())), prompt=PROMPT), "model"),
    (lambda c: c.images.edit(model="gpt-image-1-mini", image=("in.png", png(source_image())), prompt=PROMPT,
                             input_fidelity="high"), "input_fidelity"),
    (lambda c: c.images.create_variation(image=("in.png", png(source_image(600, 400)))), "image"),
    (lambda c: c.images.create_variation(image=("in.png", png(source_image(256, 256))), model="gpt-image-1"),
     "model"),
    (lambda c: c.images.edit(model="gpt-image-1", image=("in.png", b"not an image"), prompt=PROMPT), "image"),
])
def test_refusals(client, call, param):
    with pytest.raises(openai.BadRequestError) as info:
        call(client)
    assert info.value.param == param and info.value.body["message"]


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()
