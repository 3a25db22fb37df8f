"""`GET /`, `/playground` and `/playground/{name}` (api/playground.py) over HTTP: the page and its files are
open (no key), typed, revalidated with ETags, gzipped on request, shipped in the package, and refer to
nothing outside this server; any other name is the usual 404 envelope."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path

import httpx
import pytest

from darkroom.api.playground import load_assets

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(entry.name for entry in resources.files("darkroom").joinpath("playground").iterdir() if entry.is_file())


def test_the_page_is_open_on_a_keyed_server(server):
    for path in ("/", "/playground"):
        answer = httpx.get(f"{server.base_url}{path}")  # no key
        assert answer.status_code == 200 and answer.headers["content-type"] == "text/html; charset=utf-8"
        assert 'data-testid="generate"' in answer.text and answer.headers["x-request-id"].startswith("req_")
        assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert httpx.get(f"{server.v1}/models").status_code == 401  # its calls still need the key


@pytest.mark.parametrize("name, media_type", [("app.js", "text/javascript"), ("style.css", "text/css"),
                                              ("icon.svg", "image/svg+xml")])
def test_assets_are_typed_cached_and_gzipped(server, name, media_type):
    url = f"{server.base_url}/playground/{name}"
    plain = httpx.get(url, headers={"accept-encoding": "identity"})
    assert plain.status_code == 200 and plain.headers["content-type"].startswith(media_type)
    assert plain.headers["cache-control"] == "no-cache" and plain.headers["x-content-type-options"] == "nosniff"
    assert plain.content == resources.files("darkroom").joinpath("playground", name).read_bytes()
    again = httpx.get(url, headers={"if-none-match": plain.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    zipped = httpx.get(url, headers={"accept-encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip" and zipped.content == plain.content  # httpx decodes it
    assert int(zipped.headers["content-length"]) < len(plain.content) or name == "icon.svg"


@pytest.mark.parametrize("name", ["nope.js", "index.html", "../pyproject.toml", "..%2f..%2fpyproject.toml",
                                  "app.js/x", ""])
def test_other_names_are_404_envelopes(server, name):
    answer = httpx.get(f"{server.base_url}/playground/{name}")
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"]["code"] == "not_found"


def test_every_file_is_package_data_and_served():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["darkroom"]
    for name in FILES:
        assert any(Path("playground", name).match(pattern) for pattern in patterns), name
    assert sorted(load_assets()) == FILES


def test_the_page_refers_only_to_its_own_files():
    """Offline: no URL to elsewhere, and every file the page or a module names exists."""
    assets = load_assets()
    for name, asset in assets.items():
        text = asset.body.decode().replace('xmlns="http://www.w3.org/2000/svg"', "")  # a name, not a fetch
        assert not re.search(r"https?://|//cdn|@import|fonts\.", text), name
    page = assets["index.html"].body.decode()
    named = re.findall(r'(?:src|href)="/playground/([^"]+)"', page)
    for name, asset in assets.items():
        if name.endswith(".js"):
            named += re.findall(r'from "\./([^"]+)"', asset.body.decode())
    assert set(named) >= {"app.js", "style.css", "icon.svg", "api.js", "form.js", "gallery.js", "mask.js",
                          "snippets.js", "results.js"}
    assert set(named) <= set(assets)
    assert sum(len(asset.body) for asset in assets.values()) < 150_000  # a budget: it is read on every visit
