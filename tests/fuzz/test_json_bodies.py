"""hypothesis on the JSON body decoder (`protocol/validation.py`) through the real ASGI app: every body is
either a 2xx with valid images or a 4xx in OpenAI's envelope with an x-request-id; never a 5xx, and the app
keeps serving. The nastiest few are then sent to a live `darkroom serve`.

Bodies mix the routes' real fields with wrong types, lone and paired surrogates (escaped, and raw in
the UTF-8), NaN/Infinity literals, duplicate keys, deep nesting, huge numbers, BOMs, other encodings,
truncation and odd Content-Types. Bounded by count: fixed seeds (`derandomize`), no example database.
"""

from __future__ import annotations

import base64
import io
import json
import time

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from darkroom.api.app import create_app
from darkroom.config import load_settings
from tests.conftest import CONFIG, start_server, stop_server

FUZZ = settings(max_examples=400, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ROUTES = ["/v1/images/generations", "/v1/images/edits"]
FIELDS = ["prompt", "model", "n", "size", "quality", "response_format", "output_format", "output_compression",
          "background", "moderation", "style", "user", "stream", "partial_images", "seed", "steps",
          "guidance_scale", "images", "mask", "input_fidelity"]
# A small dall-e-2 image: what a success costs the sketch engine, so successes stay cheap.
BASE = {"prompt": "a lighthouse", "model": "dall-e-2", "size": "256x256", "response_format": "b64_json"}
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "application/json; charset=latin-1",
                 "APPLICATION/JSON", "text/plain", "application/x-www-form-urlencoded", "",
                 "multipart/form-data; boundary=x", "application/json-patch+json", "application/json;;;"]
BOMS = [b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"]

surrogates = st.integers(0xD800, 0xDFFF).map(chr)
texts = st.one_of(st.text(max_size=20), st.text(st.characters(codec=None, categories=None), max_size=8),
                  st.lists(st.one_of(surrogates, st.characters()), max_size=6).map("".join))
numbers = st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, -1, 1, 10, 11, 2**32, 2**63, -(2**63), 1e999, -1e999, 0.5, -0.0]))
leaves = st.one_of(st.none(), st.booleans(), numbers, texts,
                   st.sampled_from(["256x256", "1024x1024", "auto", "png", "url", "b64_json", "true", "2", ""]))
values = st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(texts, inner, max_size=3)), max_leaves=8)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    """(raw body, content type): a JSON object with some fields replaced or added, then mangled."""
    fields = dict(BASE) if draw(st.booleans()) else {}
    for name in draw(st.lists(st.one_of(st.sampled_from(FIELDS), texts), max_size=4)):
        fields[name] = draw(values)
    top = draw(st.one_of(st.just(fields), st.just(fields), values))  # sometimes not an object at all
    text = json.dumps(top, ensure_ascii=draw(st.booleans()))  # NaN and Infinity as the literals
    raw = text.encode("utf-8", "surrogatepass")  # a lone surrogate left raw is invalid UTF-8
    raw = draw(st.sampled_from(MANGLES))(raw, draw)
    content_type = draw(st.sampled_from(CONTENT_TYPES[:1] * 6 + CONTENT_TYPES))
    return raw, content_type


def _keep(raw: bytes, draw: st.DrawFn) -> bytes:
    return raw


def _truncate(raw: bytes, draw: st.DrawFn) -> bytes:
    return raw[:draw(st.integers(0, max(len(raw) - 1, 0)))]


def _bom(raw: bytes, draw: st.DrawFn) -> bytes:
    return draw(st.sampled_from(BOMS[1:])) + raw


def _reencode(raw: bytes, draw: st.DrawFn) -> bytes:
    codec = draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252"]))
    return raw.decode("utf-8", "surrogatepass").encode(codec, "surrogatepass" if "utf" in codec else "replace")


def _duplicate(raw: bytes, draw: st.DrawFn) -> bytes:
    key = draw(st.sampled_from(FIELDS)).encode()
    if raw.startswith(b"{") and len(raw) > 2:
        return b'{"' + key + b'": ' + json.dumps(draw(values)).encode() + b", " + raw[1:]
    return raw


def _nest(raw: bytes, draw: st.DrawFn) -> bytes:
    depth = draw(st.sampled_from([10, 900, 1100, 5000, 50_000]))
    opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
    return b'{"prompt": "x", "n": ' + opener * depth + b"1" + closer * depth + b"}" if raw else raw


def _huge_number(raw: bytes, draw: st.DrawFn) -> bytes:
    number = draw(st.sampled_from([b"9" * 4301, b"-" + b"1" * 10_000, b"1e999", b"-1e999", b"1" + b"0" * 400 + b".5",
                                   b"0." + b"0" * 5000 + b"1", b"1e-99999", b"NaN", b"-Infinity", b"Infinity"]))
    field = draw(st.sampled_from(["n", "seed", "steps", "guidance_scale", "output_compression", "prompt"])).encode()
    return b'{"prompt": "x", "' + field + b'": ' + number + b"}"


def _raw_bytes(raw: bytes, draw: st.DrawFn) -> bytes:
    junk = draw(st.sampled_from([b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xed\xb0\x80\xed\xa0\x80", b"\xf4\x90\x80\x80",
                                 b"\x00", b"\\", b"\\u", b"\\ud83d\\ude80", b"\\uDFFF\\uD800"]))
    return b'{"prompt": "a ' + junk + b' cat", "model": "dall-e-2", "size": "256x256"}'


MANGLES = [_keep, _keep, _keep, _truncate, _bom, _reencode, _duplicate, _nest, _huge_number, _raw_bytes]


def check(response, route: str) -> None:  # noqa: ANN001 - an httpx response
    """A 2xx carrying decodable images, or a 4xx in OpenAI's envelope; an x-request-id either way."""
    assert response.headers["x-request-id"].startswith("req_"), response.headers
    assert response.status_code < 500, f"{route}: {response.status_code} {response.text[:500]}"
    if response.status_code < 300:
        data = response.json()["data"]
        assert data
        for item in data:
            image = Image.open(io.BytesIO(base64.b64decode(item["b64_json"]))) if "b64_json" in item else None
            if image is not None:
                image.load()
                assert image.width > 0 and image.height > 0
            else:
                assert item["url"].startswith("http")
        return
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"message", "type", "param", "code"} <= set(error) and isinstance(error["message"], str) and error["message"]
    assert error["param"] is None or isinstance(error["param"], str)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    settings_ = load_settings(data_dir=tmp_path_factory.mktemp("fuzz-json"))
    with TestClient(create_app(settings_), raise_server_exceptions=False) as c:
        for _ in range(600):  # moderation warms up in the background: /health says loading until then
            if c.get("/health").status_code == 200:
                break
            time.sleep(0.1)
        yield c


@FUZZ
@given(case=bodies(), route=st.sampled_from(ROUTES))
def test_any_json_body_is_served_or_refused_in_the_envelope(client, case, route):
    raw, content_type = case
    headers = {"content-type": content_type} if content_type else {}
    check(client.post(route, content=raw, headers=headers), route)
    # The app keeps serving. (JSON edits refuse a JSON body without images; generations succeed.)
    assert client.get("/health").status_code == 200


# The nastiest, sent to a real server: (route, raw body, content type).
NASTY = [
    ("/v1/images/generations", b'{"prompt": "a \\ud800 cat"}', "application/json"),
    ("/v1/images/generations", b'{"prompt": "a \xed\xa0\x80 cat"}', "application/json"),
    ("/v1/images/generations", b'{"prompt": "x", "n": ' + b"[" * 200_000 + b"]" * 200_000 + b"}", "application/json"),
    ("/v1/images/generations", b'{"prompt": "x", "seed": ' + b"9" * 5000 + b"}", "application/json"),
    ("/v1/images/generations", b'{"prompt": "x", "guidance_scale": NaN}', "application/json"),
    ("/v1/images/generations", b'{"prompt": "x", "guidance_scale": 1e999}', "application/json"),
    ("/v1/images/generations", '\ufeff{"prompt": "x"}'.encode("utf-16"), "application/json; charset=utf-16"),
    ("/v1/images/generations", b"", "application/json"),
    ("/v1/images/edits", b'{"prompt": "x", "images": [{"image_url": "data:image/png;base64,AAAA"}]}',
     "multipart/form-data; boundary=zz"),
    ("/v1/images/edits", b'{"prompt": "x", "images": {"image_url": 1}, "images": []}', "application/json"),
    ("/v1/images/edits", b'[{"prompt": "x"}]', "application/json"),
]


def test_the_nastiest_bodies_against_a_live_server(tmp_path):
    import httpx

    live = start_server(tmp_path / "server", CONFIG)
    try:
        with httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {live.api_key}"},
                          timeout=60) as http:
            for route, raw, content_type in NASTY:
                response = http.post(route, content=raw, headers={"content-type": content_type})
                check(response, route)
                assert response.status_code == 400, (route, raw[:80], response.text)
            assert http.get("/health").status_code == 200
        assert live.process.poll() is None
        assert "Traceback" not in live.log(), live.log()[-4000:]
    finally:
        stop_server(live)
