"""`stream: true` on the wire, read raw with httpx against a live server (spec section 4).

The SDKs forgive a lot (they ignore `event:` names and comments); this checks the bytes themselves:
the content type, one JSON `data:` line per event whose `type` equals the event name, integer
`created_at`, no `error` key in normal events, heartbeat comments while the server is slow, `event:
error` once the stream has started, plain JSON errors before it does, and a server that shrugs off a
client hanging up mid-stream.
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import numpy as np
import openai
import pytest
from PIL import Image

from tests.conftest import CONFIG, LiveServer, start_server, stop_server
from tests.images import decode_b64
from tests.test_sdk_node import NODE_DIR, _node, _run

GENERATIONS, EDITS = "/v1/images/generations", "/v1/images/edits"
PROMPT = "a todo app with a checklist card, flat illustration"
ECHO = ("created_at", "size", "quality", "background", "output_format")


def png(width: int, height: int, channels: int = 3) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((height, width, channels), 200, np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def edit_form(mask: bytes | None = None, **fields: str) -> dict:
    """httpx's own multipart encoding (as the Python SDK sends it): keyword arguments for `client.stream`."""
    files = [("image", ("scene.png", png(256, 256), "image/png"))]
    if mask is not None:
        files.append(("mask", ("mask.png", mask, "image/png")))
    request = httpx.Request("POST", "http://x", files=files, data={"prompt": PROMPT, **fields})
    return {"content": request.read(), "headers": {"content-type": request.headers["content-type"]}}


@dataclass
class Stream:
    """What came over an event stream: the events in order, and the comment lines."""

    events: list[tuple[str | None, dict]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)

    @property
    def types(self) -> list[str]:
        return [data["type"] for _, data in self.events]


def read_sse(lines: Iterator[str]) -> Stream:
    """Parse SSE as the WHATWG rules (and the SDKs) do, checking that every `data:` line is JSON by itself."""
    stream, name, data = Stream(), None, []
    for line in lines:
        if line == "":  # dispatch
            if data:
                stream.events.append((name, json.loads("\n".join(data))))
            name, data = None, []
        elif line.startswith(":"):
            stream.comments.append(line)
        else:
            key, _, value = line.partition(":")
            value = value.removeprefix(" ")
            assert key in ("event", "data"), f"unexpected SSE field {key!r}"
            if key == "event":
                name = value
            else:
                parsed = json.loads(value)  # every data line is valid JSON on its own
                assert isinstance(parsed, dict) and isinstance(parsed.get("type"), str), value[:200]
                data.append(value)
    assert not data and name is None, "the stream ended in the middle of an event"
    return stream


def stream_post(client: httpx.Client, path: str, **kwargs) -> tuple[httpx.Response, Stream]:
    with client.stream("POST", path, **kwargs) as response:
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            response.read()
            return response, Stream()
        return response, read_sse(response.iter_lines())


def check_normal_events(stream: Stream, kind: str) -> None:
    for name, data in stream.events:
        assert name == data["type"], (name, data["type"])
        assert "error" not in data, data
        assert data["type"] in (f"{kind}.partial_image", f"{kind}.completed"), data["type"]
        assert set(ECHO) <= set(data)
        assert isinstance(data["created_at"], int) and abs(data["created_at"] - time.time()) < 600
        assert base64.b64decode(data["b64_json"], validate=True)
        if data["type"].endswith("partial_image"):
            assert isinstance(data["partial_image_index"], int)
        else:
            usage = data["usage"]
            assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
            assert set(usage["input_tokens_details"]) == {"text_tokens", "image_tokens"}
            assert "output_tokens_details" not in usage


def check_stream_headers(response: httpx.Response) -> None:
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-request-id"].startswith("req_")


def test_generation_stream_wire_format(http):
    body = {"model": "gpt-image-1", "prompt": PROMPT, "stream": True, "partial_images": 2, "quality": "low",
            "size": "1024x1024", "output_format": "webp"}
    response, stream = stream_post(http, GENERATIONS, json=body)
    check_stream_headers(response)
    assert stream.types == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    check_normal_events(stream, "image_generation")
    assert [data["partial_image_index"] for _, data in stream.events[:2]] == [0, 1]
    for _, data in stream.events:
        assert (data["size"], data["quality"], data["output_format"]) == ("1024x1024", "low", "webp")
        assert "image_index" not in data
        assert decode_b64(data["b64_json"]).format == "WEBP"


def test_n_images_each_get_their_events(http):
    body = {"model": "gpt-image-1", "prompt": PROMPT, "stream": True, "partial_images": 1, "n": 3, "quality": "low"}
    response, stream = stream_post(http, GENERATIONS, json=body)
    check_stream_headers(response)
    check_normal_events(stream, "image_generation")
    for index in range(3):
        own = [data for _, data in stream.events if data["image_index"] == index]
        assert [d["type"] for d in own] == ["image_generation.partial_image", "image_generation.completed"], index
        assert own[0]["partial_image_index"] == 0
    completed = [data for _, data in stream.events if data["type"].endswith("completed")]
    assert completed[0]["usage"]["input_tokens"] > 0  # the prompt is counted once, on the first image
    assert [c["usage"]["input_tokens"] for c in completed[1:]] == [0, 0]
    plain = http.post(GENERATIONS, json={k: v for k, v in body.items() if k not in ("stream", "partial_images")})
    assert plain.status_code == 200, plain.text
    assert sum(c["usage"]["total_tokens"] for c in completed) == plain.json()["usage"]["total_tokens"]


def test_partial_images_zero_is_one_completed_event(http):
    body = {"model": "gpt-image-1.5", "prompt": PROMPT, "stream": True, "partial_images": 0, "quality": "low"}
    response, stream = stream_post(http, GENERATIONS, json=body)
    check_stream_headers(response)
    assert stream.types == ["image_generation.completed"]
    check_normal_events(stream, "image_generation")


def test_edit_stream_wire_format(http):
    response, stream = stream_post(http, EDITS, **edit_form(stream="true", partial_images="1", quality="low"))
    check_stream_headers(response)
    assert stream.types == ["image_edit.partial_image", "image_edit.completed"]
    check_normal_events(stream, "image_edit")
    assert stream.events[1][1]["usage"]["input_tokens_details"]["image_tokens"] > 0
    not_streamed = http.post(EDITS, **edit_form(stream="false", quality="low"))
    assert not_streamed.status_code == 200 and not_streamed.headers["content-type"] == "application/json"


@pytest.mark.parametrize("path, kwargs, status, param, code", [
    (GENERATIONS, {"json": {"model": "gpt-image-1", "prompt": PROMPT, "stream": True, "size": "999x999"}},
     400, "size", "invalid_value"),
    (GENERATIONS, {"json": {"model": "dall-e-2", "prompt": PROMPT, "stream": True}}, 400, "stream",
     "unsupported_parameter"),
    (GENERATIONS, {"json": {"model": "gpt-image-1", "prompt": PROMPT, "stream": True, "partial_images": 4}},
     400, "partial_images", "integer_above_max_value"),
    (GENERATIONS, {"json": {"model": "gpt-image-1", "prompt": "a gory scene of a mangled corpse", "stream": True}},
     400, None, "moderation_blocked"),
    ("edit-mask", None, 400, "mask", "invalid_value"),
], ids=["bad-size", "dall-e-2", "partial-images-4", "moderation", "edit-bad-mask"])
def test_errors_before_streaming_are_json(http, path, kwargs, status, param, code):
    if path == "edit-mask":  # a mask of the wrong size
        path, kwargs = EDITS, edit_form(mask=png(64, 64, 4), stream="true")
    response, _ = stream_post(http, path, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"].startswith("req_")
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    assert (error["param"], error["code"]) == (param, code)


def _cancelled(client: httpx.Client) -> int:
    workers = client.get("/health").json()["workers"].values()
    return sum(w["cancelled_queued"] + w["cancelled_running"] + w["stopped_early"] for w in workers)


def test_client_disconnect_mid_stream_leaves_server_healthy(http):
    before = _cancelled(http)
    body = {"model": "gpt-image-2-alpha", "prompt": PROMPT, "stream": True, "partial_images": 3, "n": 4,
            "quality": "high", "size": "3840x2160"}
    with http.stream("POST", GENERATIONS, json=body) as response:
        check_stream_headers(response)
        lines = response.iter_lines()
        first = next(line for line in lines if line.startswith("data:"))
        assert json.loads(first[5:])["type"] == "image_generation.partial_image"
    # The connection is closed: the server must drop the rest of the work and keep serving.
    deadline = time.monotonic() + 15
    while _cancelled(http) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _cancelled(http) > before, "the abandoned stream's work was not cancelled"
    health = http.get("/health")
    assert health.status_code == 200
    assert all(w["queue_depth"] == 0 for w in health.json()["workers"].values())
    _, stream = stream_post(http, GENERATIONS, json={"model": "gpt-image-1", "prompt": PROMPT, "stream": True,
                                                     "quality": "low"})
    assert stream.types == ["image_generation.completed"]


# ---- servers that send heartbeats every 50 ms; one also gives each request only 0.3 s ---------------


def _start(tmp_path_factory: pytest.TempPathFactory, name: str, config: str) -> LiveServer:
    return start_server(tmp_path_factory.mktemp(name), config + CONFIG,
                        env={"DARKROOM_STREAM_HEARTBEAT_SECONDS": "0.05"})


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, LiveServer]]:
    live = {"heartbeat": _start(tmp_path_factory, "heartbeat", ""),
            "impatient": _start(tmp_path_factory, "impatient", "request_timeout_seconds = 0.3\n")}
    yield live
    alive = {name: server.process.poll() is None for name, server in live.items()}
    for server in live.values():
        stop_server(server)
    assert all(alive.values()), f"a server died: {alive}"


def client_for(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {server.api_key}"}, timeout=60)


def test_heartbeat_comments_while_the_engine_works(servers):
    """Three 4K images take the sketch engine most of a second (no partials): comments fill the silence."""
    body = {"model": "gpt-image-2-alpha", "prompt": PROMPT, "stream": True, "quality": "high", "size": "3840x2160",
            "n": 3}
    with client_for(servers["heartbeat"]) as client:
        response, stream = stream_post(client, GENERATIONS, json=body)
    check_stream_headers(response)
    assert stream.comments, "a slow request should get ': keep-alive' comments"
    assert set(stream.comments) == {": keep-alive"}
    assert stream.types == ["image_generation.completed"] * 3
    check_normal_events(stream, "image_generation")
    assert decode_b64(stream.events[0][1]["b64_json"]).size == (3840, 2160)


def test_error_after_the_stream_started_is_an_error_event(servers):
    """Ten 4K images cannot finish in 0.3 s: the 504 arrives as `event: error`, after the 200."""
    body = {"model": "gpt-image-2-alpha", "prompt": PROMPT, "stream": True, "quality": "high", "size": "3840x2160",
            "n": 10}
    with client_for(servers["impatient"]) as client:
        response, stream = stream_post(client, GENERATIONS, json=body)
        check_stream_headers(response)
        assert stream.events, "the stream ended without an event"
        name, data = stream.events[-1]
        assert name == data["type"] == "error"
        assert set(data) == {"type", "error"}
        error = data["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert (error["type"], error["code"]) == ("server_error", "timeout")
        assert client.get("/health").status_code == 200
        ok = client.post(GENERATIONS, json={"model": "dall-e-2", "prompt": PROMPT, "size": "256x256"})
        assert ok.status_code == 200, ok.text


NODE_STREAM_ERROR = """
import OpenAI from 'openai';
const client = new OpenAI({ baseURL: process.env.DARKROOM_BASE_URL, apiKey: process.env.DARKROOM_API_KEY, maxRetries: 0 });
const stream = await client.images.generate({ model: 'gpt-image-2-alpha', prompt: 'a todo app', stream: true,
  quality: 'high', size: '3840x2160', n: 10 });
try {
  for await (const event of stream) console.log('event', event.type);
  console.log('no error');
} catch (error) {
  console.log(JSON.stringify({ name: error.constructor.name, isAPIError: error instanceof OpenAI.APIError,
                               message: error.message, code: error.code ?? error.error?.code }));
}
"""


def test_both_sdks_raise_the_error_event(servers):
    """The error event is what OpenAI's SDKs treat as a failure: Python raises APIError, so does Node."""
    server = servers["impatient"]
    with openai.OpenAI(base_url=server.v1, api_key=server.api_key, max_retries=0, timeout=60) as client:
        stream = client.images.generate(model="gpt-image-2-alpha", prompt=PROMPT, stream=True, quality="high",
                                        size="3840x2160", n=10)
        with pytest.raises(openai.APIError) as info:
            list(stream)
    assert "did not finish within" in info.value.message
    assert info.value.body["code"] == "timeout"

    proc = _run([_node(), "--input-type=module", "-e", NODE_STREAM_ERROR], cwd=NODE_DIR,
                env={"DARKROOM_BASE_URL": server.v1, "DARKROOM_API_KEY": server.api_key})
    assert proc.returncode == 0, proc.stderr
    outcome = json.loads(proc.stdout.strip().splitlines()[-1])
    assert outcome["isAPIError"] and "did not finish within" in outcome["message"], outcome
