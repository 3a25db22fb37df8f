"""hypothesis on the multipart reader (`protocol/multipart.py`), alone and through the real ASGI app: a
body is a `Form` or a 4xx `DarkroomError` (over HTTP: OpenAI's envelope), never anything else, and no
part grows past its limit. Bodies are built from valid parts and then broken: truncated, absurd part
headers, boundary tricks, many tiny parts, duplicates, parts over the limits, split into random chunks.
Bounded by count: fixed seeds (`derandomize`), no example database.
"""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from darkroom.api.app import create_app
from darkroom.config import load_settings
from darkroom.errors import DarkroomError
from darkroom.protocol.multipart import Form, FormLimits, MultipartReader
from tests.fuzz.test_json_bodies import check

FUZZ = settings(max_examples=300, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LIMITS = FormLimits(max_file_bytes=4096, max_field_bytes=512, max_parts=16)
BOUNDARIES = ["b0undary", "openai-abc123", "x", "-", "a b", "quoted\"one", "=?utf-8?", "é", "a" * 70, "a" * 300, ""]
NAMES = [b'"image"', b'"image[]"', b'"mask"', b'"prompt"', b'"n"', b"prompt", b'""', b'"\xc3\xa9"', b'"\xff"',
         b'"a' + b"b" * 5000 + b'"']
DISPOSITIONS = [
    b'form-data; name={name}', b'form-data; name={name}; filename="a.png"', b"form-data; filename=\"x.png\"",
    b"form-data; name={name}; filename*=UTF-8''%C3%A9.png", b'form-data; name={name}; filename="\xe6\x97\xa5.png"',
    b"form-data", b"attachment; name={name}", b"form-data; name", b";;;", b"form-data; name={name}; name=\"other\"",
]


@st.composite
def parts(draw: st.DrawFn) -> bytes:
    disposition = draw(st.sampled_from(DISPOSITIONS)).replace(b"{name}", draw(st.sampled_from(NAMES)))
    headers = [b"Content-Disposition: " + disposition]
    if draw(st.booleans()):
        headers.append(b"Content-Type: " + draw(st.sampled_from([b"image/png", b"application/octet-stream", b"",
                                                                  b"\xff\xfe", b"text/plain; charset=utf-16"])))
    if draw(st.integers(0, 9)) == 0:
        headers.append(b"Content-Transfer-Encoding: " + draw(st.sampled_from([b"base64", b"binary", b"quoted"])))
    for _ in range(draw(st.sampled_from([0, 0, 0, 50]))):  # many headers
        headers.append(b"X-Extra: " + b"v" * draw(st.sampled_from([1, 10_000])))  # and huge lines
    if draw(st.integers(0, 9)) == 0:
        headers.append(draw(st.sampled_from([b"no colon here", b": empty name", b"Bad\x00Header: x"])))
    size = draw(st.sampled_from([0, 1, 10, 511, 512, 513, 4096, 4097, 20_000]))
    data = draw(st.binary(max_size=16)) * (size // 16 + 1) if size else b""
    return b"\r\n".join(headers) + b"\r\n\r\n" + data[:size]


@st.composite
def forms(draw: st.DrawFn) -> tuple[bytes, str, list[int]]:
    """(body, content type, chunk sizes)."""
    boundary = draw(st.sampled_from(BOUNDARIES))
    delimiter = b"--" + boundary.encode("utf-8")
    body = b"".join(delimiter + b"\r\n" + part + b"\r\n" for part in draw(st.lists(parts(), max_size=6)))
    if draw(st.integers(0, 5)) == 0:  # many tiny parts
        body += (delimiter + b'\r\nContent-Disposition: form-data; name="n"\r\n\r\n1\r\n') * draw(st.integers(10, 40))
    if draw(st.integers(0, 5)) == 0:  # the boundary inside the data
        body += delimiter + b'\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n' + delimiter[:-1] + b"\r\n"
    body += draw(st.sampled_from([delimiter + b"--\r\n", delimiter + b"--", b"", delimiter + b"\r\n", delimiter]))
    mangle = draw(st.integers(0, 4))
    if mangle == 0:
        body = body[:draw(st.integers(0, len(body)))]
    elif mangle == 1:
        body = draw(st.binary(max_size=8)) + body
    quoted = draw(st.booleans())
    content_type = f'multipart/form-data; boundary="{boundary}"' if quoted else f"multipart/form-data; boundary={boundary}"
    content_type = draw(st.sampled_from([content_type] * 8 + ["multipart/form-data", "multipart/mixed; boundary=x",
                                                              "application/json", ""]))
    chunks = draw(st.lists(st.integers(1, 4096), max_size=8))
    return body, content_type, chunks


def read(body: bytes, content_type: str, chunks: list[int]) -> Form:
    reader = MultipartReader(content_type, LIMITS)
    position = 0
    for size in chunks:
        reader.feed(body[position:position + size])
        position += size
    reader.feed(body[position:])
    return reader.finish()


@FUZZ
@given(case=forms())
def test_any_body_is_a_form_or_a_4xx(case):
    body, content_type, chunks = case
    try:
        form = read(body, content_type, chunks)
    except DarkroomError as exc:
        assert 400 <= exc.status < 500 and exc.message
        return
    assert sum(len(v) for v in form.fields.values()) + sum(len(v) for v in form.files.values()) <= LIMITS.max_parts
    for values in form.fields.values():
        assert all(len(value.encode()) <= LIMITS.max_field_bytes for value in values)
    for files in form.files.values():
        assert all(len(upload.data) <= LIMITS.max_file_bytes for upload in files)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    settings_ = load_settings(data_dir=tmp_path_factory.mktemp("fuzz-multipart"), max_upload_file_bytes=4096)
    with TestClient(create_app(settings_), raise_server_exceptions=False) as c:
        for _ in range(600):  # moderation warms up in the background
            if c.get("/health").status_code == 200:
                break
            time.sleep(0.1)
        yield c


@settings(FUZZ, max_examples=120)
@given(case=forms(), route=st.sampled_from(["/v1/images/edits", "/v1/images/variations"]))
def test_any_form_over_http_is_served_or_refused_in_the_envelope(client, case, route):
    body, content_type, _ = case
    response = client.post(route, content=body, headers={"content-type": content_type} if content_type else {})
    check(response, route)
    if response.status_code < 300:  # only real images get this far; the fuzzed ones are not
        pytest.fail(f"a fuzzed form was served: {response.text[:200]}")
