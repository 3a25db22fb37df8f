"""Routes, auth, links and headers as a plain HTTP client sees them (live server)."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest

JSON = {"content-type": "application/json"}


def test_health_is_open_and_lists_models(server):
    response = httpx.get(f"{server.base_url}/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"
    assert response.json()["models"]["gpt-image-1"]["engine"] == "sketch"
    assert response.headers["x-request-id"].startswith("req_")


@pytest.mark.parametrize("headers, code", [
    ({}, None),
    ({"Authorization": "Bearer sk-nope-nope-nope"}, "invalid_api_key"),
    ({"Authorization": "Basic abc"}, None),
])
def test_auth_failures_are_openai_401s(server, headers, code):
    response = httpx.post(f"{server.v1}/images/generations", json={"prompt": "x"}, headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, None)
    assert response.headers["x-request-id"]


def test_unknown_route_is_404_envelope(http):
    response = http.get("/v1/images/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found" and response.headers["x-request-id"]


def test_wrong_method_is_405_envelope(http):
    response = http.get("/v1/images/generations")
    assert response.status_code == 405 and response.json()["error"]["type"] == "invalid_request_error"


def test_success_headers(http):
    response = http.post("/v1/images/generations", headers=JSON,
                         json={"prompt": "a todo app", "model": "gpt-image-1", "size": "1024x1024", "quality": "low"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"].startswith("req_")
    assert int(response.headers["openai-processing-ms"]) >= 0
    assert int(response.headers["x-darkroom-seed"]) >= 0


def _url(http) -> str:
    response = http.post("/v1/images/generations", json={"prompt": "a todo app", "size": "256x256"})
    assert response.status_code == 200, response.text
    return response.json()["data"][0]["url"]


def test_tampered_links_are_refused(http):
    url = urlparse(_url(http))
    query = parse_qs(url.query)
    base = f"{url.scheme}://{url.netloc}{url.path}"
    assert httpx.get(f"{base}?{url.query}").status_code == 200
    later = str(int(query["expires"][0]) + 3600)
    forged = [
        f"{base}?{urlencode({'expires': later, 'signature': query['signature'][0]})}",  # extended expiry
        f"{base}?{urlencode({'expires': query['expires'][0], 'signature': 'A' * 43})}",  # made-up signature
        base,  # no signature at all
    ]
    for link in forged:
        response = httpx.get(link)
        assert response.status_code == 403, link
        assert response.json()["error"]["code"] == "forbidden"
    other = base.rsplit("/", 1)[0] + "/" + "0" * 32 + ".png"
    response = httpx.get(f"{other}?{url.query}")
    assert response.status_code == 403  # the signature covers the name


def test_forwarded_headers_build_the_public_url(http):
    response = http.post("/v1/images/generations", json={"prompt": "a todo app", "size": "256x256"},
                         headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "images.example.com"})
    url = response.json()["data"][0]["url"]
    assert url.startswith("https://images.example.com/v1/images/files/")


def test_links_expire(tmp_path):
    """A server with a 1 s link lifetime: the link works, then is refused."""
    from ..conftest import start_server, stop_server

    live = start_server(tmp_path, 'url_ttl_seconds = 1\nlog_level = "warning"', api_key="")
    try:
        response = httpx.post(f"{live.v1}/images/generations", json={"prompt": "x", "size": "256x256"})
        url = response.json()["data"][0]["url"]
        assert httpx.get(url).status_code == 200
        time.sleep(2.1)
        expired = httpx.get(url)
        assert expired.status_code == 403 and "expired" in expired.json()["error"]["message"]
    finally:
        stop_server(live)
    assert "No API keys configured" in live.log()


def test_a_long_generation_does_not_block_other_requests(server):
    """While a big render runs in a worker thread, the event loop still answers /health."""
    import threading

    finished = []

    def big_render():
        httpx.post(f"{server.v1}/images/generations", timeout=120,
                   headers={"Authorization": f"Bearer {server.api_key}"},
                   json={"model": "gpt-image-2", "prompt": "a city skyline", "size": "3840x2160",
                         "quality": "high", "n": 4})
        finished.append("render")

    worker = threading.Thread(target=big_render)
    worker.start()
    time.sleep(0.3)  # let the render start
    assert httpx.get(f"{server.base_url}/health").status_code == 200
    finished.append("health")
    worker.join()
    assert finished == ["health", "render"]
