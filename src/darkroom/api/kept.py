"""Images kept by `store_all`, for their owner only: the API key that made them (`store/kept.py`).

    GET /v1/images/stored                the caller's kept images, newest first (`limit`: 1 to 1000,
                                         default 100; outside that range a 400)
    GET /v1/images/stored/{id}           one image's metadata, with a fresh signed `url`
    GET /v1/images/stored/{id}/content   the image itself

Another key's image is a 404, as if it did not exist; so is one past its lifetime, and so is any other
path under `/v1/images/stored/` (`../`, encoded slashes...): one message, which never repeats the id,
so a caller cannot tell an image that is not theirs from one that does not exist. With `store_all`
off there is nothing to list and these answer 404 saying so.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response

from ..errors import NotFound
from ..postprocess.encode import MEDIA_TYPES
from ..protocol.validation import check_range
from ..store.kept import KeptImage
from .images import public_base_url

router = APIRouter()
MAX_LISTED = 1000
NO_SUCH_IMAGE = "No kept image with this id for this API key."


@router.get("/v1/images/stored")
async def list_kept(request: Request, limit: int = 100) -> dict:
    kept = _kept(request)
    check_range("limit", limit, 1, MAX_LISTED)
    images = await asyncio.to_thread(kept.list, request.state.key_name, limit)
    return {"object": "list", "data": [_with_url(request, image) for image in images]}


@router.get("/v1/images/stored/{image_id}")
async def get_kept(image_id: str, request: Request) -> dict:
    return _with_url(request, await _owned(request, image_id))


@router.get("/v1/images/stored/{image_id}/content")
async def get_kept_content(image_id: str, request: Request) -> Response:
    image = await _owned(request, image_id)
    data = await asyncio.to_thread(request.app.state.service.store.read, image.object_name)
    return Response(data, media_type=MEDIA_TYPES[image.output_format], headers={"cache-control": "private"})


@router.get("/v1/images/stored/{anything:path}", include_in_schema=False)  # what the two above did not match
async def not_kept(anything: str, request: Request) -> None:
    _kept(request)
    raise NotFound(NO_SUCH_IMAGE)


def _kept(request: Request):  # noqa: ANN202 - KeptImages
    if not request.app.state.settings.store_all:
        raise NotFound("This server does not keep images (the `store_all` setting is off).")
    return request.app.state.store.kept


async def _owned(request: Request, image_id: str) -> KeptImage:
    image = await asyncio.to_thread(_kept(request).get, image_id, request.state.key_name)
    if image is None:
        raise NotFound(NO_SUCH_IMAGE)
    return image


def _with_url(request: Request, image: KeptImage) -> dict:
    store = request.app.state.service.store
    return {**image.public(), "url": store.url(public_base_url(request), image.object_name)}
