"""The upstream engine: a served model whose images come from an OpenAI-compatible host (OpenAI, Azure
OpenAI, another Darkroom, any gateway that speaks the Image API).

It is a forwarding engine (`Engine.forwards`): the service checks the request against the model's
family rules first (a bad request costs no upstream call), then hands it over as a `Forwarded`, the
request's own fields and uploads, which this engine sends upstream as OpenAI's API expects them:
JSON for generations, a multipart form rebuilt from the uploads Darkroom already parsed for edits
(whether the client sent a form or the JSON variant) and variations. Nothing the client sent other
than those fields goes upstream: not its `Authorization`, not the SDK's `x-stainless-*` headers; the
engine authenticates with its own key (`options.py`).

    send(call)                     the whole answer: its raw JSON body, passed through untouched
                                   (no image is decoded or re-encoded), plus usage and request id
    relay(call, opened, frame)     a stream: `opened()` once the upstream answered 200, then
                                   `frame(bytes)` for each SSE event as it arrives
    fetch(url)                     an image behind an upstream's `url` response (for re-hosting)

Failures (`replies.py` maps the upstream's answers; the rest is here):
    connection never opened        502 upstream_unreachable   no_work: retried, and a route moves on
    429, 503                       passed through, no_work    retried after Retry-After (if short)
    timeout after the request      504 upstream_timeout       retried only with `safe_to_repeat`
    5xx, dropped connection        passed through / 502       retried only with `safe_to_repeat`
    4xx                            passed through             never retried
    200 with no usable JSON        502 upstream_invalid_response
    200 with empty `data`          502 upstream_empty_response  no_work

Retries use `max_retries`, with a backoff of `retry_backoff_seconds` doubling each time (or the
upstream's Retry-After, when it is at most `max_retry_after_seconds`). Cancelling a call (the
client went away, the deadline passed) closes the upstream connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pydantic_core

from ...errors import BadGateway, DarkroomError, InvalidRequest, UpstreamError, UpstreamTimeout
from ...postprocess.sources import sniff
from ..base import Capabilities, Engine, Generation, GenerationJob
from .options import UpstreamOptions, read_credentials
from .replies import error_from, upstream_request_id

log = logging.getLogger("darkroom.engines.upstream")
MAX_FETCH_BYTES = 64 * 2**20  # an image behind an upstream `url`
MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
ROUTES = {"generate": "generations", "edit": "edits", "variation": "variations"}
AZURE_FORMATS = ("png", "jpeg")  # what Azure OpenAI serves (no WebP)


@dataclass(frozen=True, slots=True)
class Forwarded:
    """A request as the client sent it, after Darkroom's rules passed: what goes upstream."""

    operation: str  # generate | edit | variation
    fields: dict[str, Any]  # the body's fields, absent ones left out (`model` is replaced)
    images: tuple[bytes, ...] = ()  # edits and variations: the uploaded files as received
    mask: bytes | None = None
    stream: bool = False


@dataclass(frozen=True, slots=True)
class Reply:
    """A whole upstream answer. `body` is its raw JSON, `payload` the same parsed."""

    body: bytes
    payload: dict[str, Any]
    request_id: str | None


@dataclass(slots=True)
class Relayed:
    """What a relayed stream said, for the ledger: its usage (summed over its completed events)."""

    request_id: str | None = None
    images: int = 0
    usage: dict[str, Any] | None = None
    size: str | None = None
    quality: str | None = None


class UpstreamEngine(Engine):
    name = "upstream"
    forwards = True

    def __init__(self, model: str, family: str, opts: UpstreamOptions) -> None:
        self.model = model
        self.family = family
        self.opts = opts
        self.upstream_model = opts.upstream_model or model
        self.local_moderation = opts.moderation
        self._credentials = read_credentials(model, opts)  # a missing variable stops the start here
        self._client: httpx.AsyncClient | None = None
        operations = {"generate", "edit"} | ({"variation"} if opts.kind == "openai" else set())
        self.capabilities = Capabilities(
            native_alpha=True, max_pixels=2**31 - 1, max_batch=10, extensions=frozenset(opts.extensions),
            schedulers=tuple(opts.schedulers), concurrency=opts.max_concurrency,
            operations=frozenset(operations), max_source_images=16,  # type: ignore[arg-type]
            partial_images=opts.partial_images,
        )

    def __repr__(self) -> str:
        return f"UpstreamEngine({self.model!r} -> {self.opts.base_url}, {self.upstream_model!r})"

    def generate(self, job: GenerationJob) -> Generation:
        raise TypeError("the upstream engine forwards requests (`send`, `relay`); it takes no jobs")

    def check(self, output_format: str) -> None:
        """Refuse, before any upstream call, what the upstream does not serve."""
        if self.opts.kind == "azure" and output_format not in AZURE_FORMATS:
            raise InvalidRequest(
                f"Invalid value: '{output_format}'. Model '{self.model}' is served by Azure OpenAI, which supports "
                f"the output formats {', '.join(repr(f) for f in AZURE_FORMATS)}.", param="output_format")

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # ---- calls ----------------------------------------------------------------------------------

    async def send(self, call: Forwarded) -> Reply:
        response = await self._open(call)
        try:
            body = await self._read(response.aread())
        finally:
            await response.aclose()
        request_id = upstream_request_id(response.headers)
        try:
            payload = pydantic_core.from_json(body)  # ~18x faster than json.loads on a body of base64 images
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise self._ambiguous(BadGateway(f"The upstream provider of model '{self.model}' answered with something "
                                             "that is not an images response.", code="upstream_invalid_response"))
        if not payload["data"]:
            failed = BadGateway(f"The upstream provider of model '{self.model}' returned no images.",
                                code="upstream_empty_response")
            failed.no_work = True
            raise failed
        return Reply(body, payload, request_id)

    async def relay(self, call: Forwarded, opened: Callable[[str | None], None],
                    frame: Callable[[bytes, dict[str, Any] | None], Any]) -> Relayed:
        """Relay an upstream stream: `opened(request_id)` once it answered 200, then `frame(raw, event)` for
        each event as it arrives (`event` is the parsed JSON of completed events, None for partials:
        their images are not parsed on the way through). `frame` may return an awaitable."""
        response = await self._open(call)
        relayed = Relayed(request_id=upstream_request_id(response.headers))
        try:
            if not response.headers.get("content-type", "").startswith("text/event-stream"):
                raise self._ambiguous(BadGateway(f"The upstream provider of model '{self.model}' did not answer the "
                                                 "stream request with an event stream.",
                                                 code="upstream_invalid_response"))
            opened(relayed.request_id)
            await self._read(self._relay_events(response, relayed, frame))
        finally:
            await response.aclose()
        if not relayed.images:
            raise BadGateway(f"The upstream stream of model '{self.model}' ended before its final image.",
                             code="upstream_disconnected")
        return relayed

    async def fetch(self, url: str) -> bytes:
        """An image behind an upstream `url` (never sent Darkroom's upstream credentials)."""
        if not url.startswith(("http://", "https://")):
            raise BadGateway(f"The upstream provider of model '{self.model}' returned an image link Darkroom cannot "
                             "fetch.", code="upstream_invalid_response")
        try:
            async with self._http().stream("GET", url) as response:
                if response.status_code != 200:
                    raise BadGateway(f"Could not fetch an image of model '{self.model}' from its upstream "
                                     f"(HTTP {response.status_code}).", code="upstream_invalid_response")
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > MAX_FETCH_BYTES:
                        raise BadGateway("An upstream image is too large.", code="upstream_invalid_response")
        except httpx.HTTPError as exc:
            raise BadGateway(f"Could not fetch an image of model '{self.model}' from its upstream.",
                             code="upstream_unreachable") from exc
        return bytes(data)

    # ---- the wire -------------------------------------------------------------------------------

    async def _open(self, call: Forwarded) -> httpx.Response:
        """Send `call` until it gets a 2xx (its body unread) or an error that must not be retried."""
        for attempt in range(self.opts.max_retries + 1):
            wait = 0.0
            try:
                response = await self._http().send(self._request(call), stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:  # nothing was sent
                failed: DarkroomError = BadGateway(f"Could not reach the upstream provider of model '{self.model}'.",
                                                   code="upstream_unreachable")
                failed.no_work = True
                log.warning("upstream of %s unreachable: %s", self.model, type(exc).__name__)
            except httpx.TimeoutException:
                failed = self._ambiguous(self._timeout())
            except httpx.TransportError as exc:
                failed = self._ambiguous(self._dropped())
                log.warning("upstream of %s dropped the connection: %s", self.model, type(exc).__name__)
            else:
                if response.status_code < 300:
                    return response
                try:
                    body = await self._read(response.aread())
                finally:
                    await response.aclose()
                failed = error_from(response.status_code, body, response.headers, model=self.model,
                                    family=self.family, azure=self.opts.kind == "azure")
                failed.message = self._credentials.redact(failed.message)  # some upstreams echo the key
                if response.status_code >= 500 and not failed.no_work:
                    self._ambiguous(failed)
                wait = _seconds(response.headers.get("retry-after"))
                log.info("upstream of %s answered HTTP %d (%s), upstream request id %s", self.model,
                         response.status_code, failed.code, upstream_request_id(response.headers))
            retry = failed.no_work or failed.repeatable
            if not retry or attempt == self.opts.max_retries or wait > self.opts.max_retry_after_seconds:
                raise failed
            await asyncio.sleep(max(wait, self.opts.retry_backoff_seconds * 2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns or raises

    async def _read(self, reading: Any) -> Any:
        """Await a read of an answer under way: its failures become Darkroom's (never retried here)."""
        try:
            return await reading
        except httpx.TimeoutException:
            raise self._ambiguous(self._timeout()) from None
        except httpx.TransportError:
            raise self._ambiguous(self._dropped()) from None

    async def _relay_events(self, response: httpx.Response, relayed: Relayed,
                            frame: Callable[[bytes, dict[str, Any] | None], Any]) -> None:
        name: str | None = None
        data: list[str] = []
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            elif line == "" and data:
                text = "\n".join(data)
                event = None if name and name.endswith(".partial_image") else self._event(text)
                name = name or (event or {}).get("type") or "message"
                if name == "error" or (event is not None and event.get("type") == "error"):
                    error = (event or {}).get("error")
                    raise UpstreamError.from_envelope(500, error if isinstance(error, dict) else {"message": "Upstream stream error."})
                if event is not None and name.endswith(".completed"):
                    _add_usage(relayed, event)
                done = frame(b"event: " + name.encode() + b"\ndata: " + text.encode() + b"\n\n", event)
                if done is not None:
                    await done
                name, data = None, []

    def _event(self, text: str) -> dict[str, Any]:
        try:
            event = pydantic_core.from_json(text)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            raise BadGateway(f"The upstream stream of model '{self.model}' sent an event that is not JSON.",
                             code="upstream_invalid_response")
        return event

    def _request(self, call: Forwarded) -> httpx.Request:
        url, params = self._url(call.operation)
        headers = {**self.opts.headers, **self._credentials.headers(),
                   "accept": "text/event-stream" if call.stream else "application/json"}
        fields = {k: v for k, v in call.fields.items() if k != "model"}
        if not (self.opts.kind == "azure" and self.opts.api_version):  # Azure's deployment path names no model
            fields = {"model": self.upstream_model, **fields}
        if call.operation == "generate":
            return self._http().build_request("POST", url, params=params, headers=headers, json=fields)
        form = {name: _form_value(value) for name, value in fields.items()}
        name = "image" if len(call.images) == 1 else "image[]"
        files = [(name, _file(f"image{i}", data)) for i, data in enumerate(call.images)]
        if call.mask is not None:
            files.append(("mask", _file("mask", call.mask)))
        return self._http().build_request("POST", url, params=params, headers=headers, data=form, files=files)

    def _url(self, operation: str) -> tuple[str, dict[str, str]]:
        route = ROUTES[operation]
        if self.opts.kind == "azure" and self.opts.api_version:
            deployment = self.opts.deployment or self.upstream_model
            return (f"{self.opts.base_url}/openai/deployments/{deployment}/images/{route}",
                    {"api-version": self.opts.api_version})
        return f"{self.opts.base_url}/images/{route}", {}

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            opts = self.opts
            # keep-alive shorter than uvicorn's 5 s: a pooled connection the upstream closed is never reused
            limits = httpx.Limits(max_connections=opts.max_concurrency + 4, max_keepalive_connections=opts.max_concurrency,
                                  keepalive_expiry=4.0)
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(opts.timeout_seconds,
                                                                   connect=opts.connect_timeout_seconds),
                                             limits=limits, follow_redirects=False, trust_env=False)
        return self._client

    def _timeout(self) -> DarkroomError:
        return UpstreamTimeout(f"The upstream provider of model '{self.model}' did not answer within "
                               f"{self.opts.timeout_seconds:g} seconds.")

    def _dropped(self) -> DarkroomError:
        return BadGateway(f"The connection to the upstream provider of model '{self.model}' broke before its answer "
                          "was complete.", code="upstream_disconnected")

    def _ambiguous(self, error: DarkroomError) -> DarkroomError:
        """An error after the upstream may have done work: repeated only where the model says it is safe."""
        error.repeatable = self.opts.safe_to_repeat
        return error


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _file(stem: str, data: bytes) -> tuple[str, bytes, str]:
    fmt = sniff(data) or "png"
    return f"{stem}.{fmt if fmt != 'jpeg' else 'jpg'}", data, MEDIA_TYPES.get(fmt, "application/octet-stream")


def _seconds(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0


def _add_usage(relayed: Relayed, event: dict[str, Any]) -> None:
    relayed.images += 1
    relayed.size = event.get("size") or relayed.size
    relayed.quality = event.get("quality") or relayed.quality
    usage = event.get("usage")
    if isinstance(usage, dict):
        relayed.usage = add_usage(relayed.usage, usage)


def add_usage(total: dict[str, Any] | None, more: dict[str, Any]) -> dict[str, Any]:
    """Two `usage` objects added up, field by field (nested details too)."""
    out = dict(total or {})
    for key, value in more.items():
        before = out.get(key)
        if isinstance(value, dict):
            out[key] = add_usage(before if isinstance(before, dict) else None, value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = (before if isinstance(before, int | float) else 0) + value
    return out
