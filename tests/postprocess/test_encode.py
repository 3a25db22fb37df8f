from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from darkroom.postprocess.encode import b64, encode


def picture(height: int, width: int, channels: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([(x * 255 // max(width - 1, 1)), (y * 255 // max(height - 1, 1)), (x + y) % 256], -1)
    pixels = np.clip(base + rng.integers(-8, 8, base.shape), 0, 255).astype(np.uint8)
    if channels == 4:
        alpha = np.where((x - width / 2) ** 2 + (y - height / 2) ** 2 < (min(width, height) / 3) ** 2, 255, 0)
        pixels = np.dstack([pixels, alpha.astype(np.uint8)])
    return pixels


@pytest.mark.parametrize("size", [(1, 1), (17, 33), (256, 256), (864, 1536)])
@pytest.mark.parametrize("channels", [3, 4])
def test_png_is_lossless(size, channels):
    pixels = picture(*size, channels)
    decoded = np.asarray(Image.open(io.BytesIO(encode(pixels, "png"))))
    assert decoded.shape == pixels.shape and np.array_equal(decoded, pixels)


@pytest.mark.parametrize("fmt, pil", [("jpeg", "JPEG"), ("webp", "WEBP")])
def test_lossy_formats_decode_at_size(fmt, pil):
    image = Image.open(io.BytesIO(encode(picture(100, 150, 3), fmt, 80)))
    assert (image.format, image.size, image.mode) == (pil, (150, 100), "RGB")


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_compression_moves_size_monotonically(fmt):
    pixels = picture(256, 256, 3)
    sizes = [len(encode(pixels, fmt, q)) for q in (10, 40, 70, 100)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def test_webp_keeps_alpha_and_jpeg_never_has_it():
    pixels = picture(64, 64, 4)
    assert Image.open(io.BytesIO(encode(pixels, "webp", 90))).mode == "RGBA"
    assert Image.open(io.BytesIO(encode(pixels, "jpeg", 90))).mode == "RGB"


def test_b64_is_standard_padded_single_line():
    text = b64(b"\xfb\xff\x00\x01")
    assert text == "+/8AAQ==" and base64.b64decode(text, validate=True) == b"\xfb\xff\x00\x01"


# --- The PNG writer (png.py): lossless on every shape and content, valid chunks, fallback --------------

import struct
import zlib

from darkroom.engines.sketch import render
from darkroom.postprocess import png as png_writer


def photo_like(height: int, width: int, channels: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([128 + 100 * np.sin(x / 37 + y / 51), 128 + 90 * np.cos(y / 23 - x / 41), (x + y) % 256], -1)
    pixels = np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)
    if channels == 4:
        pixels = np.dstack([pixels, rng.integers(0, 256, (height, width), dtype=np.uint8)])
    return pixels


def decode(blob: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(blob)))


def chunks(blob: bytes) -> list[tuple[bytes, bytes, int]]:
    assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    found, at = [], 8
    while at < len(blob):
        (length,) = struct.unpack(">I", blob[at:at + 4])
        kind, data = blob[at + 4:at + 8], blob[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", blob[at + 8 + length:at + 12 + length])
        found.append((kind, data, crc))
        at += 12 + length
    assert at == len(blob)
    return found


SHAPES = [(1, 1), (3, 1), (1, 3), (17, 33), (2, 2), (255, 257), (864, 1536)]


@pytest.mark.parametrize("size", SHAPES)
@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("content", ["photo", "zeros", "full", "gradient"])
def test_own_png_is_lossless(size, channels, content):
    if content == "photo":
        pixels = photo_like(*size, channels)
    elif content == "gradient":
        pixels = picture(*size, channels)
    else:
        pixels = np.full((*size, channels), 0 if content == "zeros" else 255, np.uint8)
    blob = encode(pixels, "png")
    decoded = decode(blob)
    assert decoded.shape == pixels.shape and np.array_equal(decoded, pixels)
    assert Image.open(io.BytesIO(blob)).mode == ("RGBA" if channels == 4 else "RGB")


@pytest.mark.parametrize("transparent", [False, True])
@pytest.mark.parametrize("size", [(1024, 1024), (1536, 1024), (33, 17)])
def test_own_png_is_lossless_on_flat_illustrations(size, transparent):
    pixels = render("a mountain lake at sunset with a phone", *size, seed=1, quality="medium", transparent=transparent)
    assert np.array_equal(decode(encode(pixels, "png")), pixels)


def test_flat_pictures_take_the_unfiltered_path_and_noisy_ones_the_filtered():
    flat = render("a city at night", 256, 256, seed=1, quality="medium")
    noisy = photo_like(256, 256, 3)
    first_filter = lambda blob: zlib.decompress(chunks(blob)[1][1])[0]  # noqa: E731
    if png_writer.libdeflate is not None:
        assert first_filter(png_writer.encode_png(flat)) == 0
    assert first_filter(png_writer.encode_png(noisy)) == 3


@pytest.mark.parametrize("channels", [3, 4])
def test_own_png_is_a_valid_png(channels):
    pixels = photo_like(40, 70, channels)
    blob = png_writer.encode_png(pixels)
    Image.open(io.BytesIO(blob)).verify()
    found = chunks(blob)
    assert [kind for kind, _, _ in found] == [b"IHDR", b"IDAT", b"IEND"]
    for kind, data, crc in found:
        assert zlib.crc32(kind + data) == crc
    assert struct.unpack(">IIBBBBB", found[0][1]) == (70, 40, 8, 2 if channels == 3 else 6, 0, 0, 0)
    assert found[2][1] == b""


def test_own_png_refuses_what_it_cannot_write():
    for bad in (np.zeros((4, 4), np.uint8), np.zeros((4, 4, 2), np.uint8), np.zeros((4, 4, 3), np.uint16)):
        with pytest.raises(ValueError):
            png_writer.encode_png(bad)


def test_png_falls_back_to_pillow_without_isal(monkeypatch):
    monkeypatch.setattr(png_writer, "isal_zlib", None)
    pixels = photo_like(31, 45, 4)
    assert np.array_equal(decode(encode(pixels, "png")), pixels)


def test_flat_step_is_skipped_without_libdeflate(monkeypatch):
    monkeypatch.setattr(png_writer, "libdeflate", None)
    pixels = render("a city skyline at night", 64, 48, seed=1, quality="medium")
    assert np.array_equal(decode(png_writer.encode_png(pixels)), pixels)


def test_png_accepts_non_contiguous_views():
    pixels = photo_like(50, 60, 4)[:, ::2]
    assert np.array_equal(decode(encode(pixels, "png")), pixels)


# --- Lossy formats --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, pil", [("jpeg", "JPEG"), ("webp", "WEBP")])
@pytest.mark.parametrize("size", [(1, 1), (17, 33), (1024, 1536)])
def test_lossy_formats_decode_at_size_and_mode(fmt, pil, size):
    image = Image.open(io.BytesIO(encode(photo_like(*size, 3), fmt)))
    assert (image.format, image.size, image.mode) == (pil, (size[1], size[0]), "RGB")


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
@pytest.mark.parametrize("content", ["photo", "flat"])
def test_compression_moves_size_monotonically_on_real_content(fmt, content):
    pixels = photo_like(256, 256, 3) if content == "photo" else render("a lake", 256, 256, seed=1, quality="medium")
    sizes = [len(encode(pixels, fmt, q)) for q in (5, 25, 50, 75, 90, 100)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def test_jpeg_uses_pillows_420_subsampling_and_drops_alpha():
    from PIL import JpegImagePlugin

    for channels in (3, 4):
        image = Image.open(io.BytesIO(encode(photo_like(64, 64, channels), "jpeg", 90)))
        assert image.mode == "RGB" and JpegImagePlugin.get_sampling(image) == 2


def test_alpha_absent_where_not_asked():
    for fmt in ("png", "webp"):
        assert Image.open(io.BytesIO(encode(photo_like(32, 32, 3), fmt, 90))).mode == "RGB"
    assert Image.open(io.BytesIO(encode(photo_like(32, 32, 4), "png"))).mode == "RGBA"


def test_b64_matches_the_standard_library():
    for data in (b"", b"a", b"ab", b"abc", bytes(range(256)) * 1000):
        assert b64(data) == base64.b64encode(data).decode("ascii")
