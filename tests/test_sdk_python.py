"""The seed scenario (hero images for a todo app) with the official Python SDK, sync and async,
against a live `darkroom serve`. Every image is decoded and checked for format, size and mode."""

from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import openai
import pytest
from PIL import Image

from .images import alpha_extremes, decode_b64

HERO = "A cheerful hero image for a todo app: a checklist card, blue and orange, flat illustration"


@dataclass(frozen=True)
class Case:
    name: str
    kwargs: dict
    format: str  # Pillow's name
    size: tuple[int, int]
    mode: str = "RGB"
    count: int = 1
    echo: dict = field(default_factory=dict)  # expected echo fields in the response


CASES = [
    Case("plain", dict(model="gpt-image-1.5", prompt=HERO), "PNG", (1024, 1024),
         echo=dict(size="1024x1024", quality="medium", background="opaque", output_format="png")),
    Case("n2", dict(model="gpt-image-1.5", prompt=HERO, n=2), "PNG", (1024, 1024), count=2),
    Case("portrait", dict(model="gpt-image-1.5", prompt=HERO, size="1024x1536"), "PNG", (1024, 1536),
         echo=dict(size="1024x1536")),
    Case("low", dict(model="gpt-image-1.5", prompt=HERO, quality="low"), "PNG", (1024, 1024), echo=dict(quality="low")),
    Case("high", dict(model="gpt-image-1.5", prompt=HERO, quality="high"), "PNG", (1024, 1024),
         echo=dict(quality="high")),
    Case("jpeg", dict(model="gpt-image-1.5", prompt=HERO, output_format="jpeg"), "JPEG", (1024, 1024),
         echo=dict(output_format="jpeg")),
    Case("webp50", dict(model="gpt-image-1.5", prompt=HERO, output_format="webp", output_compression=50), "WEBP",
         (1024, 1024), echo=dict(output_format="webp")),
    Case("transparent", dict(model="gpt-image-1.5", prompt=HERO, background="transparent", output_format="png"),
         "PNG", (1024, 1024), mode="RGBA", echo=dict(background="transparent")),
    Case("gpt2-custom", dict(model="gpt-image-2", prompt=HERO, size="1536x864"), "PNG", (1536, 864),
         echo=dict(size="1536x864")),
    Case("dalle3", dict(model="dall-e-3", prompt=HERO, response_format="b64_json"), "PNG", (1024, 1024)),
]


@dataclass(frozen=True)
class Refusal:
    name: str
    kwargs: dict
    error: type[openai.APIStatusError]
    code: str | None
    param: str | None


REFUSALS = [
    Refusal("gpt2-transparent", dict(model="gpt-image-2", prompt=HERO, background="transparent"),
            openai.BadRequestError, "invalid_value", "background"),
    Refusal("gpt2-1000", dict(model="gpt-image-2", prompt=HERO, size="1000x1000"),
            openai.BadRequestError, "invalid_value", "size"),
    Refusal("gpt2-4000", dict(model="gpt-image-2", prompt=HERO, size="4000x1000"),
            openai.BadRequestError, "invalid_value", "size"),
    Refusal("dalle3-n2", dict(model="dall-e-3", prompt=HERO, n=2), openai.BadRequestError, "invalid_value", "n"),
    Refusal("unknown-model", dict(model="gpt-image-9", prompt=HERO), openai.BadRequestError, "invalid_value", "model"),
    Refusal("jpeg-transparent", dict(model="gpt-image-1", prompt=HERO, background="transparent", output_format="jpeg"),
            openai.BadRequestError, "invalid_value", "background"),
    Refusal("stream-dalle2", dict(model="dall-e-2", prompt=HERO, stream=True), openai.BadRequestError,
            "unsupported_parameter", "stream"),
]


def check_case(case: Case, response, out: Path) -> list[bytes]:
    assert isinstance(response.created, int)
    assert len(response.data) == case.count
    for key, value in case.echo.items():
        assert getattr(response, key) == value, key
    saved = []
    for i, item in enumerate(response.data):  # the seed scenario: save each data[].b64_json to a file
        assert item.url is None and item.b64_json
        path = out / f"{case.name}-{i}.{case.format.lower()}"
        image = decode_b64(item.b64_json)
        path.write_bytes(base64.b64decode(item.b64_json))
        assert (image.format, image.size, image.mode) == (case.format, case.size, case.mode)
        saved.append(path.read_bytes())
    if case.mode == "RGBA":
        transparent, opaque = alpha_extremes(decode_b64(response.data[0].b64_json))
        assert transparent > 0 and opaque > 0
    if case.count > 1:
        assert len({hashlib.sha256(b).digest() for b in saved}) == case.count, "the n images must differ"
    return saved


@pytest.fixture()
def client(server):
    with openai.OpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0) as c:
        yield c


@pytest.fixture()
async def aclient(server):
    async with openai.AsyncOpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0) as c:
        yield c


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_seed_scenario_sync(client, case, tmp_path):
    check_case(case, client.images.generate(**case.kwargs), tmp_path)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_seed_scenario_async(aclient, case, tmp_path):
    check_case(case, await aclient.images.generate(**case.kwargs), tmp_path)


@pytest.mark.parametrize("refusal", REFUSALS, ids=lambda r: r.name)
def test_refusals_sync(client, refusal):
    with pytest.raises(refusal.error) as info:
        client.images.generate(**refusal.kwargs)
    assert (info.value.code, info.value.param) == (refusal.code, refusal.param)
    assert info.value.request_id and info.value.request_id.startswith("req_")


@pytest.mark.parametrize("refusal", REFUSALS, ids=lambda r: r.name)
async def test_refusals_async(aclient, refusal):
    with pytest.raises(refusal.error) as info:
        await aclient.images.generate(**refusal.kwargs)
    assert (info.value.code, info.value.param) == (refusal.code, refusal.param)
    assert info.value.request_id and info.value.request_id.startswith("req_")


def test_dalle2_default_url_downloads(client, server):
    """The classic flow: generate with dall-e-2 (url by default), then download the link."""
    response = client.images.generate(prompt=HERO)  # no model: dall-e-2, url
    assert response.usage is None and response.size is None
    url = response.data[0].url
    assert url.startswith(server.v1 + "/images/files/") and response.data[0].b64_json is None
    download = httpx.get(url)  # no API key: the signature is the credential
    assert download.status_code == 200 and download.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(download.content))
    assert (image.format, image.size) == ("PNG", (1024, 1024))


def test_dalle3_revised_prompt_and_no_usage(client):
    response = client.images.generate(model="dall-e-3", prompt=HERO, size="1792x1024", response_format="b64_json")
    assert response.data[0].revised_prompt == HERO
    assert response.usage is None and response.quality is None
    assert decode_b64(response.data[0].b64_json).size == (1792, 1024)


def test_usage_matches_published_token_table(client):
    response = client.images.generate(model="gpt-image-1", prompt="a todo app", quality="high", n=2)
    assert response.usage.output_tokens == 2 * 4160  # OpenAI's table: 1024x1024 high = 4160 tokens per image
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    assert response.usage.input_tokens_details.image_tokens == 0


def test_seed_extension_is_byte_identical(client):
    first = client.images.generate(model="gpt-image-1", prompt=HERO, extra_body={"seed": 42})
    second = client.images.generate(model="gpt-image-1", prompt=HERO, extra_body={"seed": 42})
    other = client.images.generate(model="gpt-image-1", prompt=HERO, extra_body={"seed": 43})
    assert first.data[0].b64_json == second.data[0].b64_json
    assert first.data[0].b64_json != other.data[0].b64_json


def test_wrong_key_is_authentication_error(server):
    with openai.OpenAI(base_url=server.v1, api_key="sk-wrong-key-123456", max_retries=0) as c:
        with pytest.raises(openai.AuthenticationError) as info:
            c.images.generate(model="gpt-image-1", prompt=HERO)
    assert info.value.code == "invalid_api_key" and info.value.request_id


def test_strict_response_validation_accepts_preset_responses(server):
    """With the SDK's strict mode on, responses for preset sizes must match OpenAI's types exactly."""
    with openai.OpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0,
                       _strict_response_validation=True) as c:
        response = c.images.generate(model="gpt-image-1.5", prompt=HERO, quality="auto", background="auto")
    assert (response.quality, response.background) == ("medium", "opaque")


def test_models_list_names_the_engine(client):
    models = {m.id: m for m in client.models.list()}
    assert {"dall-e-2", "dall-e-3", "gpt-image-1", "gpt-image-1.5", "gpt-image-2", "gpt-image-2-alpha"} <= set(models)
    assert models["gpt-image-1"].model_extra["engine"] == "sketch"
    assert "not an AI model" in models["gpt-image-1"].model_extra["description"]
    assert client.models.retrieve("gpt-image-2").id == "gpt-image-2"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_transparency_switch_per_model(client):
    response = client.images.generate(model="gpt-image-2-alpha", prompt=HERO, background="transparent",
                                      size="1536x864")
    image = decode_b64(response.data[0].b64_json)
    assert image.mode == "RGBA" and image.size == (1536, 864)
