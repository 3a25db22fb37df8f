"""The web playground: `GET /` and `GET /playground` (the page), `GET /playground/{asset}` (its files).

The page is static files shipped inside the package (`darkroom/playground/`): no build step, no CDN,
nothing fetched from elsewhere, so it works offline. It holds no secret and is served outside the
API's auth; its calls to `/v1/...` carry the key a visitor types into its API-key field (kept in the
browser's localStorage), so the same page works in front of any Darkroom, open or keyed.

The files are read once, when the app is built, and kept in memory with a gzipped copy (sent to
clients that accept gzip) and an ETag: every answer says `cache-control: no-cache`, so a browser
revalidates and gets a 304 while the file is unchanged. Only the files in that folder are served;
any other name under `/playground/` is the usual 404 envelope.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from importlib import resources

from fastapi import FastAPI, Request, Response

from ..errors import NotFound

MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
PAGE = "index.html"
# The page's own scripts, styles and fetches come from this origin only.
# Images may come from elsewhere: a `url` response can point at another host (public_base_url, S3).
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src * data: blob:; "
       "connect-src 'self' data: blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@dataclass(frozen=True, slots=True)
class Asset:
    media_type: str
    body: bytes
    gzipped: bytes
    etag: str


def load_assets() -> dict[str, Asset]:
    """Every file of `darkroom/playground/` with a known type, by name."""
    assets = {}
    for entry in resources.files("darkroom").joinpath("playground").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in MEDIA_TYPES:
            body = entry.read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:16]
            assets[entry.name] = Asset(MEDIA_TYPES[suffix], body, gzip.compress(body, 9, mtime=0), f'"{digest}"')
    return assets


def install_playground(app: FastAPI) -> None:
    """Serve the page at / and /playground, and its files at /playground/{asset}."""
    assets = load_assets()

    async def page(request: Request) -> Response:
        return _answer(request, assets[PAGE])

    async def asset(name: str, request: Request) -> Response:
        found = assets.get(name)
        if found is None or name == PAGE:
            raise NotFound(f"The playground has no file `{name}`.")
        return _answer(request, found)

    app.add_api_route("/", page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/playground", page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/playground/{name:path}", asset, methods=["GET"], include_in_schema=False)


def _answer(request: Request, asset: Asset) -> Response:
    headers = {"cache-control": "no-cache", "etag": asset.etag, "x-content-type-options": "nosniff",
               "vary": "accept-encoding"}
    if asset.media_type.startswith("text/html"):
        headers["content-security-policy"] = CSP
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["content-encoding"] = "gzip"
        return Response(asset.gzipped, media_type=asset.media_type, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)
