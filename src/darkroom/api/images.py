"""`POST /v1/images/generations`, and the signed links that `url` responses point at."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from ..postprocess.encode import MEDIA_TYPES
from ..protocol.images import ImageGenerateRequest
from ..protocol.validation import parse_json_body
from ..service import ImageService, RequestContext

log = logging.getLogger("darkroom.api")
router = APIRouter()
links = APIRouter()
T = TypeVar("T")


class ClientDisconnected(Exception):
    """The client went away before its response was ready; nothing is sent."""


@router.post("/v1/images/generations")
async def create_generation(request: Request) -> Response:
    req = parse_json_body(await request.body(), request.headers.get("content-type"), ImageGenerateRequest)
    service: ImageService = request.app.state.service
    try:
        outcome = await until_disconnect(request, service.generate(req, _context(request)))
    except ClientDisconnected:
        return Response(status_code=499)  # nobody is listening; nginx's "client closed request"
    headers = {
        "x-darkroom-seed": str(outcome.seed),
        "x-darkroom-queue-ms": f"{outcome.queue_seconds * 1000:.2f}",
        "x-darkroom-engine-ms": f"{outcome.engine_seconds * 1000:.2f}",
        "x-darkroom-encode-ms": f"{outcome.encode_seconds * 1000:.2f}",
    }
    headers.update({f"x-darkroom-{key.replace('_', '-')}": str(value) for key, value in outcome.info.items()})
    return Response(outcome.response.to_json(), media_type="application/json", headers=headers)


@links.get("/v1/images/files/{name}")
async def get_stored_image(name: str, request: Request, expires: str | None = None,
                           signature: str | None = None) -> FileResponse:
    service: ImageService = request.app.state.service
    path = service.store.open(name, expires, signature)
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix[1:]], headers={"cache-control": "private, max-age=3600"})


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


def _context(request: Request) -> RequestContext:
    return RequestContext(request_id=request.state.request_id, base_url=public_base_url(request))


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
