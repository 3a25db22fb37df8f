"""What a client gets from a `url`: the status, bytes and media type, as the HTTP route would answer them."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx

from darkroom.errors import DarkroomError
from darkroom.storage.base import ImageStore

BASE = "http://darkroom.test"  # the base_url of Darkroom-served links


@dataclass
class Fetched:
    status: int
    body: bytes = b""
    media_type: str = ""
    message: str = ""


def link_parts(url: str) -> tuple[str, str, str]:
    """(name, expires, signature) of a Darkroom-served link."""
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return parts.path.rsplit("/", 1)[1], query["expires"], query["signature"]


def fetch(store: ImageStore, url: str) -> Fetched:
    """A Darkroom-served link through `store.open` (what GET /v1/images/files/{name} does); any other over HTTP."""
    if url.startswith(BASE + "/v1/images/files/"):
        try:
            found = store.open(*link_parts(url))
        except DarkroomError as exc:
            return Fetched(exc.status, message=exc.message)
        return Fetched(200, found.path.read_bytes() if found.path else found.data, found.media_type)
    response = httpx.get(url, timeout=30)
    return Fetched(response.status_code, response.content, response.headers.get("content-type", ""))


def query_param(url: str, key: str) -> str:
    return parse_qs(urlsplit(url).query)[key][0]
