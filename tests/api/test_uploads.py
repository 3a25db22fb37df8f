"""Bad uploads to `/v1/images/edits` and `/v1/images/variations`, sent raw with httpx to a live server.

Each gets OpenAI's error envelope (all four keys, the expected param and code) with an x-request-id,
and the server keeps serving afterwards. A dedicated server with small upload caps (and a TMPDIR of
its own) checks the 413s, bodies sent chunked without a Content-Length, and that refused uploads
leave nothing on disk.
"""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.conftest import CONFIG, LiveServer, start_server, stop_server
from tests.images import decode_b64

EDITS, VARIATIONS = "/v1/images/edits", "/v1/images/variations"
BOUNDARY = "darkroom-test-boundary-7d3f"
MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
JSON = {"content-type": "application/json"}


# ---- inputs ------------------------------------------------------------------------------------


def encode(pixels: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt)
    return buf.getvalue()


def picture(width: int, height: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, channels), dtype=np.uint8)


def mask(width: int, height: int) -> bytes:
    """An RGBA mask: the left half transparent (repaint), the right half opaque (keep)."""
    pixels = np.zeros((height, width, 4), np.uint8)
    pixels[:, width // 2:, 3] = 255
    return encode(pixels)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR says width x height (CRC correct) over one row of data: refused from the header."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\x00\x00")) + \
        _chunk(b"IEND", b"")


def webp_claiming(width: int, height: int) -> bytes:
    """A WebP whose VP8X header says width x height, and nothing else: refused before libwebp allocates."""
    vp8x = bytes([0, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    return b"RIFF" + struct.pack("<I", len(body)) + body


def jpeg_claiming(data: bytes, width: int, height: int) -> bytes:
    """A real JPEG with its SOF0 frame header patched to say width x height (JPEG has no checksums)."""
    sof = data.index(b"\xff\xc0")
    return data[:sof + 5] + struct.pack(">HH", height, width) + data[sof + 9:]


def png_bomb(side: int = 20_000) -> bytes:
    """A real, valid 1-bit PNG of side x side black pixels: ~40 KB on the wire, 400 megapixels decoded."""
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    row = b"\x00" * (1 + side // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row * 1000) for _ in range(side // 1000)) + packer.flush()
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


PNG = encode(picture(256, 256))  # 256x256 RGB, square
TINY_PNG = encode(picture(8, 8))
BOMB = png_bomb()
WIDE_PNG = encode(picture(512, 256))
JPEG = encode(picture(256, 256), "JPEG")
GIF = encode(picture(32, 32), "GIF")
TRUNCATED_PNG = PNG[: len(PNG) * 2 // 3]
NOT_AN_IMAGE = b"hello, I am a text file with a .png name\n"
OVER_4MB_PNG = PNG + b"\x00" * (4 * 2**20)  # the dall-e-2 limit is checked on the file's size alone
NO_ALPHA_MASK = encode(np.zeros((256, 256, 3), np.uint8))


def data_url(data: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


# ---- multipart bodies, written out by hand so that every byte is the test's choice ---------------

Part = tuple[str, "str | tuple[str, bytes, str]"]


def form(*parts: Part) -> bytes:
    """A multipart/form-data body: text fields as (name, value), files as (name, (filename, data, type))."""
    out = bytearray()
    for name, value in parts:
        out += f"--{BOUNDARY}\r\n".encode()
        if isinstance(value, str):
            out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value.encode()
        else:
            filename, data, media_type = value
            out += (f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                    f"Content-Type: {media_type}\r\n\r\n").encode() + data
        out += b"\r\n"
    return bytes(out + f"--{BOUNDARY}--\r\n".encode())


def image(data: bytes = PNG, name: str = "image", filename: str = "x.png",
          media_type: str = "application/octet-stream") -> Part:
    return name, (filename, data, media_type)


PROMPT: Part = ("prompt", "a todo app with a checklist")


def edit(*parts: Part) -> bytes:
    return form(image(), PROMPT, *parts)


def json_edit(**fields) -> bytes:
    return json.dumps({"prompt": "a todo app", **fields}).encode()


# ---- the table -----------------------------------------------------------------------------------

# (id, path, body, headers, status, param, code)
CASES = [
    # Files that are not safe or not images.
    ("truncated-png", EDITS, form(image(TRUNCATED_PNG), PROMPT), MULTIPART, 400, "image", "invalid_image"),
    ("text-named-png", EDITS, form(image(NOT_AN_IMAGE, media_type="image/png"), PROMPT), MULTIPART, 400, "image",
     "invalid_image_format"),
    ("empty-file", EDITS, form(image(b""), PROMPT), MULTIPART, 400, "image", "empty_file"),
    ("gif", EDITS, form(image(GIF, filename="x.gif"), PROMPT), MULTIPART, 400, "image", "invalid_image_format"),
    ("bomb-header-30000", EDITS, form(image(png_claiming(30_000, 30_000)), PROMPT), MULTIPART, 400, "image",
     "image_too_large"),
    ("bomb-1bit-20000", EDITS, form(image(BOMB), PROMPT), MULTIPART, 400, "image", "image_too_large"),
    ("bomb-webp-vp8x", EDITS, form(image(webp_claiming(16_384, 16_384)), PROMPT), MULTIPART, 400, "image",
     "image_too_large"),
    ("bomb-jpeg-sof", EDITS, form(image(jpeg_claiming(JPEG, 65_000, 65_000)), PROMPT), MULTIPART, 400, "image",
     "image_too_large"),
    ("bomb-in-array", EDITS, form(image(name="image[]"), image(png_claiming(30_000, 30_000), name="image[]"),
                                  PROMPT), MULTIPART, 400, "image[1]", "image_too_large"),
    ("bomb-mask", EDITS, edit(image(png_claiming(30_000, 30_000), name="mask")), MULTIPART, 400, "mask",
     "image_too_large"),
    # Masks.
    ("mask-size", EDITS, edit(image(mask(128, 128), name="mask")), MULTIPART, 400, "mask", "invalid_value"),
    ("mask-without-alpha", EDITS, edit(image(NO_ALPHA_MASK, name="mask")), MULTIPART, 400, "mask", "invalid_mask"),
    ("mask-jpeg", EDITS, edit(image(JPEG, name="mask")), MULTIPART, 400, "mask", "invalid_image_format"),
    ("two-masks", EDITS, edit(image(mask(256, 256), name="mask"), image(mask(256, 256), name="mask")), MULTIPART,
     400, "mask", "invalid_value"),
    # The form itself.
    ("17-images", EDITS, form(*[image(name="image[]")] * 17, PROMPT), MULTIPART, 400, "image", "invalid_value"),
    ("unknown-field", EDITS, edit(("colour", "red")), MULTIPART, 400, "colour", "unknown_parameter"),
    ("unknown-file-field", EDITS, edit(image(name="picture")), MULTIPART, 400, "picture", "unknown_parameter"),
    ("image-as-text", EDITS, form(("image", "a.png"), PROMPT), MULTIPART, 400, "image", "invalid_value"),
    ("duplicate-prompt", EDITS, edit(("prompt", "again")), MULTIPART, 400, "prompt", "invalid_value"),
    ("n-abc", EDITS, edit(("n", "abc")), MULTIPART, 400, "n", "invalid_type"),
    ("n-0", EDITS, edit(("n", "0")), MULTIPART, 400, "n", "integer_below_min_value"),
    # Numbers as JSON spells them, nothing more lenient: int() and float() would take all of these.
    ("n-spaced", EDITS, edit(("n", " 2 ")), MULTIPART, 400, "n", "invalid_type"),
    ("n-underscore", EDITS, edit(("n", "1_0")), MULTIPART, 400, "n", "invalid_type"),
    ("n-plus", EDITS, edit(("n", "+2")), MULTIPART, 400, "n", "invalid_type"),
    ("n-arabic-indic", EDITS, edit(("n", "\u0662")), MULTIPART, 400, "n", "invalid_type"),
    ("n-5000-digits", EDITS, edit(("n", "9" * 5000)), MULTIPART, 400, "n", "invalid_type"),
    ("guidance-nan", EDITS, edit(("guidance_scale", "nan")), MULTIPART, 400, "guidance_scale", "invalid_type"),
    ("guidance-inf", EDITS, edit(("guidance_scale", "inf")), MULTIPART, 400, "guidance_scale", "invalid_type"),
    ("n-11", EDITS, edit(("n", "11")), MULTIPART, 400, "n", "integer_above_max_value"),
    ("stream-yes", EDITS, edit(("stream", "yes")), MULTIPART, 400, "stream", "invalid_type"),
    ("compression-decimal", EDITS, edit(("output_format", "jpeg"), ("output_compression", "50.5")), MULTIPART, 400,
     "output_compression", "invalid_type"),
    ("quality-bad", EDITS, edit(("quality", "ultra")), MULTIPART, 400, "quality", "invalid_value"),
    ("missing-prompt", EDITS, form(image()), MULTIPART, 400, "prompt", "missing_required_parameter"),
    ("missing-image", EDITS, form(PROMPT), MULTIPART, 400, "image", "missing_required_parameter"),
    ("not-multipart", EDITS, b"prompt=x", {"content-type": "text/plain"}, 400, None, "invalid_content_type"),
    ("no-content-type", EDITS, edit(), {}, 400, None, "invalid_content_type"),
    ("multipart-without-boundary", EDITS, edit(), {"content-type": "multipart/form-data"}, 400, None,
     "invalid_content_type"),
    ("multipart-truncated", EDITS, edit()[:-40], MULTIPART, 400, None, "invalid_multipart"),
    ("dalle3-edit", EDITS, edit(("model", "dall-e-3")), MULTIPART, 400, "model", "invalid_value"),
    ("unknown-model", EDITS, edit(("model", "gpt-image-9")), MULTIPART, 400, "model", "invalid_value"),
    # dall-e-2 edits: one square PNG under 4 MB.
    ("dalle2-jpeg", EDITS, form(image(JPEG, filename="x.jpg"), PROMPT, ("model", "dall-e-2")), MULTIPART, 400,
     "image", "invalid_image_format"),
    ("dalle2-non-square", EDITS, form(image(WIDE_PNG), PROMPT, ("model", "dall-e-2")), MULTIPART, 400, "image",
     "invalid_value"),
    ("dalle2-over-4mb", EDITS, form(image(OVER_4MB_PNG), PROMPT, ("model", "dall-e-2")), MULTIPART, 413, "image",
     "request_too_large"),
    ("dalle2-two-images", EDITS, form(image(name="image[]"), image(name="image[]"), PROMPT, ("model", "dall-e-2")),
     MULTIPART, 400, "image", "invalid_value"),
    # JSON edits.
    ("json-file-id", EDITS, json_edit(images=[{"file_id": "file-abc123"}]), JSON, 400, "images[0].file_id",
     "unsupported_value"),
    ("json-http-url", EDITS, json_edit(images=[{"image_url": "https://example.com/a.png"}]), JSON, 400,
     "images[0].image_url", "invalid_image_url"),
    ("json-bad-base64", EDITS, json_edit(images=[{"image_url": "data:image/png;base64,@@@"}]), JSON, 400,
     "images[0].image_url", "invalid_image_url"),
    ("json-text-data-url", EDITS, json_edit(images=[{"image_url": data_url(b"hi", "text/plain")}]), JSON, 400,
     "images[0].image_url", "invalid_image_url"),
    ("json-no-images", EDITS, json_edit(), JSON, 400, "images", "missing_required_parameter"),
    ("json-17-images", EDITS, json_edit(images=[{"image_url": data_url(TINY_PNG)}] * 17), JSON, 400, "images",
     "array_above_max_length"),
    ("json-truncated-png", EDITS, json_edit(images=[{"image_url": data_url(TRUNCATED_PNG)}]), JSON, 400,
     "images[0].image_url", "invalid_image"),
    ("json-mask-size", EDITS, json_edit(images=[{"image_url": data_url(PNG)}],
                                        mask={"image_url": data_url(mask(128, 128))}), JSON, 400, "mask",
     "invalid_value"),
    ("json-malformed", EDITS, b'{"prompt": ', JSON, 400, None, "invalid_json"),
    # Variations: dall-e-2 only, one square PNG under 4 MB.
    ("variation-non-square", VARIATIONS, form(image(WIDE_PNG)), MULTIPART, 400, "image", "invalid_value"),
    ("variation-jpeg", VARIATIONS, form(image(JPEG, filename="x.jpg")), MULTIPART, 400, "image",
     "invalid_image_format"),
    ("variation-over-4mb", VARIATIONS, form(image(OVER_4MB_PNG)), MULTIPART, 413, "image", "request_too_large"),
    ("variation-bomb", VARIATIONS, form(image(png_claiming(30_000, 30_000))), MULTIPART, 400, "image",
     "image_too_large"),
    ("variation-two-images", VARIATIONS, form(image(name="image[]"), image(name="image[]")), MULTIPART, 400,
     "image", "invalid_value"),
    ("variation-gpt-model", VARIATIONS, form(image(), ("model", "gpt-image-1")), MULTIPART, 400, "model",
     "invalid_value"),
    ("variation-prompt", VARIATIONS, form(image(), PROMPT), MULTIPART, 400, "prompt", "unknown_parameter"),
    ("variation-mask", VARIATIONS, form(image(), image(mask(256, 256), name="mask")), MULTIPART, 400, "mask",
     "unknown_parameter"),
    ("variation-size", VARIATIONS, form(image(), ("size", "1024x1536")), MULTIPART, 400, "size", "invalid_value"),
    ("variation-not-multipart", VARIATIONS, json.dumps({"image": "x"}).encode(), JSON, 400, None,
     "invalid_content_type"),
]


def check_envelope(response: httpx.Response, status: int, param: str | None, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"].startswith("req_")
    body = response.json()
    assert list(body) == ["error"]
    error = body["error"]
    assert {"message", "type", "param", "code"} <= set(error) and error["message"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code), error
    return error


@pytest.mark.parametrize("path, raw, headers, status, param, code", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_upload_gets_envelope_and_server_survives(http, path, raw, headers, status, param, code):
    response = http.post(path, content=raw, headers=headers)
    check_envelope(response, status, param, code)
    assert http.get("/health").status_code == 200


def test_server_still_edits_after_the_bad_uploads(http):
    response = http.post(EDITS, content=edit(("quality", "low"), ("size", "1024x1024")), headers=MULTIPART)
    assert response.status_code == 200, response.text
    assert decode_b64(response.json()["data"][0]["b64_json"]).size == (1024, 1024)


def test_longest_prompt_in_a_multibyte_script_is_accepted(http):
    """32,000 characters is the GPT prompt limit; in CJK that is 96,000 bytes of UTF-8."""
    body = form(image(), ("prompt", "字" * 32_000), ("quality", "low"))
    response = http.post(EDITS, content=body, headers=MULTIPART)
    assert response.status_code == 200, response.text


def chunks(data: bytes, size: int = 65_536) -> Iterator[bytes]:
    """A generator body: httpx sends it with Transfer-Encoding: chunked and no Content-Length."""
    for start in range(0, len(data), size):
        yield data[start:start + size]


def test_chunked_multipart_edit_succeeds(http):
    body = edit(image(mask(256, 256), name="mask"), ("n", "2"), ("quality", "low"), ("output_format", "webp"))
    request = http.build_request("POST", EDITS, content=chunks(body, 1000), headers=MULTIPART)
    assert request.headers["transfer-encoding"] == "chunked" and "content-length" not in request.headers
    response = http.send(request)
    assert response.status_code == 200, response.text
    assert [decode_b64(d["b64_json"]).format for d in response.json()["data"]] == ["WEBP", "WEBP"]


# ---- a server with small upload caps and a TMPDIR of its own -----------------------------------

FILE_CAP = 4 * 2**20
BODY_CAP = 16 * 2**20
BIG_FILE = PNG + b"\x00" * (6 * 2**20)  # over the per-file cap, under the body cap
JUNK_PNG = PNG[:64] + b"\x00" * (3 * 2**20)  # under the caps, over the 1 MB at which Starlette's form() spools
NEAR_CAP = [image(PNG + b"\x00" * (FILE_CAP - len(PNG) - 1), name="image[]")]  # one part just under FILE_CAP


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    work = tmp_path_factory.mktemp("capped")
    tmpdir = work / "tmp"
    tmpdir.mkdir()
    limits = f"max_upload_bytes = {BODY_CAP}\nmax_upload_file_bytes = {FILE_CAP}\n"
    live = start_server(work / "server", limits + CONFIG, env={"TMPDIR": str(tmpdir)})
    yield live, tmpdir
    alive = live.process.poll() is None
    stop_server(live)
    assert alive, f"the capped server died:\n{live.log()}"


@pytest.fixture()
def capped_http(capped):
    live, _ = capped
    with httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {live.api_key}"},
                      timeout=60) as client:
        yield client


def test_file_over_per_file_cap_is_413(capped_http):
    response = capped_http.post(EDITS, content=form(image(BIG_FILE), PROMPT), headers=MULTIPART)
    error = check_envelope(response, 413, "image", "request_too_large")
    assert "4 MB" in error["message"]
    assert capped_http.get("/health").status_code == 200


def test_mask_over_per_file_cap_is_413(capped_http):
    response = capped_http.post(EDITS, content=edit(image(BIG_FILE, name="mask")), headers=MULTIPART)
    check_envelope(response, 413, "mask", "request_too_large")


def test_variation_over_per_file_cap_is_413(capped_http):
    response = capped_http.post(VARIATIONS, content=form(image(BIG_FILE)), headers=MULTIPART)
    check_envelope(response, 413, "image", "request_too_large")


@pytest.mark.parametrize("path", [EDITS, VARIATIONS])
def test_body_over_cap_with_content_length_is_413(capped_http, path):
    body = form(*NEAR_CAP * 5, PROMPT)
    assert len(body) > BODY_CAP
    response = capped_http.post(path, content=body, headers=MULTIPART)
    check_envelope(response, 413, None, "request_too_large")


@pytest.mark.parametrize("path", [EDITS, VARIATIONS])
def test_chunked_body_over_cap_is_413(capped_http, path):
    """No Content-Length: the cap is counted as the chunks arrive. Every part is under the per-file cap."""
    request = capped_http.build_request("POST", path, content=chunks(form(*NEAR_CAP * 5, PROMPT)), headers=MULTIPART)
    assert "content-length" not in request.headers
    response = capped_http.send(request)
    check_envelope(response, 413, None, "request_too_large")
    assert capped_http.get("/health").status_code == 200


def open_files(pid: int) -> set[str]:
    """The regular files a process has open (an unlinked temporary file shows as '... (deleted)')."""
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("/") and not target.startswith("/dev/"):
            found.add(target)
    return found


def test_refused_uploads_write_nothing_to_disk(capped, capped_http):
    live, tmpdir = capped
    images_dir = Path(live.log_path).parent / "data" / "images"
    refused = [
        (EDITS, form(image(BIG_FILE), PROMPT)),  # several MB, over the per-file cap
        (EDITS, chunks(form(*NEAR_CAP * 5, PROMPT))),  # over the body cap, chunked
        (EDITS, form(image(JUNK_PNG), PROMPT)),  # 3 MB, within the caps, corrupt
        (EDITS, form(image(BOMB), PROMPT)),
        (EDITS, form(image(TRUNCATED_PNG), PROMPT)),
        (EDITS, form(image(NOT_AN_IMAGE), PROMPT)),
        (EDITS, edit(image(mask(128, 128), name="mask"))),
        (VARIATIONS, form(image(BIG_FILE))),
        (VARIATIONS, form(image(JUNK_PNG))),
        (VARIATIONS, form(image(WIDE_PNG))),
    ]
    for path, body in refused:
        response = capped_http.post(path, content=body, headers=MULTIPART)
        assert response.status_code in (400, 413), response.text
    assert sorted(tmpdir.iterdir()) == [], "refused uploads must not be spooled to TMPDIR"
    assert not images_dir.exists() or sorted(images_dir.iterdir()) == [], "nothing stored for refused uploads"
    # ...while a variation with a url response does store its output there, and only there.
    ok = capped_http.post(VARIATIONS, content=form(image(), ("size", "256x256")), headers=MULTIPART)
    assert ok.status_code == 200, ok.text
    assert len(list(images_dir.iterdir())) == 1
    assert sorted(tmpdir.iterdir()) == []


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")
def test_uploads_are_not_spooled_to_unlinked_temporary_files(capped, capped_http):
    """An unlinked temporary file (tempfile.TemporaryFile, O_TMPFILE) never shows in a folder listing:
    look at the server's open files while the body is still arriving."""
    live, _ = capped
    pid = live.process.pid
    before = open_files(pid)
    seen: set[str] = set()

    def slow_body() -> Iterator[bytes]:
        parts = list(chunks(form(image(JUNK_PNG), PROMPT), 256 * 2**10))
        for i, chunk in enumerate(parts):
            yield chunk
            if 6 <= i < len(parts) - 1:  # past 1.5 MB of the file (a spooling parser's disk file would be open),
                time.sleep(0.02)  # and before the end of the body (when decoding may import modules)
                seen.update(open_files(pid) - before)

    response = capped_http.post(EDITS, content=slow_body(), headers=MULTIPART)
    check_envelope(response, 400, "image", "invalid_image")
    assert not seen, f"the server opened files while receiving an upload: {sorted(seen)}"
