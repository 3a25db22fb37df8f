"""The multipart reader: the bodies the SDKs really send, split anywhere, and every limit.

Python bodies are built by httpx's own encoder (as the OpenAI Python SDK does); the Node body is
written by hand in the shape of the Node SDK's streaming uploads.
"""

from __future__ import annotations

import random
import tempfile

import httpx
import pytest

from darkroom.errors import InvalidRequest, PayloadTooLarge
from darkroom.protocol.multipart import Form, FormLimits, MultipartReader, UploadedFile, read_form

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # every byte value, CR and LF included
NODE_BOUNDARY = "openai-abc123"
NODE_BODY = (
    b"--openai-abc123\r\n"
    b'content-disposition: form-data; name="image[]"; filename="unknown_file"\r\n'
    b"CONTENT-TYPE: application/octet-stream\r\n\r\n"
    + PNG + b"\r\n--openai-abc12\r\n-- not a boundary\r\n"  # boundary look-alikes inside the data
    b"\r\n--openai-abc123\r\n"
    b'Content-Disposition: form-data; name="image[]"; filename="b.webp"\r\n'
    b"Content-Type: image/webp\r\n\r\n"
    b"RIFF\x00\x00\x00\x00WEBP"
    b"\r\n--openai-abc123\r\n"
    b'Content-Disposition: form-data; name="prompt"\r\n\r\n'
    b"a red fox \xf0\x9f\xa6\x8a\r\nin snow"
    b"\r\n--openai-abc123\r\n"
    b'Content-Disposition: form-data; name="stream"\r\n\r\n'
    b"true"
    b"\r\n--openai-abc123--\r\n"
)
IMAGE = [("image", ("a.png", PNG, "image/png"))]  # httpx sends a form without files url-encoded
NODE_FILE = PNG + b"\r\n--openai-abc12\r\n-- not a boundary\r\n"


def httpx_body(files: list | None = None, data: dict | None = None) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://x/v1/images/edits", files=files, data=data)
    return request.read(), request.headers["content-type"]


DEFAULT = FormLimits()


def parse(body: bytes, content_type: str, sizes: list[int] | None = None, limits: FormLimits = DEFAULT) -> Form:
    reader = MultipartReader(content_type, limits)
    position = 0
    for size in sizes or [len(body)]:
        reader.feed(body[position:position + size])
        position += size
    reader.feed(body[position:])
    return reader.finish()


def splits(body: bytes) -> list[list[int] | None]:
    """Whole, byte by byte, and random chunk sizes."""
    rng = random.Random(7)
    return [None, [1] * len(body)] + [[rng.randint(1, 97) for _ in range(len(body))] for _ in range(5)]


def fails(error: type, body: bytes, content_type: str, limits: FormLimits = DEFAULT):
    with pytest.raises(error) as info:
        parse(body, content_type, limits=limits)
    return info.value


def test_python_sdk_single_image():
    body, content_type = httpx_body(
        files=[("image", ("fox.png", PNG, "image/png"))],
        data={"prompt": "a fox", "model": "gpt-image-1", "n": "2", "stream": "true", "user": ""},
    )
    for sizes in splits(body):
        form = parse(body, content_type, sizes)
        assert form.fields == {"prompt": ["a fox"], "model": ["gpt-image-1"], "n": ["2"], "stream": ["true"],
                               "user": [""]}
        assert form.files == {"image": [UploadedFile("image", "fox.png", "image/png", PNG)]}


def test_python_sdk_image_array_and_mask():
    files = [("image[]", ("a.png", PNG, "image/png")), ("image[]", ("upload", b"second")),
             ("mask", ("mask.png", PNG[:40], "image/png"))]
    body, content_type = httpx_body(files=files, data={"prompt": "x", "input_fidelity": "high"})
    for sizes in splits(body):
        form = parse(body, content_type, sizes)
        assert [f.data for f in form.files["image[]"]] == [PNG, b"second"]
        assert form.files["image[]"][1].filename == "upload"
        assert form.files["image[]"][1].content_type == "application/octet-stream"
        assert form.files["mask"][0].data == PNG[:40]
        assert form.fields == {"prompt": ["x"], "input_fidelity": ["high"]}


def test_node_streaming_body():
    content_type = f"multipart/form-data; boundary={NODE_BOUNDARY}"
    expected = None
    for sizes in splits(NODE_BODY):
        form = parse(NODE_BODY, content_type, sizes)
        expected = expected or form
        assert form == expected
    images = expected.files["image[]"]
    assert [(f.filename, f.content_type) for f in images] == [("unknown_file", "application/octet-stream"),
                                                              ("b.webp", "image/webp")]
    assert images[0].data == NODE_FILE
    assert expected.fields == {"prompt": ["a red fox \N{FOX FACE}\r\nin snow"], "stream": ["true"]}


def test_quoted_boundary_and_header_case():
    form = parse(NODE_BODY, f'Multipart/Form-Data; charset=utf-8; boundary="{NODE_BOUNDARY}"')
    assert form.fields["stream"] == ["true"]


def test_empty_file_and_empty_filename_are_files():
    body = (b'--b\r\nContent-Disposition: form-data; name="image"; filename=""\r\n\r\n\r\n'
            b'--b\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n\r\n--b--\r\n')
    form = parse(body, "multipart/form-data; boundary=b")
    assert form.files["image"] == [UploadedFile("image", "", None, b"")]
    assert form.fields == {"prompt": [""]}


def test_only_closing_boundary_is_an_empty_form():
    assert parse(b"--b--\r\n", "multipart/form-data; boundary=b") == Form()


async def test_read_form_from_an_async_stream():
    async def chunks():
        for start in range(0, len(NODE_BODY), 100):
            yield NODE_BODY[start:start + 100]
        yield b""  # Starlette's request.stream() ends with an empty chunk

    form = await read_form(chunks(), f"multipart/form-data; boundary={NODE_BOUNDARY}")
    assert form.files["image[]"][0].data == NODE_FILE


def test_nothing_is_written_to_disk(monkeypatch):
    def no_disk(*args, **kwargs):
        raise AssertionError("the multipart reader touched the disk")

    for name in ("TemporaryFile", "NamedTemporaryFile", "SpooledTemporaryFile", "mkstemp", "mkdtemp"):
        monkeypatch.setattr(tempfile, name, no_disk)
    big = bytes(8 * 2**20)
    body, content_type = httpx_body(files=[("image", ("big.png", big, "image/png"))])
    assert parse(body, content_type, [65536] * (len(body) // 65536)).files["image"][0].data == big


# Limits


def test_file_over_the_limit_is_413_naming_field_and_limit():
    limits = FormLimits(max_file_bytes=2**20)
    body, content_type = httpx_body(files=[("image[]", ("a.png", bytes(2**20), "image/png"))])
    assert parse(body, content_type, limits=limits).files["image[]"][0].data == bytes(2**20)  # exactly at
    body, content_type = httpx_body(files=[("image[]", ("a.png", bytes(2**20 + 1), "image/png"))])
    error = fails(PayloadTooLarge, body, content_type, limits)
    assert (error.status, error.param, error.code) == (413, "image[]", "request_too_large")
    assert error.message == "File 'image[]' is too large: the limit is 1 MB per file."


def test_default_file_limit_message():
    assert FormLimits().max_file_bytes == 50 * 2**20
    body, content_type = httpx_body(files=[("image", ("a.png", bytes(50 * 2**20 + 1), "image/png"))])
    assert fails(PayloadTooLarge, body, content_type).message == (
        "File 'image' is too large: the limit is 50 MB per file.")


def test_file_limit_raises_while_streaming_not_at_the_end():
    body, content_type = httpx_body(files=[("image", ("a.png", bytes(100_000), "image/png"))])
    reader = MultipartReader(content_type, FormLimits(max_file_bytes=1000))
    fed = 0
    with pytest.raises(PayloadTooLarge):
        for start in range(0, len(body), 100):
            fed += 1
            reader.feed(body[start:start + 100])
    assert fed < 15
    with pytest.raises(PayloadTooLarge):  # a broken reader stays broken
        reader.feed(b"more")


def test_text_field_over_the_limit_is_413():
    body, content_type = httpx_body(files=IMAGE, data={"prompt": "x" * 1025})
    error = fails(PayloadTooLarge, body, content_type, FormLimits(max_field_bytes=1024))
    assert (error.status, error.param) == (413, "prompt")
    assert error.message == "Field 'prompt' is too large: the limit is 1 KB per text field."
    body, content_type = httpx_body(files=IMAGE, data={"prompt": "é" * 16_000})  # 32,000 bytes: fits the default
    assert parse(body, content_type).fields["prompt"] == ["é" * 16_000]


def test_too_many_parts():
    limits = FormLimits(max_parts=4)
    body, content_type = httpx_body(files=IMAGE, data={f"k{i}": "v" for i in range(3)})
    assert len(parse(body, content_type, limits=limits).fields) == 3
    body, content_type = httpx_body(files=IMAGE, data={f"k{i}": "v" for i in range(4)})
    error = fails(InvalidRequest, body, content_type, limits)
    assert (error.status, error.param, error.code) == (400, None, "too_many_parts")
    assert "limit is 4" in error.message


@pytest.mark.parametrize("disposition", [b'form-data; filename="a.png"', b"form-data", b'form-data; name=""', None])
def test_part_without_a_name(disposition):
    header = b"" if disposition is None else b"Content-Disposition: " + disposition + b"\r\n"
    body = b"--b\r\n" + header + b"Content-Type: image/png\r\n\r\ndata\r\n--b--\r\n"
    error = fails(InvalidRequest, body, "multipart/form-data; boundary=b")
    assert (error.status, error.param, error.code) == (400, None, "invalid_multipart")
    assert "name" in error.message


def test_text_that_is_not_utf8_names_the_field():
    body = b'--b\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n\xff\xfe fox\r\n--b--\r\n'
    error = fails(InvalidRequest, body, "multipart/form-data; boundary=b")
    assert (error.status, error.param) == (400, "prompt")
    assert "UTF-8" in error.message


def test_base64_transfer_encoding_is_refused_not_misread():
    body = (b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n")
    error = fails(InvalidRequest, body, "multipart/form-data; boundary=b")
    assert (error.param, error.code) == ("image", "invalid_multipart")


@pytest.mark.parametrize("cut", [0, 10, len(NODE_BODY) // 2, len(NODE_BODY) - 5])
def test_truncated_body(cut):
    error = fails(InvalidRequest, NODE_BODY[:cut], f"multipart/form-data; boundary={NODE_BOUNDARY}")
    assert (error.status, error.param, error.code) == (400, None, "invalid_multipart")
    assert "truncated" in error.message


def test_body_with_another_boundary_is_malformed():
    error = fails(InvalidRequest, NODE_BODY, "multipart/form-data; boundary=something-else")
    assert (error.param, error.code) == (None, "invalid_multipart")


@pytest.mark.parametrize("content_type", [
    None, "", "application/json", "application/x-www-form-urlencoded", "multipart/form-data",
    "multipart/form-data; boundary=", "multipart/mixed; boundary=b", "multipart/form-data; boundary=" + "b" * 300,
])
def test_not_multipart_form_data(content_type):
    with pytest.raises(InvalidRequest) as info:
        MultipartReader(content_type)
    error = info.value
    assert (error.status, error.param, error.code) == (400, None, "invalid_content_type")
    assert "expected 'multipart/form-data' with a boundary" in error.message
