"""`POST /v1/images/generations`, and the signed links that `url` responses point at."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from ..postprocess.encode import MEDIA_TYPES
from ..protocol.images import ImageGenerateRequest
from ..protocol.validation import parse_json_body
from ..service import ImageService, RequestContext

router = APIRouter()
links = APIRouter()


@router.post("/v1/images/generations")
async def create_generation(request: Request) -> Response:
    req = parse_json_body(await request.body(), request.headers.get("content-type"), ImageGenerateRequest)
    service: ImageService = request.app.state.service
    outcome = await service.generate(req, _context(request))
    headers = {
        "x-darkroom-seed": str(outcome.seed),
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
