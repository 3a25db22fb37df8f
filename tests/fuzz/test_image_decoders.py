"""hypothesis on the upload decoders (`postprocess/sources.py`), alone and through the real ASGI app: an
upload decodes to (H, W, 3|4) uint8 pixels within `max_pixels`, or is a 400 naming its field; never
anything else. Images are made in many modes (palette, 16-bit, LA, CMYK, EXIF-rotated, animated APNG and
WebP, GIF) and then broken: truncated, bytes flipped, a header claiming a huge size (decompression
bombs), mislabelled. Bounded by count: fixed seeds (`derandomize`), no example database.
"""

from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from darkroom.api.app import create_app
from darkroom.config import load_settings
from darkroom.errors import InvalidRequest
from darkroom.postprocess.sources import load_image
from tests.fuzz.test_json_bodies import check

FUZZ = settings(max_examples=300, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MAX_PIXELS = 64 * 64
MODES = ["RGB", "RGBA", "L", "LA", "P", "PA", "I;16", "1", "CMYK", "I", "F"]
FORMATS = ["PNG", "JPEG", "WEBP", "GIF"]


@st.composite
def images(draw: st.DrawFn) -> bytes:
    """A small real image file, sometimes animated or EXIF-rotated."""
    fmt = draw(st.sampled_from(FORMATS))
    mode = draw(st.sampled_from(MODES))
    width, height = draw(st.integers(1, 80)), draw(st.integers(1, 80))
    seed = draw(st.integers(0, 2**16))
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 4), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGBA").convert(mode if mode not in ("I;16", "I", "F") else "L")
    if mode in ("I;16", "I", "F"):
        image = image.convert("I").convert(mode) if mode != "F" else image.convert("F")
    options: dict = {}
    if draw(st.integers(0, 4)) == 0:
        exif = Image.Exif()
        exif[0x0112] = draw(st.integers(0, 9))  # orientation, including invalid values
        options["exif"] = exif.tobytes()
    if draw(st.integers(0, 4)) == 0 and fmt in ("PNG", "WEBP", "GIF"):
        options.update(save_all=True, append_images=[image.transpose(Image.Transpose.ROTATE_180)], duration=50)
    buffer = io.BytesIO()
    try:
        image.save(buffer, fmt, **options)
    except (OSError, ValueError, KeyError, TypeError):  # a mode this format cannot hold: as RGB instead
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, fmt, **{k: v for k, v in options.items() if k != "append_images"})
    return buffer.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _claim_size(data: bytes, draw: st.DrawFn) -> bytes:
    """Rewrite the size the header claims (PNG IHDR with a good CRC, JPEG SOF, WebP VP8X); the data stays small."""
    width, height = draw(st.sampled_from([(50_000, 50_000), (65_535, 65_535), (2**31 - 1, 1), (0, 0), (1, 2**24),
                                          (64, 65), (4096, 1)]))
    if data.startswith(b"\x89PNG") and data[12:16] == b"IHDR":
        ihdr = struct.pack(">II", width, height) + data[24:29]
        return data[:8] + _chunk(b"IHDR", ihdr) + data[33:]
    if data.startswith(b"\xff\xd8"):
        sof = max(data.find(b"\xff\xc0"), data.find(b"\xff\xc2"))
        if sof > 0:
            return data[:sof + 5] + struct.pack(">HH", min(height, 65_535), min(width, 65_535)) + data[sof + 9:]
    if data[12:16] == b"VP8X":
        w, h = (max(min(v, 2**24), 1) - 1 for v in (width, height))
        return data[:24] + w.to_bytes(3, "little") + h.to_bytes(3, "little") + data[30:]
    return data


def _truncate(data: bytes, draw: st.DrawFn) -> bytes:
    return data[:draw(st.integers(0, max(len(data) - 1, 0)))]


def _flip(data: bytes, draw: st.DrawFn) -> bytes:
    corrupt = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(corrupt) - 1))
        corrupt[position] = draw(st.integers(0, 255))
    return bytes(corrupt)


def _keep(data: bytes, draw: st.DrawFn) -> bytes:
    return data


MANGLES = [_keep, _keep, _claim_size, _claim_size, _truncate, _flip]


@st.composite
def uploads(draw: st.DrawFn) -> tuple[bytes, bool]:
    """(file bytes, whether they are the image as saved)."""
    data = draw(images())
    mangle = draw(st.sampled_from(MANGLES))
    return mangle(data, draw), mangle is _keep


@FUZZ
@given(case=uploads(), param=st.sampled_from(["image", "mask", "image[3]"]))
def test_any_upload_decodes_within_the_cap_or_is_a_400_naming_its_field(case, param):
    data, pristine = case
    try:
        pixels = load_image(data, param, max_pixels=MAX_PIXELS)
    except InvalidRequest as exc:
        assert (exc.status, exc.param) == (400, param) and param in exc.message
        if pristine:  # a good file is only refused for its format or its size
            assert exc.code in ("invalid_image_format", "image_too_large"), exc.message
        return
    assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] in (3, 4)
    assert pixels.flags.c_contiguous and pixels.shape[0] * pixels.shape[1] <= MAX_PIXELS
    if pristine:
        with Image.open(io.BytesIO(data)) as original:
            assert sorted(pixels.shape[:2]) == sorted(original.size)  # EXIF may swap the sides


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    settings_ = load_settings(data_dir=tmp_path_factory.mktemp("fuzz-images"), max_input_pixels=MAX_PIXELS)
    with TestClient(create_app(settings_), raise_server_exceptions=False) as c:
        for _ in range(600):  # moderation warms up in the background
            if c.get("/health").status_code == 200:
                break
            time.sleep(0.1)
        yield c


@settings(FUZZ, max_examples=60)
@given(case=uploads(), route=st.sampled_from(["/v1/images/edits", "/v1/images/variations"]),
       label=st.sampled_from([("a.png", "image/png"), ("a.jpg", "image/jpeg"), ("a.gif", "text/plain"),
                              ("upload", "application/octet-stream")]))
def test_any_upload_over_http_is_served_or_refused_naming_image(client, case, route, label):
    data, _ = case
    fields = {"prompt": "a lighthouse", "model": "gpt-image-1", "quality": "low", "size": "1024x1024"} \
        if route.endswith("edits") else {"model": "dall-e-2", "size": "256x256", "response_format": "b64_json"}
    response = client.post(route, data=fields, files={"image": (label[0], data, label[1])})
    check(response, route)
    if response.status_code >= 400:
        assert response.json()["error"]["param"] == "image", response.text
