"""A fault-injecting OpenAI-compatible image host for the gateway tests: a raw asyncio HTTP/1.1 server on
127.0.0.1, run in a thread of the test process, so a test scripts its answers and reads what it got.

    with FaultyUpstream() as fake:             # or FaultyUpstream(azure=True, api_key="...")
        fake.script("429", "ok")                # the next answers, in order; then "ok"
        ... requests ...
        fake.calls                              # [Call(method, path, query, headers, body)], in order
        fake.count("/v1/images/generations")
        fake.disconnects                        # streams whose client went away before their end

Steps: "ok"; "malformed" (200, not JSON); "html" (502, an HTML page); "empty" (200, `data: []`);
"drop" (read the request, close the connection without a byte); "stall" (read it, never answer);
Status(code, error={...}, headers={...}) (an OpenAI error envelope); Slow(seconds) (then ok);
MidStream(events, then="drop"|"stall") (a stream that ends after `events` events). Every answer
closes its connection (`Connection: close`), which keeps the server small.

An "ok" generation answers `n` solid 8x8 PNGs whose colour comes from the prompt, with a fixed `usage`
(`USAGE`); a stream sends `partial_images` partial events and one completed event per image. In Azure
mode it serves `/openai/deployments/{deployment}/images/...?api-version=...` (a body without `model`)
and `/openai/v1/images/...` (a body with it), checks `api-key` (or an Entra `Authorization: Bearer`),
and answers Azure's 401 otherwise. Azure's content-filter error shapes are in `AZURE_*` below.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import threading
import zlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from PIL import Image

USAGE = {"input_tokens": 50, "input_tokens_details": {"text_tokens": 40, "image_tokens": 10}, "output_tokens": 1056,
         "output_tokens_details": {"image_tokens": 1056, "text_tokens": 0}, "total_tokens": 1106}

# Azure OpenAI's content-filter errors, in the shapes its docs show (learn.microsoft.com, "Azure OpenAI
# content filtering": the prompt filter's 400 with `innererror.content_filter_result`; DALL-E's
# `content_policy_violation` with `inner_error.content_filter_results` and the revised prompt).
AZURE_PROMPT_FILTERED = {"error": {
    "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. "
               "Please modify your prompt and retry.",
    "type": None, "param": "prompt", "code": "content_filter", "status": 400,
    "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {
        "hate": {"filtered": False, "severity": "safe"}, "self_harm": {"filtered": False, "severity": "safe"},
        "sexual": {"filtered": True, "severity": "high"}, "violence": {"filtered": False, "severity": "safe"}}}}}
AZURE_IMAGE_FILTERED = {"error": {
    "code": "content_policy_violation", "message": "Your request was rejected as a result of our safety system. "
    "The generated image may contain content that is not allowed by our safety system.",
    "inner_error": {"code": "ResponsibleAIPolicyViolation", "revised_prompt": "A picture of a scene",
                    "content_filter_results": {"violence": {"filtered": True, "severity": "medium"},
                                               "sexual": {"filtered": False, "severity": "safe"}}}}}


@dataclass(frozen=True)
class Status:
    code: int
    error: dict[str, Any] | None = None  # the envelope's `error`; None: a generic one
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None  # a whole body instead (Azure's shapes)


@dataclass(frozen=True)
class Slow:
    seconds: float


@dataclass(frozen=True)
class MidStream:
    events: int  # events sent before the stream breaks
    then: str = "drop"  # or "stall"


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    def form(self) -> dict[str, Any]:
        """A multipart body's parts: name -> list of values (bytes for files, str for fields)."""
        boundary = self.headers["content-type"].split("boundary=", 1)[1].encode()
        parts: dict[str, list[Any]] = {}
        for chunk in self.body.split(b"--" + boundary)[1:-1]:
            head, _, value = chunk.strip(b"\r\n").partition(b"\r\n\r\n")
            name = head.split(b'name="', 1)[1].split(b'"', 1)[0].decode()
            parts.setdefault(name, []).append(value if b"filename=" in head else value.decode())
        return parts


class FaultyUpstream:
    def __init__(self, *, azure: bool = False, api_key: str | None = None, deployment: str = "images") -> None:
        self.azure = azure
        self.api_key = api_key
        self.deployment = deployment
        self.calls: list[Call] = []
        self.disconnects = 0
        self._steps: list[Any] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="faulty-upstream", daemon=True)
        self._stalled: list[asyncio.StreamWriter] = []
        self.port = 0

    # ---- the test's side --------------------------------------------------------------------------

    def __enter__(self) -> FaultyUpstream:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *steps: Any) -> None:
        with self._lock:
            self._steps = list(steps)

    def count(self, path: str) -> int:
        return sum(1 for call in self.calls if call.path == path)

    def reset(self) -> None:
        with self._lock:
            self._steps, self.calls, self.disconnects = [], [], 0

    # ---- the server -------------------------------------------------------------------------------

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        for writer in self._stalled:
            writer.close()

    def _next(self) -> Any:
        with self._lock:
            return self._steps.pop(0) if self._steps else "ok"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            call = await _read_request(reader)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            writer.close()
            return
        self.calls.append(call)
        step = self._next()
        try:
            await self._answer(call, step, reader, writer)
        except ConnectionError:
            pass
        finally:
            if not writer.is_closing():
                writer.close()

    async def _answer(self, call: Call, step: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        refused = self._check_azure(call) if self.azure else None
        if refused is not None:
            step = refused
        if step == "drop":
            return
        if step == "stall":
            self._stalled.append(writer)
            await reader.read()  # until the client gives up
            return
        if isinstance(step, Slow):
            await asyncio.sleep(step.seconds)
            step = "ok"
        if isinstance(step, Status):
            body = step.body or {"error": step.error or {"message": f"Upstream error {step.code}.",
                                                         "type": "server_error", "param": None, "code": None}}
            await _send(writer, step.code, json.dumps(body).encode(), step.headers)
            return
        if step == "html":
            await _send(writer, 502, b"<html><body>Bad gateway</body></html>", content_type="text/html")
            return
        if step == "malformed":
            await _send(writer, 200, b'{"created": 1, "data": [{"b64_json": "abc', {})
            return
        fields = _fields(call)
        if step == "empty":
            await _send(writer, 200, json.dumps({"created": 1, "data": []}).encode())
            return
        if fields.get("stream") in (True, "true"):
            await self._stream(call, fields, step, reader, writer)
            return
        n = int(fields.get("n") or 1)
        data = [{"b64_json": _png(str(fields.get("prompt", "")), i)} for i in range(n)]
        body = {"created": 1, "data": data, "usage": USAGE, "size": fields.get("size") or "1024x1024",
                "quality": fields.get("quality") or "medium", "output_format": "png", "background": "opaque"}
        await _send(writer, 200, json.dumps(body).encode())

    async def _stream(self, call: Call, fields: dict[str, Any], step: Any, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        kind = "image_edit" if call.path.endswith("/edits") else "image_generation"
        events = [(f"{kind}.partial_image", {"type": f"{kind}.partial_image", "partial_image_index": i,
                                              "b64_json": _png(f"partial {i}", i)})
                  for i in range(int(fields.get("partial_images") or 0))]
        events.append((f"{kind}.completed", {"type": f"{kind}.completed", "b64_json": _png(str(fields.get("prompt")), 0),
                                              "usage": USAGE, "size": "1024x1024", "quality": "medium"}))
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n"
                     b"x-request-id: up_stream\r\n\r\n")
        for sent, (name, event) in enumerate(events):
            if isinstance(step, MidStream) and sent == step.events:
                if step.then == "stall":
                    await writer.drain()
                    if not await reader.read():  # the client went away
                        self.disconnects += 1
                return
            writer.write(f"event: {name}\ndata: {json.dumps(event)}\n\n".encode())
            await writer.drain()
            await asyncio.sleep(0.02)

    def _check_azure(self, call: Call) -> Status | None:
        parts = call.path.strip("/").split("/")
        if call.headers.get("api-key") != self.api_key and call.headers.get("authorization") != f"Bearer {self.api_key}":
            return Status(401, body={"error": {"code": "401", "message": "Access denied due to invalid subscription "
                                               "key or wrong API endpoint."}})
        if parts[:2] == ["openai", "deployments"]:
            if "api-version" not in call.query:
                return Status(400, body={"error": {"code": "BadRequest", "message": "Missing api-version."}})
            if parts[2] != self.deployment:
                return Status(404, body={"error": {"code": "DeploymentNotFound",
                                                   "message": "The API deployment for this resource does not exist."}})
            return None
        if parts[:2] == ["openai", "v1"]:
            return None
        return Status(404, body={"error": {"code": "404", "message": "Resource not found"}})


async def _read_request(reader: asyncio.StreamReader) -> Call:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    url = urlsplit(target)
    return Call(method, url.path, dict(parse_qsl(url.query)), headers, body)


async def _send(writer: asyncio.StreamWriter, status: int, body: bytes, headers: dict[str, str] | None = None,
                content_type: str = "application/json") -> None:
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    writer.write(f"HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n"
                 f"connection: close\r\nx-request-id: up_{status}\r\n{extra}\r\n".encode() + body)
    await writer.drain()


def _fields(call: Call) -> dict[str, Any]:
    if call.headers.get("content-type", "").startswith("multipart/form-data"):
        return {k: v[0] for k, v in call.form().items() if isinstance(v[0], str)}
    return call.json() if call.body else {}


def _png(seed: str, index: int) -> str:
    colour = tuple(zlib.crc32(f"{seed}/{index}".encode()).to_bytes(4, "big")[:3])
    out = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()
