"""Uploaded images into pixels: formats sniffed, bombs refused before decoding, modes converted; fit and paste."""

from __future__ import annotations

import base64
import io
import struct
import time
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from darkroom.errors import InvalidRequest
from darkroom.postprocess.sources import (
    decode_data_url,
    fit,
    load_image,
    paste_unmasked,
    repaint_area,
    sniff,
)

LIMIT = 4096 * 4096


def noise(height: int, width: int, channels: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, channels), dtype=np.uint8)


def save(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_header_only(width: int, height: int, bit_depth: int = 8, colour_type: int = 0) -> bytes:
    """A valid-looking PNG that claims a size and carries (almost) no pixel data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def webp_vp8x_header(width: int, height: int) -> bytes:
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x10\0\0\0" + (width - 1).to_bytes(3, "little") \
        + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x


def refused(data: bytes, code: str, **kwargs) -> InvalidRequest:
    kwargs.setdefault("max_pixels", LIMIT)
    with pytest.raises(InvalidRequest) as info:
        load_image(data, "image", **kwargs)
    assert (info.value.status, info.value.param, info.value.code) == (400, "image", code)
    return info.value


# Sniffing


@pytest.mark.parametrize("fmt, pil", [("png", "PNG"), ("jpeg", "JPEG"), ("webp", "WEBP")])
def test_sniff_each_format(fmt, pil):
    assert sniff(save(Image.new("RGB", (4, 4)), pil)) == fmt


@pytest.mark.parametrize("data", [b"", b"\x89PNG", b"GIF89a....", b"RIFF\0\0\0\0WAVE", b"hello", save(
    Image.new("RGB", (4, 4)), "GIF")])
def test_sniff_garbage(data):
    assert sniff(data) is None


# Decoding and modes


def test_png_rgb_and_rgba_roundtrip_exactly():
    for channels, mode in ((3, "RGB"), (4, "RGBA")):
        pixels = noise(17, 33, channels)
        out = load_image(save(Image.fromarray(pixels, mode), "PNG"), "image", max_pixels=LIMIT)
        assert out.dtype == np.uint8 and out.flags.c_contiguous and out.flags.writeable
        assert np.array_equal(out, pixels)


def test_palette_with_transparency_gets_alpha():
    palette = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).convert("P")
    out = load_image(save(palette, "PNG", transparency=3), "image", max_pixels=LIMIT)
    assert out.shape == (8, 8, 4)
    index = np.array(palette)
    assert (out[..., 3][index == 3] == 0).all() and (out[..., 3][index != 3] == 255).all()


def test_palette_without_transparency_is_rgb():
    palette = Image.fromarray(noise(8, 8, 3)).convert("P", palette=Image.Palette.ADAPTIVE)
    out = load_image(save(palette, "PNG"), "image", max_pixels=LIMIT)
    assert out.shape == (8, 8, 3) and np.array_equal(out, np.array(palette.convert("RGB")))


def test_grey_and_grey_alpha():
    grey = noise(6, 5, 1)[..., 0]
    out = load_image(save(Image.fromarray(grey), "PNG"), "image", max_pixels=LIMIT)
    assert out.shape == (6, 5, 3) and all(np.array_equal(out[..., c], grey) for c in range(3))
    la = noise(6, 5, 2)
    out = load_image(save(Image.fromarray(la, "LA"), "PNG"), "image", max_pixels=LIMIT)
    assert out.shape == (6, 5, 4) and np.array_equal(out[..., 3], la[..., 1])


def test_16_bit_grey_is_scaled_not_clipped():
    values = np.array([[0, 257, 128 * 257, 65535]], dtype=np.uint16)
    data = save(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    out = load_image(data, "image", max_pixels=LIMIT)
    assert out.shape == (1, 4, 3) and out[0, :, 0].tolist() == [0, 1, 128, 255]


def test_16_bit_grey_with_a_transparent_key():
    values = np.array([[0, 1000, 65535]], dtype=np.uint16)
    out = load_image(save(Image.fromarray(values), "PNG", transparency=1000), "image", max_pixels=LIMIT)
    assert out.shape == (1, 3, 4) and out[0, :, 3].tolist() == [255, 0, 255]


def test_jpeg_exif_orientation_is_applied():
    pixels = np.zeros((20, 40, 3), np.uint8)  # stored landscape: red left half, blue right half
    pixels[:, :20] = (255, 0, 0)
    pixels[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    out = load_image(save(Image.fromarray(pixels), "JPEG", exif=exif, quality=95), "image", max_pixels=LIMIT)
    assert out.shape == (40, 20, 3)  # portrait
    assert out[5, 10, 0] > 200 > out[5, 10, 2]  # the left (red) half is now on top
    assert out[35, 10, 2] > 200 > out[35, 10, 0]


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_jpeg_grey_and_cmyk_become_rgb(mode):
    out = load_image(save(Image.new(mode, (8, 6)), "JPEG"), "image", max_pixels=LIMIT)
    assert out.shape == (6, 8, 3) and out.dtype == np.uint8


def test_webp_lossless_with_alpha_and_lossy_without():
    pixels = noise(12, 10, 4)
    data = save(Image.fromarray(pixels, "RGBA"), "WEBP", lossless=True, exact=True)  # exact: keep RGB under alpha 0
    out = load_image(data, "image", max_pixels=LIMIT)
    assert np.array_equal(out, pixels)
    out = load_image(save(Image.fromarray(noise(12, 10, 3)), "WEBP", quality=80), "image", max_pixels=LIMIT)
    assert out.shape == (12, 10, 3)


# Refusals


def test_pixel_cap_is_checked_from_the_header_before_decoding(monkeypatch):
    def no_decoding(self):
        raise AssertionError("decoded before the size check")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_decoding)
    data = png_header_only(20000, 20000)
    assert len(data) < 100
    start = time.perf_counter()
    error = refused(data, "image_too_large", max_pixels=8_294_400)
    assert time.perf_counter() - start < 0.1
    assert error.message == (
        "Invalid file 'image': 20000x20000 is 400,000,000 pixels, over the limit of 8,294,400 pixels.")


def test_pixel_cap_for_jpeg_and_webp_headers():
    jpeg = bytearray(save(Image.new("RGB", (8, 8)), "JPEG"))
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5:sof + 9] = struct.pack(">HH", 30000, 30000)  # height, width
    assert "30000x30000" in refused(bytes(jpeg), "image_too_large").message
    # libwebp would allocate the canvas on open, so the size must come from the RIFF header first
    assert "16384x16384" in refused(webp_vp8x_header(16384, 16384), "image_too_large").message


def test_pillow_decompression_bomb_checks_never_escape():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Image.open would warn past 89M pixels
        refused(webp_vp8x_header(16384, 16384), "image_too_large", max_pixels=10**9)  # Pillow's error, mapped
        refused(png_header_only(10000, 10000, bit_depth=1), "invalid_image", max_pixels=10**9)  # no pixel data


def test_exactly_at_the_pixel_cap_is_fine():
    assert load_image(save(Image.new("RGB", (8, 4)), "PNG"), "image", max_pixels=32).shape == (4, 8, 3)
    refused(save(Image.new("RGB", (8, 4)), "PNG"), "image_too_large", max_pixels=31)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_truncated_images_are_invalid_image(fmt):
    data = save(Image.fromarray(noise(64, 64, 3)), fmt)
    error = refused(data[: len(data) // 2], "invalid_image")
    assert error.message == "Invalid file 'image': the image data is truncated or corrupt."


def test_corrupt_headers_are_invalid_image():
    refused(b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "invalid_image")
    refused(b"\xff\xd8\xff" + b"\0" * 40, "invalid_image")
    refused(b"RIFF\0\0\0\0WEBPVP8 " + b"\0" * 40, "invalid_image")


def test_unsupported_formats_list_what_is_supported():
    error = refused(b"just some text\n", "invalid_image_format")
    assert error.message == "Invalid file 'image': unsupported format. Supported formats are png, jpeg and webp."
    refused(save(Image.new("RGB", (4, 4)), "GIF"), "invalid_image_format")
    error = refused(save(Image.new("RGB", (4, 4)), "JPEG"), "invalid_image_format", formats=("png",))
    assert error.message.endswith("Supported format is png.")


def test_empty_file():
    assert "empty" in refused(b"", "empty_file").message


# Data URLs


def test_data_url_roundtrip():
    data = save(Image.new("RGB", (4, 4)), "PNG")
    encoded = base64.b64encode(data).decode()
    assert decode_data_url(f"data:image/png;base64,{encoded}", "images[0].image_url") == data
    assert decode_data_url(f"DATA:image/webp;name=a.webp;BASE64,{encoded}", "mask.image_url") == data


@pytest.mark.parametrize("url", ["https://example.com/a.png", "HTTP://10.0.0.1/a.png"])
def test_remote_urls_are_not_fetched(url):
    with pytest.raises(InvalidRequest) as info:
        decode_data_url(url, "images[0].image_url")
    assert (info.value.param, info.value.code) == ("images[0].image_url", "invalid_image_url")
    assert "does not fetch remote URLs" in info.value.message and "data URL" in info.value.message


@pytest.mark.parametrize("url", [
    "data:text/plain;base64,aGVsbG8=", "data:image/png,rawbytes", "data:image/png;base64", "image/png;base64,AAAA",
    "data:image/png;base64,not base64!", "data:image/png;base64,AAA", "file:///etc/passwd", "",
])
def test_bad_data_urls(url):
    with pytest.raises(InvalidRequest) as info:
        decode_data_url(url, "images[1].image_url")
    assert (info.value.status, info.value.param, info.value.code) == (400, "images[1].image_url", "invalid_image_url")


# fit


def test_fit_returns_the_same_array_when_the_size_matches():
    pixels = noise(16, 24, 3)
    assert fit(pixels, 24, 16) is pixels


@pytest.mark.parametrize("shape, size", [((100, 50, 3), (64, 64)), ((50, 100, 4), (30, 40)), ((10, 20, 3), (80, 40))])
def test_fit_sizes(shape, size):
    out = fit(noise(*shape), *size)
    assert out.shape == (size[1], size[0], shape[2]) and out.dtype == np.uint8 and out.flags.c_contiguous


def test_fit_covers_and_centre_crops():
    pixels = np.zeros((100, 200, 3), np.uint8)  # red | green (middle half) | blue
    pixels[:, :50], pixels[:, 50:150], pixels[:, 150:] = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    out = fit(pixels, 50, 50).astype(int)  # half scale, keep the middle 100 columns: all green
    assert (out[:, 2:-2, 1] > 250).all() and (out[:, 2:-2, [0, 2]] < 5).all()


def test_fit_resizes_alpha_alongside():
    pixels = np.zeros((40, 40, 4), np.uint8)
    pixels[:, 20:] = 255
    out = fit(pixels, 20, 20)
    assert (out[:, :6, 3] == 0).all() and (out[:, 14:, 3] == 255).all()  # Lanczos rings near the edge


# Masks and compositing


def test_repaint_area():
    alpha = np.array([[0, 255, 128]], np.uint8)
    mask = np.dstack([np.zeros((1, 3, 3), np.uint8), alpha])
    area = repaint_area(mask)
    assert area.dtype == np.float32 and area.shape == (1, 3)
    assert area[0, 0] == 1.0 and area[0, 1] == 0.0 and area[0, 2] == pytest.approx(127 / 255)


def test_mask_without_alpha_is_refused():
    with pytest.raises(InvalidRequest) as info:
        repaint_area(noise(4, 4, 3))
    assert (info.value.status, info.value.param) == (400, "mask")
    assert info.value.message == ("Invalid 'mask': the mask must be a PNG with an alpha channel; "
                                  "fully transparent areas mark where to edit.")


def zones(height: int = 32, width: int = 48) -> np.ndarray:
    """Rows 0-7 keep (0), 8-15 repaint (1), 16-23 half (0.5), 24-31 random."""
    repaint = np.zeros((height, width), np.float32)
    repaint[8:16], repaint[16:24] = 1.0, 0.5
    repaint[24:] = np.random.default_rng(3).random((height - 24, width), dtype=np.float32)
    return repaint


@pytest.mark.parametrize("original_channels, generated_channels", [(3, 3), (4, 4), (3, 4), (4, 3)])
def test_paste_unmasked(original_channels, generated_channels):
    original, generated = noise(32, 48, original_channels, 1), noise(32, 48, generated_channels, 2)
    before, repaint = generated.copy(), zones()
    out = paste_unmasked(original, generated, repaint)
    assert out is generated and out.shape == before.shape and out.dtype == np.uint8
    rgb = slice(0, 3)
    assert np.array_equal(out[:8, :, rgb], original[:8, :, rgb])  # kept: bit-identical
    assert np.array_equal(out[8:16], before[8:16])  # repainted: untouched
    half = np.rint((original[16:24, :, rgb].astype(np.float32) + before[16:24, :, rgb]) / 2)
    assert np.array_equal(out[16:24, :, rgb], half)
    expected = original[24:, :, rgb] * (1 - repaint[24:, :, None]) + before[24:, :, rgb] * repaint[24:, :, None]
    assert np.abs(out[24:, :, rgb] - expected).max() <= 0.5 + 1e-3
    if generated_channels == 4:
        kept_alpha = 255 if original_channels == 3 else original[:8, :, 3]
        assert np.array_equal(out[:8, :, 3], np.broadcast_to(kept_alpha, (8, 48)))


def test_paste_unmasked_needs_equal_sizes():
    with pytest.raises(ValueError):
        paste_unmasked(noise(4, 4, 3), noise(4, 5, 3), np.zeros((4, 5), np.float32))
