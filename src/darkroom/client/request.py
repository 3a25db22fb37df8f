"""One Image API request through the official SDK, and the images it brought back.

`send` posts a `Call` (an endpoint, the exact body, the input files) with the SDK's
`with_streaming_response`, so that the response headers (`x-request-id`, Darkroom's `x-darkroom-seed`)
are read as well as the body; the body's fields the SDK has parameters for go as parameters, the others
(Darkroom's `seed`, anything a sidecar recorded) via `extra_body`. A streamed answer reports each
partial image to the progress display as it arrives; `url` answers (dall-e's default) are fetched.
"""

from __future__ import annotations

import base64
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ClientError, UsageError, describe
from .files import extension
from .progress import Progress

ENDPOINTS = ("generations", "edits", "variations")
_METHODS = {"generations": "generate", "edits": "edit", "variations": "create_variation"}
_MEDIA = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
_META = ("size", "quality", "background", "output_format")
_FETCH_TIMEOUT = 120.0  # seconds for a url response's image (a file the server already has)


@dataclass
class Call:
    endpoint: str  # generations | edits | variations
    body: dict[str, Any]  # the request's fields, JSON values only
    images: list[Path] = field(default_factory=list)  # edits, variations: the input files
    mask: Path | None = None

    @property
    def streamed(self) -> bool:
        return bool(self.body.get("stream"))


@dataclass
class Result:
    images: list[bytes]
    seed: int | None  # the first image's seed, as the server reported it (image i: seed + i)
    request_id: str | None
    created: int | None
    usage: dict[str, Any] | None
    meta: dict[str, Any]  # the response's size, quality, background, output_format


def send(client: Any, call: Call, progress: Progress, base_url: str) -> Result:  # noqa: ANN401 - openai.OpenAI
    """Send `call`; raises `ClientError` (with the one-line message) on any failure."""
    method = getattr(client.images.with_streaming_response, _METHODS[call.endpoint])
    kwargs = _arguments(call)
    progress.status(f"sending to {base_url}/images/{call.endpoint}")
    request_id = None
    try:
        with method(**kwargs) as response:
            request_id = response.headers.get("x-request-id")
            seed = _int(response.headers.get("x-darkroom-seed"))
            if call.streamed:
                progress.status(_queued(seed, request_id))
                return _from_stream(response.parse(), call, progress, seed, request_id)
            progress.status(f"generating{_with_seed(seed)}")
            parsed = response.parse()
            images = [_image_bytes(item, i) for i, item in enumerate(parsed.data or [])]
            usage = parsed.usage.model_dump(exclude_none=True) if getattr(parsed, "usage", None) else None
            meta = {key: getattr(parsed, key) for key in _META if getattr(parsed, key, None) is not None}
            return Result(images, seed, request_id, parsed.created, usage, meta)
    except ClientError:
        raise
    except Exception as exc:
        raise describe(exc, base_url, request_id) from exc


def _arguments(call: Call) -> dict[str, Any]:
    """SDK keyword arguments for `call`: known fields as parameters, the rest as `extra_body`."""
    from openai.resources.images import Images

    known = set(inspect.signature(getattr(Images, _METHODS[call.endpoint])).parameters)
    kwargs: dict[str, Any] = {k: v for k, v in call.body.items() if k in known}
    extra = {k: v for k, v in call.body.items() if k not in known}
    if extra:
        kwargs["extra_body"] = extra
    if call.endpoint != "generations":
        files = [_upload(path) for path in call.images]
        kwargs["image"] = files[0] if call.endpoint == "variations" or len(files) == 1 else files
        if call.mask is not None:
            kwargs["mask"] = _upload(call.mask)
    return kwargs


def _upload(path: Path) -> tuple[str, bytes, str]:
    """(name, bytes, media type): the type read from the bytes, as OpenAI's API checks it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    return path.name, data, _MEDIA.get(extension(data), "application/octet-stream")


def _from_stream(events: Any, call: Call, progress: Progress, seed: int | None,  # noqa: ANN401 - Stream
                 request_id: str | None) -> Result:
    n = int(call.body.get("n") or 1)
    partials = int(call.body.get("partial_images") or 0)
    finished: dict[int, bytes] = {}
    usage: dict[str, Any] | None = None
    meta: dict[str, Any] = {}
    created = None
    for event in events:
        index = getattr(event, "image_index", None)  # Darkroom's, when n > 1; OpenAI's streams are in order
        if event.type.endswith(".partial_image"):
            image = f", image {int(index or 0) + 1} of {n}" if n > 1 else ""
            progress.status(f"partial {event.partial_image_index + 1} of {partials}{image}")
        elif event.type.endswith(".completed"):
            index = int(index) if index is not None else len(finished)
            finished[index] = base64.b64decode(event.b64_json)
            event_usage = event.usage.model_dump(exclude_none=True) if getattr(event, "usage", None) else None
            usage = _add(usage, event_usage)
            meta = {key: getattr(event, key) for key in _META if getattr(event, key, None) is not None}
            created = created or getattr(event, "created_at", None)
            progress.status(f"image {len(finished)} of {n} done")
    if not finished:
        raise ClientError(f"the stream ended without an image{f' (request {request_id})' if request_id else ''}")
    return Result([finished[i] for i in sorted(finished)], seed, request_id, created, usage, meta)


def _image_bytes(item: Any, index: int) -> bytes:  # noqa: ANN401 - openai.types.Image
    if item.b64_json:
        return base64.b64decode(item.b64_json)
    if item.url:
        return _fetch(item.url, index)
    raise ClientError(f"image {index} of the response has neither b64_json nor url")


def _fetch(url: str, index: int) -> bytes:
    """A `url` response's image (a signed link: no API key needed, so none is sent with it)."""
    import httpx

    try:
        answer = httpx.get(url, timeout=_FETCH_TIMEOUT, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise ClientError(f"could not fetch image {index} from {url.split('?')[0]}: {exc}") from None
    if answer.status_code != 200:
        raise ClientError(f"could not fetch image {index} from {url.split('?')[0]}: HTTP {answer.status_code}")
    return answer.content


def _add(total: dict[str, Any] | None, more: dict[str, Any] | None) -> dict[str, Any] | None:
    """Usage figures summed field by field (a stream sends one `usage` per image)."""
    if more is None:
        return total
    if total is None:
        return dict(more)
    out = dict(total)
    for key, value in more.items():
        if isinstance(value, dict):
            out[key] = _add(out.get(key) if isinstance(out.get(key), dict) else None, value)
        elif isinstance(value, int | float) and isinstance(out.get(key), int | float):
            out[key] = out[key] + value
        else:
            out.setdefault(key, value)
    return out


def _queued(seed: int | None, request_id: str | None) -> str:
    facts = [f"seed {seed}"] * (seed is not None) + [f"request {request_id}"] * bool(request_id)
    return f"queued ({', '.join(facts)})" if facts else "queued"


def _with_seed(seed: int | None) -> str:
    return f" (seed {seed})" if seed is not None else ""


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None
