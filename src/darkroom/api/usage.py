"""`GET /v1/usage/images` (also at OpenAI's path, `/v1/organization/usage/images`): the usage ledger
in the shape of OpenAI's organization usage API for images. Admin keys only.

Query: `start_time` (Unix seconds; default: 7 days ago, at a bucket boundary), `end_time` (default:
now), `bucket_width` (`1m`, `1h` or `1d`, default `1d`), `group_by` (any of `model`, `size`, `source`,
`api_key_id`), the filters `models`, `sizes`, `sources` and `api_key_ids` (key names; `api_key_id`
takes one), each repeated or comma-separated, and `limit` (buckets, 1-31 for 1d as OpenAI caps it;
1-168 for 1h, 1-1440 for 1m). Each result has `images`, `num_model_requests`, and Darkroom's
`input_tokens` / `output_tokens` and `cost_usd` (the sum of the requests' costs in USD, to the
micro-dollar, priced from their usage by `pricing.py`; requests whose cost is unknown add nothing);
`api_key_id` holds a key's name. OpenAI's `project_ids`, `user_ids` and `page` have nothing to act
on here and are refused, as is any other parameter.
"""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Query, Request

from ..errors import InvalidRequest, UnknownParameter
from ..protocol.validation import check_range
from .auth import require_admin

router = APIRouter()
WIDTHS = {"1m": 60, "1h": 3600, "1d": 86_400}
MAX_BUCKETS = {"1m": 1440, "1h": 168, "1d": 31}
DEFAULT_BUCKETS = {"1m": 60, "1h": 24, "1d": 7}
GROUPS = ("model", "size", "source", "api_key_id")
MAX_TIME = 253_402_300_799  # 9999-12-31T23:59:59Z
ACCEPTED = {"start_time", "end_time", "bucket_width", "group_by", "api_key_id", "api_key_ids", "models", "sizes",
            "sources", "limit"}


@router.get("/v1/usage/images")
@router.get("/v1/organization/usage/images")
async def usage_images(request: Request, start_time: int | None = None, end_time: int | None = None,
                       bucket_width: str = "1d", group_by: list[str] = Query(default=[]),
                       api_key_id: str | None = None, api_key_ids: list[str] = Query(default=[]),
                       models: list[str] = Query(default=[]), sizes: list[str] = Query(default=[]),
                       sources: list[str] = Query(default=[]), limit: int | None = None) -> dict:
    require_admin(request)
    for name in request.query_params:
        if name not in ACCEPTED:
            raise UnknownParameter(f"Unknown parameter: '{name}'. Darkroom's usage endpoint takes "
                                   f"{', '.join(sorted(ACCEPTED))}.", param=name)
    only = {name: set(_split(values)) for name, values in (
        ("api_key_id", [*api_key_ids, *([api_key_id] if api_key_id else [])]), ("model", models),
        ("size", sizes), ("source", sources)) if values}
    if bucket_width not in WIDTHS:
        raise InvalidRequest(f"Invalid value: '{bucket_width}'. Supported values are: '1m', '1h' and '1d'.",
                             param="bucket_width")
    for name, value in (("start_time", start_time), ("end_time", end_time)):
        _check_time(name, value)
    width = WIDTHS[bucket_width]
    groups = tuple(_split(group_by))
    for name in groups:
        if name not in GROUPS:
            raise InvalidRequest(f"Invalid 'group_by': '{name}'. Supported values are: "
                                 f"{', '.join(repr(g) for g in GROUPS)}.", param="group_by")
    count = limit if limit is not None else DEFAULT_BUCKETS[bucket_width]
    if not 1 <= count <= MAX_BUCKETS[bucket_width]:
        raise InvalidRequest(f"Invalid 'limit': expected 1 to {MAX_BUCKETS[bucket_width]} buckets for "
                             f"bucket_width {bucket_width}, but got {count}.", param="limit")
    now = int(time.time())
    start = start_time if start_time is not None else (now // width - count + 1) * width
    end = min(end_time if end_time is not None else now + 1, start + count * width)
    if end <= start:
        raise InvalidRequest("Invalid 'end_time': it must be after 'start_time'.", param="end_time")
    end = start + -(-(end - start) // width) * width  # whole buckets
    ledger = request.app.state.store.ledger
    await asyncio.to_thread(ledger.flush, 5.0)  # what was just served is in the answer
    data = await asyncio.to_thread(ledger.buckets, start, end, width, groups, None, only)
    return {"object": "page", "data": data, "has_more": False, "next_page": None}


def _check_time(name: str, value: int | None) -> None:
    """Unix seconds from 1970 to the year 9999: anything else is a 400 (and could not be queried)."""
    if value is not None:
        check_range(name, value, 0, MAX_TIME)


def _split(values: list[str]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]
