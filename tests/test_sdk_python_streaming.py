"""Streaming (`stream=True`) with the official Python SDK, sync and async, against the live server."""

from __future__ import annotations

import io

import numpy as np
import openai
import pytest
from PIL import Image

from .images import decode_b64

HERO = "Marketing hero image for a todo app: a checklist card on a phone, soft morning colours"
ECHO_FIELDS = ("created_at", "size", "quality", "background", "output_format")


@pytest.fixture()
def client(server):
    with openai.OpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0, timeout=60) as c:
        yield c


def check_echo(event, size: str, quality: str, output_format: str = "png") -> None:
    assert isinstance(event.created_at, int) and event.created_at > 1_700_000_000
    assert (event.size, event.quality, event.output_format) == (size, quality, output_format)
    assert event.background in ("opaque", "transparent")


def test_two_partials_then_completed(client):
    events = list(client.images.generate(model="gpt-image-1", prompt=HERO, stream=True, partial_images=2,
                                         size="1024x1024", quality="low"))
    assert [e.type for e in events] == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    assert [e.partial_image_index for e in events[:2]] == [0, 1]
    pictures = [np.asarray(decode_b64(e.b64_json)) for e in events]
    for event in events:
        check_echo(event, "1024x1024", "low")
    assert all(p.shape == (1024, 1024, 3) for p in pictures)
    # Real intermediate states: each differs from the next and from the final image.
    assert not np.array_equal(pictures[0], pictures[1]) and not np.array_equal(pictures[1], pictures[2])
    usage = events[-1].usage
    assert usage.output_tokens == 272 and usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.image_tokens == 0 and usage.input_tokens_details.text_tokens > 0


def test_zero_partials_is_one_completed_event(client):
    events = list(client.images.generate(model="gpt-image-1", prompt=HERO, stream=True, partial_images=0,
                                         output_format="jpeg", output_compression=60, size="1536x1024"))
    assert [e.type for e in events] == ["image_generation.completed"]
    image = decode_b64(events[0].b64_json)
    assert image.format == "JPEG" and image.size == (1536, 1024)
    check_echo(events[0], "1536x1024", "medium", "jpeg")


def test_stream_matches_the_same_request_without_streaming(client):
    """Same seed, same pixels: the final streamed image is the non-streaming one."""
    extra = {"seed": 1234}
    streamed = list(client.images.generate(model="gpt-image-1", prompt=HERO, stream=True, partial_images=3,
                                           size="1024x1024", quality="medium", extra_body=extra))
    plain = client.images.generate(model="gpt-image-1", prompt=HERO, size="1024x1024", quality="medium",
                                   extra_body=extra)
    assert len(streamed) == 4
    assert np.array_equal(np.asarray(decode_b64(streamed[-1].b64_json)), np.asarray(decode_b64(plain.data[0].b64_json)))
    assert streamed[-1].usage.total_tokens == plain.usage.total_tokens


def test_n_images_each_get_their_own_events(client):
    events = list(client.images.generate(model="gpt-image-1", prompt=HERO, n=2, stream=True, partial_images=1,
                                         size="1024x1024", quality="low"))
    completed = [e for e in events if e.type == "image_generation.completed"]
    partials = [e for e in events if e.type == "image_generation.partial_image"]
    assert sorted(e.image_index for e in completed) == [0, 1]  # Darkroom's addition for n > 1
    assert sorted((e.image_index, e.partial_image_index) for e in partials) == [(0, 0), (1, 0)]
    assert events[-2:] == completed
    first, second = (np.asarray(decode_b64(e.b64_json)) for e in completed)
    assert not np.array_equal(first, second)
    # The events' usage adds up to the request's: input tokens once, output tokens per image.
    assert completed[0].usage.output_tokens == completed[1].usage.output_tokens == 272
    assert completed[1].usage.input_tokens == 0


def test_transparent_stream(client, server):
    events = list(client.images.generate(model="gpt-image-2-alpha", prompt="a checklist icon", stream=True,
                                         partial_images=1, background="transparent", size="1024x1024",
                                         output_format="webp"))
    assert [e.background for e in events] == ["transparent"] * 2
    for event in events:
        image = decode_b64(event.b64_json)
        assert image.format == "WEBP" and image.mode == "RGBA"


def test_error_before_the_stream_is_a_normal_error(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="gpt-image-1", prompt=HERO, stream=True, size="999x999")
    assert info.value.code == "invalid_value" and info.value.param == "size"


async def test_async_client_streams(server):
    async with openai.AsyncOpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0, timeout=60) as client:
        stream = await client.images.generate(model="gpt-image-1", prompt=HERO, stream=True, partial_images=2,
                                              size="1024x1024", quality="low")
        events = [event async for event in stream]
    assert [e.type for e in events] == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    assert decode_b64(events[-1].b64_json).size == (1024, 1024)


async def test_async_streaming_edit(server):
    source = io.BytesIO()
    Image.new("RGB", (512, 512), (40, 120, 200)).save(source, "PNG")
    async with openai.AsyncOpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0, timeout=60) as client:
        stream = await client.images.edit(model="gpt-image-1", image=("in.png", source.getvalue()), prompt=HERO,
                                          stream=True, partial_images=2, size="1024x1024", quality="low")
        events = [event async for event in stream]
    assert [e.type for e in events] == ["image_edit.partial_image"] * 2 + ["image_edit.completed"]
    assert events[-1].usage.input_tokens_details.image_tokens > 0
    assert decode_b64(events[-1].b64_json).size == (1024, 1024)
