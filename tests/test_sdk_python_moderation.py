"""Moderation through the official Python SDK against live servers.

- the labelled prompts (tests/moderation/prompts.py), each blocked or allowed as labelled at `auto`
  and at `low`, with OpenAI's `moderation_blocked` error and `moderation_details`;
- input images of edits, checked with nudenet (a drawing the tests make, see pictures.py);
- output images: a server whose `auto` nudity threshold is set so low that every picture is blocked,
  which shows that a blocked output is never returned, streamed, kept or linked, and that the
  ledger records the block; `low` keeps its own threshold;
- OpenAI's moderation endpoint (a fake over HTTP) for prompts and images, failing closed and open;
- `moderation_enabled = false`: nothing is checked, and the server warns at start.
"""

from __future__ import annotations

import asyncio
import io
import sqlite3
import time

import openai
import pytest
from PIL import Image

from .conftest import LiveServer, darkroom_cli, start_server, stop_server
from .images import decode_b64
from .moderation.fake_openai import FakeModeration
from .moderation.pictures import nude_drawing
from .moderation.prompts import LABELLED

KEY = "sk-moderation-test"


def client(server: LiveServer, **options) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0, **options)


def png(pixels) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def blocking_outputs(tmp_path_factory) -> LiveServer:
    """Every output is blocked at `auto` (nudity threshold 0); `low` keeps its default threshold."""
    live = start_server(tmp_path_factory.mktemp("moderation-out"), f"""
api_keys = ["{KEY}"]
store_all = true
moderation_auto = {{ harassment = 0.85, nudity = 0.0 }}
""", api_key=KEY)
    yield live
    stop_server(live)


# ---- prompts ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("level", ["auto", "low"])
async def test_labelled_prompts_are_blocked_or_allowed_as_labelled(server, level):
    sdk = openai.AsyncOpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0)
    gate = asyncio.Semaphore(4)

    async def outcome(prompt: str) -> tuple[str, ...]:
        async with gate:
            try:
                result = await sdk.images.generate(model="gpt-image-1-mini", prompt=prompt, moderation=level,
                                                   size="1024x1024", quality="low", output_format="jpeg")
            except openai.BadRequestError as exc:
                assert exc.code == "moderation_blocked" and exc.type == "image_generation_user_error", exc.body
                details = exc.body["moderation_details"]
                assert details["moderation_stage"] == "input"
                assert exc.response.headers["x-request-id"] in exc.body["message"]
                return tuple(details["categories"])
            assert decode_b64(result.data[0].b64_json).size == (1024, 1024)
            return ()

    got = await asyncio.gather(*(outcome(item.prompt) for item in LABELLED))
    await sdk.close()
    wrong = [(item.prompt, sorted(getattr(item, level)), list(found)) for item, found in zip(LABELLED, got)
             if set(found) != set(getattr(item, level))]
    assert not wrong, f"{len(wrong)} of {len(LABELLED)} prompts moderated differently than labelled at {level}: {wrong}"
    assert sum(bool(found) for found in got) >= 30  # the set really exercises blocking


def test_the_message_names_the_request_id(server):
    with pytest.raises(openai.BadRequestError) as info:
        client(server).images.generate(model="gpt-image-1", prompt="a decapitated body in a gory scene")
    assert info.value.response.headers["x-request-id"] in info.value.body["message"]
    assert info.value.body["moderation_details"]["categories"] == ["violence/graphic"]


def test_dall_e_models_get_openais_dall_e_error(server):
    with pytest.raises(openai.BadRequestError) as info:
        client(server).images.generate(model="dall-e-3", prompt="a decapitated body in a gory scene")
    assert info.value.code == "content_policy_violation" and "moderation_details" not in info.value.body


# ---- input images ----------------------------------------------------------------------------------

@pytest.mark.parametrize("level", ["auto", "low"])
def test_an_edit_of_a_nude_picture_is_blocked_at_the_input(server, level):
    with pytest.raises(openai.BadRequestError) as info:
        client(server).images.edit(model="gpt-image-1", image=("nude.png", png(nude_drawing(512)), "image/png"),
                                   prompt="make it a watercolour", extra_body={"moderation": level})
    assert info.value.code == "moderation_blocked"
    assert info.value.body["moderation_details"] == {"moderation_stage": "input", "categories": ["sexual"]}


def test_nudity_with_a_prompt_naming_minors_is_sexual_minors(server):
    with pytest.raises(openai.BadRequestError) as info:
        client(server).images.edit(model="gpt-image-1", image=("nude.png", png(nude_drawing(512)), "image/png"),
                                   prompt="make her look like a teenage girl", extra_body={"moderation": "low"})
    assert "sexual/minors" in info.value.body["moderation_details"]["categories"]


def test_a_variation_of_a_nude_picture_is_refused(server):
    with pytest.raises(openai.BadRequestError) as info:
        client(server).images.create_variation(image=("nude.png", png(nude_drawing(256)), "image/png"))
    assert info.value.code == "content_policy_violation"


def test_an_edit_of_an_ordinary_picture_passes(server):
    plain = Image.new("RGB", (512, 512), (40, 120, 200))
    buffer = io.BytesIO()
    plain.save(buffer, "PNG")
    result = client(server).images.edit(model="gpt-image-1", image=("plain.png", buffer.getvalue(), "image/png"),
                                        prompt="add a checklist card")
    assert decode_b64(result.data[0].b64_json).size == (1024, 1024)  # gpt-image sizes: auto -> square


# ---- output images -----------------------------------------------------------------------------------

def test_a_blocked_output_is_never_returned_kept_or_linked(blocking_outputs):
    sdk = client(blocking_outputs)
    with pytest.raises(openai.BadRequestError) as info:
        sdk.images.generate(model="gpt-image-1", prompt="a todo app hero image", n=2, quality="low")
    request_id = info.value.response.headers["x-request-id"]
    assert info.value.body["moderation_details"] == {"moderation_stage": "output", "categories": ["sexual"]}
    assert request_id in info.value.body["message"]
    # store_all keeps every image; none of this request's was kept, and no file was written.
    assert sdk.get("/images/stored", cast_to=object)["data"] == []
    images = blocking_outputs.log_path.parent / "data" / "images"
    assert not images.exists() or not any(p.is_file() for p in images.rglob("*"))
    # The ledger records the block (stage and categories).
    assert ledger_row(blocking_outputs, request_id) == (400, "moderation_blocked", "output:sexual")
    listing = darkroom_cli(blocking_outputs, "usage", "--requests")
    assert "moderation_blocked(output:sexual)" in listing.stdout


def ledger_row(server: LiveServer, request_id: str) -> tuple | None:
    """The request's (status, error_code, moderation) in the ledger, which writes within ~0.2 s."""
    deadline = time.monotonic() + 5
    while True:
        with sqlite3.connect(server.log_path.parent / "data" / "darkroom.db") as db:
            rows = db.execute("SELECT status, error_code, moderation FROM usage WHERE request_id = ?",
                              (request_id,)).fetchall()
        if rows or time.monotonic() > deadline:
            return rows[0] if rows else None
        time.sleep(0.1)


def test_a_blocked_output_is_not_streamed_either(blocking_outputs):
    events = []
    with pytest.raises(openai.APIError) as info:
        for event in client(blocking_outputs).images.generate(model="gpt-image-1", prompt="a todo app hero image",
                                                              stream=True, partial_images=2, quality="low"):
            events.append(event)
    assert events == []  # not even a partial image
    assert "moderation_blocked" in str(info.value.body) or getattr(info.value, "code", None) == "moderation_blocked"


def test_low_has_its_own_threshold(blocking_outputs):
    result = client(blocking_outputs).images.generate(model="gpt-image-1", prompt="a todo app hero image",
                                                      moderation="low", quality="low")
    assert decode_b64(result.data[0].b64_json).size == (1024, 1024)


# ---- OpenAI's moderation endpoint ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fake():
    with FakeModeration(slow_seconds=3.0) as fake:
        yield fake


def remote_server(tmp_path_factory, fake: FakeModeration, on_error: str) -> LiveServer:
    return start_server(tmp_path_factory.mktemp(f"moderation-openai-{on_error}"), f"""
api_keys = ["{KEY}"]
moderation_openai_api_key = "sk-upstream-moderation"
moderation_openai_base_url = "{fake.base_url}"
moderation_openai_timeout_seconds = 1.0
moderation_openai_on_error = "{on_error}"
""", api_key=KEY)


@pytest.fixture(scope="module")
def closed(tmp_path_factory, fake):
    live = remote_server(tmp_path_factory, fake, "block")
    yield live
    stop_server(live)


@pytest.fixture(scope="module")
def opened(tmp_path_factory, fake):
    live = remote_server(tmp_path_factory, fake, "allow")
    yield live
    stop_server(live)


def test_openai_flags_block_prompts_with_its_categories(closed, fake):
    with pytest.raises(openai.BadRequestError) as info:
        client(closed).images.generate(model="gpt-image-1", prompt="a city street FLAG:violence")
    assert info.value.body["moderation_details"] == {"moderation_stage": "input", "categories": ["violence"]}
    assert any(call["input"] == "a city street FLAG:violence" for call in fake.calls)


def test_openai_checks_output_images(closed, fake):
    fake.image_verdict = {"violence/graphic": (True, 0.96)}
    try:
        with pytest.raises(openai.BadRequestError) as info:
            client(closed).images.generate(model="gpt-image-1", prompt="a city street at dusk", quality="low")
    finally:
        fake.image_verdict = {}
    assert info.value.body["moderation_details"] == {"moderation_stage": "output", "categories": ["violence/graphic"]}
    result = client(closed).images.generate(model="gpt-image-1", prompt="a city street at dusk", quality="low")
    assert decode_b64(result.data[0].b64_json).size == (1024, 1024)


def test_failing_closed_is_a_503_the_sdk_can_retry(closed):
    with pytest.raises(openai.InternalServerError) as info:
        client(closed).images.generate(model="gpt-image-1", prompt="a city street SLOW")
    assert info.value.status_code == 503 and info.value.code == "moderation_unavailable"
    assert info.value.response.headers["retry-after"]


def test_failing_open_lets_the_local_checks_decide(opened):
    result = client(opened).images.generate(model="gpt-image-1", prompt="a city street FAIL", quality="low")
    assert decode_b64(result.data[0].b64_json).size == (1024, 1024)
    with pytest.raises(openai.BadRequestError) as info:
        client(opened).images.generate(model="gpt-image-1", prompt="a gory city street FAIL")
    assert info.value.body["moderation_details"]["categories"] == ["violence/graphic"]
    assert "OpenAI moderation failed" in opened.log()


# ---- switched off --------------------------------------------------------------------------------------

def test_switching_moderation_off_is_explicit_and_logged(tmp_path_factory):
    live = start_server(tmp_path_factory.mktemp("moderation-off"),
                        f'api_keys = ["{KEY}"]\nmoderation_enabled = false\n', api_key=KEY)
    try:
        result = client(live).images.generate(model="gpt-image-1", prompt="a gory scene", quality="low")
        assert decode_b64(result.data[0].b64_json).size == (1024, 1024)
        edit = client(live).images.edit(model="gpt-image-1", image=("n.png", png(nude_drawing(512)), "image/png"),
                                        prompt="make it a watercolour")
        assert decode_b64(edit.data[0].b64_json).size == (1024, 1024)
    finally:
        stop_server(live)
    assert "Moderation is switched off" in live.log()
