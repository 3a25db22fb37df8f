"""Darkroom as a gateway: the official Python SDK (sync and async) against a live gateway whose models are
served by a live Darkroom upstream. With the same `seed`, every image is byte for byte the one the
upstream gives when asked directly."""

from __future__ import annotations

import base64
import io
import json
import re

import httpx
import numpy as np
import openai
import pytest
from PIL import Image

from ..conftest import darkroom_cli
from ..images import decode_b64
from ..test_sdk_python_edits import png, source_image, top_half_mask
from .conftest import GATEWAY_KEY, UPSTREAM_KEY

HERO = "A cheerful hero image for a todo app: a checklist card, blue and orange"


@pytest.fixture()
def via(gateway):
    with openai.OpenAI(base_url=gateway.v1, api_key=GATEWAY_KEY, max_retries=0, timeout=60) as c:
        yield c


@pytest.fixture()
def direct(upstream):
    with openai.OpenAI(base_url=upstream.v1, api_key=UPSTREAM_KEY, max_retries=0, timeout=60) as c:
        yield c


def seed_scenario(client: openai.OpenAI, **extra):
    return client.images.with_raw_response.generate(
        model="gpt-image-1", prompt=HERO, n=2, size="1536x1024", quality="high", output_format="webp",
        output_compression=80, background="opaque", moderation="low", extra_body={"seed": 4242}, **extra)


def test_seed_scenario_through_the_gateway_is_the_upstreams_own(via, direct):
    raw = seed_scenario(via)
    result = raw.parse()
    assert raw.headers["x-darkroom-served-by"] == "gpt-image-1"
    assert raw.headers["x-darkroom-upstream-request-id"].startswith("req_")
    assert raw.headers["x-request-id"] != raw.headers["x-darkroom-upstream-request-id"]  # its own id too
    assert re.fullmatch(r"\d+\.\d{6}", raw.headers["x-darkroom-cost-usd"])
    assert len(result.data) == 2
    for item in result.data:
        image = decode_b64(item.b64_json)
        assert (image.format, image.size) == ("WEBP", (1536, 1024))
    assert (result.size, result.quality, result.output_format, result.background) == (
        "1536x1024", "high", "webp", "opaque")
    theirs = seed_scenario(direct).parse()
    assert [d.b64_json for d in result.data] == [d.b64_json for d in theirs.data]
    assert result.usage == theirs.usage  # usage comes from the upstream


async def test_async_client_through_the_gateway(gateway, upstream):
    async with openai.AsyncOpenAI(base_url=gateway.v1, api_key=GATEWAY_KEY, max_retries=0) as via_async, \
            openai.AsyncOpenAI(base_url=upstream.v1, api_key=UPSTREAM_KEY, max_retries=0) as direct_async:
        ours = await via_async.images.generate(model="gpt-image-1.5", prompt=HERO, quality="low",
                                               extra_body={"seed": 9})
        theirs = await direct_async.images.generate(model="gpt-image-1.5", prompt=HERO, quality="low",
                                                    extra_body={"seed": 9})
    assert ours.data[0].b64_json == theirs.data[0].b64_json
    assert decode_b64(ours.data[0].b64_json).size == (1024, 1024)


def test_edit_with_mask_multipart_and_json(via, direct, gateway):
    kwargs = dict(model="gpt-image-1", prompt="Put a bright sun in the sky", size="1024x1024", quality="low",
                  extra_body={"seed": 5})
    ours = via.images.edit(image=("in.png", png(source_image())), mask=("mask.png", png(top_half_mask())), **kwargs)
    theirs = direct.images.edit(image=("in.png", png(source_image())), mask=("mask.png", png(top_half_mask())),
                                **kwargs)
    assert ours.data[0].b64_json == theirs.data[0].b64_json
    out = np.asarray(decode_b64(ours.data[0].b64_json))
    assert np.array_equal(out[512:], np.asarray(source_image())[512:])  # the kept half, exactly
    assert ours.usage.input_tokens_details.image_tokens == 765
    # The JSON variant reaches the upstream as a multipart form rebuilt from what the gateway parsed.
    data_url = "data:image/png;base64," + base64.b64encode(png(source_image())).decode()
    mask_url = "data:image/png;base64," + base64.b64encode(png(top_half_mask())).decode()
    response = httpx.post(f"{gateway.v1}/images/edits", headers={"Authorization": f"Bearer {GATEWAY_KEY}"},
                          json={"model": "gpt-image-1", "prompt": kwargs["prompt"], "size": "1024x1024",
                                "quality": "low", "seed": 5, "images": [{"image_url": data_url}],
                                "mask": {"image_url": mask_url}}, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["data"][0]["b64_json"] == theirs.data[0].b64_json


def test_two_input_images(via, direct):
    images = [("a.png", png(source_image(512, 512))), ("b.png", png(source_image(256, 256)))]
    kwargs = dict(model="gpt-image-1", prompt="Combine them into a hero image", size="1024x1024", quality="low",
                  extra_body={"seed": 6})
    assert via.images.edit(image=images, **kwargs).data[0].b64_json == \
        direct.images.edit(image=images, **kwargs).data[0].b64_json


def test_variation_url_is_rehosted_behind_the_gateways_own_link(via, direct, gateway, upstream):
    square = png(source_image(256, 256))
    ours = via.images.create_variation(model="dall-e-2", image=("in.png", square), size="256x256",
                                       extra_body={"seed": 3})
    theirs = direct.images.create_variation(model="dall-e-2", image=("in.png", square), size="256x256",
                                            response_format="b64_json", extra_body={"seed": 3})
    url = ours.data[0].url
    assert url.startswith(f"{gateway.v1}/images/files/") and "signature=" in url
    assert upstream.base_url not in url
    fetched = httpx.get(url, timeout=30)
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
    assert fetched.content == base64.b64decode(theirs.data[0].b64_json)


def test_generation_links_can_pass_through(via, upstream):
    result = via.images.generate(model="dall-e-2-links", prompt=HERO, size="256x256")
    assert result.data[0].url.startswith(f"{upstream.v1}/images/files/")


def test_stream_with_partials_is_relayed(via, direct):
    kwargs = dict(model="gpt-image-1", prompt=HERO, size="1024x1024", quality="low", stream=True, partial_images=2,
                  extra_body={"seed": 11})
    ours = [event for event in via.images.generate(**kwargs)]
    theirs = [event for event in direct.images.generate(**kwargs)]
    assert [e.type for e in ours] == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    assert [e.partial_image_index for e in ours[:2]] == [0, 1]
    assert [e.b64_json for e in ours] == [e.b64_json for e in theirs]
    assert decode_b64(ours[-1].b64_json).size == (1024, 1024)
    assert ours[-1].usage.output_tokens == theirs[-1].usage.output_tokens


def test_stream_edit_is_relayed(via):
    events = list(via.images.edit(model="gpt-image-1", image=("in.png", png(source_image())),
                                  prompt="Make it a sunny day", stream=True, partial_images=1, size="1024x1024"))
    assert [e.type for e in events] == ["image_edit.partial_image", "image_edit.completed"]


def test_a_route_falls_back_when_its_first_target_cannot_be_reached(via, gateway):
    raw = via.images.with_raw_response.generate(model="hero", prompt=HERO, quality="low", extra_body={"seed": 1})
    assert raw.headers["x-darkroom-served-by"] == "gpt-image-1"
    assert decode_b64(raw.parse().data[0].b64_json).size == (1024, 1024)
    metrics = httpx.get(f"{gateway.base_url}/metrics").text
    assert re.search(r'darkroom_route_fallbacks_total\{from_target="nowhere",route="hero",to_target="gpt-image-1"\} '
                     r'[1-9]', metrics), metrics
    health = httpx.get(f"{gateway.base_url}/health").json()
    assert health["routes"]["hero"] == ["nowhere", "gpt-image-1"]
    assert health["targets"]["nowhere"]["failures_in_a_row"] >= 1
    models = {m.id: m for m in via.models.list().data}
    assert models["hero"].model_extra["engine"] == "route"
    assert models["hero"].model_extra["targets"] == ["nowhere", "gpt-image-1"]
    assert models["gpt-image-1"].model_extra["engine"] == "upstream"


def test_bad_requests_cost_no_upstream_call(via, upstream):
    before = upstream.log().count('"path":"/v1/images/generations"')
    with pytest.raises(openai.BadRequestError) as caught:
        via.images.generate(model="gpt-image-1", prompt=HERO, size="333x333")
    assert caught.value.code == "invalid_value" and caught.value.param == "size"
    with pytest.raises(openai.BadRequestError) as caught:
        via.images.generate(model="gpt-image-1", prompt=HERO, extra_body={"style": "vivid"})
    assert caught.value.code == "unsupported_parameter"
    assert upstream.log().count('"path":"/v1/images/generations"') == before


def test_the_upstreams_moderation_block_passes_through(via):
    # Local moderation is off for upstream models (their provider moderates): the upstream's own 400,
    # with its type, code and moderation_details, reaches the client as it was.
    with pytest.raises(openai.BadRequestError) as caught:
        via.images.generate(model="gpt-image-1", prompt="explicit porn of a naked woman")
    error = caught.value
    assert (error.type, error.code) == ("image_generation_user_error", "moderation_blocked")
    assert error.body["moderation_details"]["moderation_stage"] == "input"
    assert "sexual" in error.body["moderation_details"]["categories"]
    assert error.response.headers["x-darkroom-upstream-request-id"].startswith("req_")


def test_unreachable_upstream_is_a_502(via):
    with pytest.raises(openai.InternalServerError) as caught:
        via.images.generate(model="nowhere", prompt=HERO)
    assert caught.value.status_code == 502 and caught.value.code == "upstream_unreachable"
    assert caught.value.response.headers["x-request-id"].startswith("req_")


def test_usage_and_costs_reach_the_ledger_and_the_key_never_leaks(via, gateway):
    raw = via.images.with_raw_response.generate(model="gpt-image-1", prompt="ledger check", quality="medium",
                                                size="1024x1024")
    request_id = raw.headers["x-request-id"]
    usage = raw.parse().usage
    listing = darkroom_cli(gateway, "usage", "--requests")
    assert listing.returncode == 0, listing.stderr
    line = next(line for line in listing.stdout.splitlines() if request_id in line)
    assert f" {usage.output_tokens} " in line
    for text in (gateway.log(), httpx.get(f"{gateway.base_url}/metrics").text,
                 json.dumps(httpx.get(f"{gateway.base_url}/health").json()), raw.text, listing.stdout):
        assert UPSTREAM_KEY not in text
        assert UPSTREAM_KEY[-8:] not in text


def test_pictures_are_real(via):
    result = via.images.generate(model="gpt-image-1", prompt="a blue sky over an orange field", quality="low",
                                 output_format="jpeg", output_compression=50)
    image = Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json)))
    assert image.format == "JPEG" and image.size == (1024, 1024)
    assert np.asarray(image).std() > 5  # a picture, not a flat fill


def test_local_moderation_when_the_model_asks_for_it(via, upstream):
    before = upstream.log().count('"path":"/v1/images/generations"')
    with pytest.raises(openai.BadRequestError) as caught:
        via.images.generate(model="guarded", prompt="explicit porn of a naked woman")
    assert caught.value.code == "moderation_blocked"
    assert "x-darkroom-upstream-request-id" not in caught.value.response.headers  # blocked here, before any call
    assert upstream.log().count('"path":"/v1/images/generations"') == before
    raw = via.images.with_raw_response.generate(model="guarded", prompt=HERO, quality="low", stream=False)
    assert float(raw.headers["x-darkroom-moderation-ms"]) > 0  # the prompt and the returned image were checked
    events = list(via.images.generate(model="guarded", prompt=HERO, quality="low", stream=True, partial_images=1))
    assert [e.type for e in events] == ["image_generation.partial_image", "image_generation.completed"]
