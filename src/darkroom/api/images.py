"""`POST /v1/images/generations`, `/edits` and `/variations`, and the signed links of `url` responses.

Thin: read the body (JSON, or a multipart form read in memory with `protocol/multipart.py`), hand
it to the service, send the outcome back: JSON, or a `text/event-stream` when `stream` is true
(`sse.py`). Errors raised here reach the client through `errors.py`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from ..protocol.edits import (
    ImageEditJSONRequest,
    ImageEditRequest,
    ImageVariationRequest,
    from_form,
    uploads_from_json,
)
from ..protocol.images import ImageGenerateRequest
from ..protocol.multipart import FormLimits, read_form
from ..protocol.validation import parse_json_body
from ..service import ImageService, Outcome, RequestContext
from ..store.keys import ApiKey
from .auth import record_state
from .sse import stream_response

log = logging.getLogger("darkroom.api")
router = APIRouter()
links = APIRouter()
T = TypeVar("T")


class ClientDisconnected(Exception):
    """The client went away before its response was ready; nothing is sent."""


@router.post("/v1/images/generations")
async def create_generation(request: Request) -> Response:
    req = parse_json_body(await request.body(), request.headers.get("content-type"), ImageGenerateRequest)
    request.state.prompt = req.prompt  # for the access log, as `log_prompts` says (`prompt_log.py`)
    service: ImageService = request.app.state.service
    ctx = _context(request)
    if req.stream:
        return await stream_response(request, lambda progress: service.generate(req, ctx, progress),
                                     "image_generation")
    return await _respond(request, service.generate(req, ctx))


@router.post("/v1/images/edits")
async def create_edit(request: Request) -> Response:
    content_type = request.headers.get("content-type")
    if _media_type(content_type) == "application/json":
        body = parse_json_body(await request.body(), content_type, ImageEditJSONRequest)
        req, uploads = body, await asyncio.to_thread(uploads_from_json, body)
    else:
        form = await read_form(request.stream(), content_type, _form_limits(request))
        req, uploads = from_form(form, ImageEditRequest, ("image", "mask"))
    request.state.prompt = req.prompt
    service: ImageService = request.app.state.service
    ctx = _context(request)
    if req.stream:
        return await stream_response(request, lambda progress: service.edit(req, uploads, ctx, progress),
                                     "image_edit")
    return await _respond(request, service.edit(req, uploads, ctx))


@router.post("/v1/images/variations")
async def create_variation(request: Request) -> Response:
    form = await read_form(request.stream(), request.headers.get("content-type"), _form_limits(request))
    req, uploads = from_form(form, ImageVariationRequest, ("image",))
    service: ImageService = request.app.state.service
    return await _respond(request, service.vary(req, uploads, _context(request)))


async def _respond(request: Request, work: Awaitable[Outcome]) -> Response:
    try:
        outcome = await until_disconnect(request, work)
    except ClientDisconnected:
        return Response(status_code=499)  # nobody is listening; nginx's "client closed request"
    headers = {
        **outcome.headers,  # seed, served-by, cost, an upstream's request id
        "x-darkroom-queue-ms": f"{outcome.queue_seconds * 1000:.2f}",
        "x-darkroom-engine-ms": f"{outcome.engine_seconds * 1000:.2f}",
        "x-darkroom-encode-ms": f"{outcome.encode_seconds * 1000:.2f}",
        "x-darkroom-moderation-ms": f"{outcome.moderation_seconds * 1000:.2f}",
    }
    headers.update({f"x-darkroom-{key.replace('_', '-')}": str(value) for key, value in outcome.info.items()})
    return Response(outcome.body(), media_type="application/json", headers=headers)


@links.get("/v1/images/files/{name:path}")  # any path under files/: one answer for all (`signing.py`)
async def get_stored_image(name: str, request: Request, expires: str | None = None,
                           signature: str | None = None) -> Response:
    service: ImageService = request.app.state.service
    found = await asyncio.to_thread(service.store.open, name, expires, signature)  # S3 reads go over the network
    headers = {"cache-control": "private, max-age=3600"}
    if found.path is not None:
        return FileResponse(found.path, media_type=found.media_type, headers=headers)
    return Response(found.data, media_type=found.media_type, headers=headers)


async def until_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, cancelling it if the client disconnects first (its job then never runs, or stops)."""
    task = asyncio.ensure_future(work)

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if not task.done():
        task.cancel()
        log.info("%s client disconnected; its work was cancelled", request.state.request_id)
        raise ClientDisconnected()
    return task.result()


def _form_limits(request: Request) -> FormLimits:
    return FormLimits(max_file_bytes=request.app.state.settings.max_upload_file_bytes)


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _context(request: Request) -> RequestContext:
    """The service's view of the request; its summary is what the middleware records when it ends."""
    key: ApiKey | None = getattr(request.state, "key", None)
    charge = None
    if key is not None and key.id is not None and key.limits.any:
        leases = request.app.state.store.leases

        async def charge(n: int) -> None:
            record_state(request, await leases.charge_images(key, n))

    ctx = RequestContext(request_id=request.state.request_id, base_url=public_base_url(request), charge=charge,
                         key_name=getattr(request.state, "key_name", None), models=getattr(key, "models", None))
    request.state.summary = ctx.summary
    return ctx


def public_base_url(request: Request) -> str:
    """The configured public base URL, else the one the client (or its proxy) used."""
    configured: str = request.app.state.settings.public_base_url
    if configured:
        return configured
    proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip() or request.url.scheme
    host = request.headers.get("x-forwarded-host", "").split(",")[0].strip() or request.headers.get("host")
    if not host:
        return str(request.base_url).rstrip("/")
    return f"{proto}://{host}"
