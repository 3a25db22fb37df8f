"""Turn uploaded images (edit and variation inputs, masks) into pixels safely, then fit and composite them.

Uploaded bytes are untrusted. The format is sniffed from magic bytes, never from a filename or a
part's Content-Type. The pixel count is checked from the header before anything is decoded: a
20000x20000 PNG of one colour is under 400 KB. Files are opened through Pillow's plugin classes, not
`Image.open`, whose process-wide decompression-bomb check (a warning, then an error, at its own fixed
limit) would otherwise pre-empt ours. PNG and JPEG only parse their headers when opened; libwebp
allocates the canvas at open, so a WebP's size is read from its RIFF header first. Every failure to
decode becomes a 400 that names the field.

Pixels are uint8 C-contiguous (H, W, 3), or (H, W, 4) when the image has alpha. All functions are
pure and synchronous; callers run them in a thread.
"""

from __future__ import annotations

import base64
import binascii
import io
import struct
from typing import Literal

import numpy as np
from PIL import (
    Image,
    ImageFile,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    WebPImagePlugin,
)

from ..errors import InvalidRequest

ImageFormat = Literal["png", "jpeg", "webp"]

_OPENERS: dict[str, type[ImageFile.ImageFile]] = {
    "png": PngImagePlugin.PngImageFile,
    "jpeg": JpegImagePlugin.JpegImageFile,
    "webp": WebPImagePlugin.WebPImageFile,
}
# What Pillow raises on malformed data. Wide on purpose: each of these means a bad file, not a server fault.
_CORRUPT = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, struct.error)
_MASK_WITHOUT_ALPHA = (
    "Invalid 'mask': the mask must be a PNG with an alpha channel; fully transparent areas mark where to edit."
)


def sniff(data: bytes) -> ImageFormat | None:
    """The image format from the magic bytes alone."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def decode_data_url(url: str, param: str) -> bytes:
    """The bytes of a `data:image/...;base64,...` URL. This server never fetches remote URLs."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme in ("http", "https"):
        raise InvalidRequest(
            f"Invalid '{param}': this server does not fetch remote URLs; only base64 data URLs "
            "(data:image/png;base64,...) are accepted.", param=param, code="invalid_image_url",
        )
    header, comma, payload = url[5:].partition(",")
    media_type, *options = header.split(";")
    if scheme != "data" or not comma or not media_type.strip().lower().startswith("image/") \
            or not options or options[-1].strip().lower() != "base64":
        raise InvalidRequest(
            f"Invalid '{param}': expected a base64 data URL such as 'data:image/png;base64,...'.",
            param=param, code="invalid_image_url",
        )
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(
            f"Invalid '{param}': the data URL's base64 payload is malformed.", param=param, code="invalid_image_url"
        ) from None


def load_image(
    data: bytes, param: str, *, max_pixels: int, formats: tuple[ImageFormat, ...] = ("png", "jpeg", "webp")
) -> np.ndarray:
    """Decode an uploaded image into (H, W, 3|4) uint8 pixels, refusing anything unsafe or broken."""
    # 1. Identify the format from the bytes
    fmt = _check_format(data, param, formats)
    # 2. Read the header only, and check the pixel count before any decoding
    image = _open(data, fmt, param, max_pixels)
    _check_pixels(image.size, param, max_pixels)
    # 3. Decode everything; upright by EXIF orientation
    try:
        image.load()
        ImageOps.exif_transpose(image, in_place=True)
    except _CORRUPT as exc:
        raise _corrupt(param) from exc
    # 4. To RGB or RGBA uint8
    return _to_array(image)


def fit(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale to cover width x height keeping the aspect ratio, then centre-crop (Lanczos; alpha alongside).

    Returns `pixels` itself when it is already that size. Pillow resizes RGBA premultiplied, so colour
    does not bleed out of transparent areas (whose RGB comes back as 0).
    """
    if pixels.shape[:2] == (height, width):
        return pixels
    fitted = ImageOps.fit(Image.fromarray(pixels), (width, height), method=Image.Resampling.LANCZOS)
    return np.array(fitted)


def repaint_area(mask: np.ndarray) -> np.ndarray:
    """float32 (H, W) in [0, 1] from an RGBA mask: 1 where fully transparent (repaint), 0 where opaque (keep)."""
    if mask.ndim != 3 or mask.shape[2] != 4:
        raise InvalidRequest(_MASK_WITHOUT_ALPHA, param="mask", code="invalid_mask")
    return (255 - mask[..., 3].astype(np.float32)) / np.float32(255)


def paste_unmasked(original: np.ndarray, generated: np.ndarray, repaint: np.ndarray) -> np.ndarray:
    """Blend `original` back over `generated` in place: original * (1 - r) + generated * r, rounded.

    Written as original + (generated - original) * r, which is exact at both ends: where r == 0 the
    original pixel comes back bit for bit, where r == 1 the generated one is untouched. An RGB original
    counts as opaque when `generated` has alpha; an RGBA original gives only its RGB to an RGB `generated`.
    """
    if original.shape[:2] != generated.shape[:2] or repaint.shape != generated.shape[:2]:
        raise ValueError(
            f"paste_unmasked needs equal sizes, got {original.shape}, {generated.shape} and {repaint.shape}"
        )
    channels = generated.shape[2]
    source = original[..., :channels]
    if source.shape[2] < channels:  # RGB original under an RGBA result: opaque
        source = np.dstack([source, np.full(source.shape[:2], 255, np.uint8)])
    base = source.astype(np.float32)
    blend = base + (generated.astype(np.float32) - base) * repaint[..., None]
    generated[...] = np.rint(blend, out=blend)
    return generated


def _check_format(data: bytes, param: str, formats: tuple[ImageFormat, ...]) -> ImageFormat:
    if not data:
        raise InvalidRequest(f"Invalid file '{param}': the file is empty.", param=param, code="empty_file")
    fmt = sniff(data)
    if fmt is None or fmt not in formats:
        supported = formats[0] if len(formats) == 1 else f"{', '.join(formats[:-1])} and {formats[-1]}"
        noun = "format is" if len(formats) == 1 else "formats are"
        raise InvalidRequest(
            f"Invalid file '{param}': unsupported format. Supported {noun} {supported}.",
            param=param, code="invalid_image_format",
        )
    return fmt


def _open(data: bytes, fmt: ImageFormat, param: str, max_pixels: int) -> ImageFile.ImageFile:
    """Parse the header only (PNG and JPEG decode lazily); WebP's size is checked before its decoder starts."""
    if fmt == "webp":
        size = _webp_size(data)
        if size is None:
            raise _corrupt(param)
        _check_pixels(size, param, max_pixels)
    try:
        return _OPENERS[fmt](io.BytesIO(data))
    except Image.DecompressionBombError as exc:  # WebP past Pillow's own limit, with max_pixels set above it
        raise InvalidRequest(
            f"Invalid file '{param}': the image is too large to decode safely.", param=param, code="image_too_large"
        ) from exc
    except _CORRUPT as exc:
        raise _corrupt(param) from exc


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """The canvas size from the first chunk of a WebP file (VP8, VP8L or VP8X), as libwebp reads it."""
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _check_pixels(size: tuple[int, int], param: str, max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise InvalidRequest(
            f"Invalid file '{param}': {width}x{height} is {width * height:,} pixels, "
            f"over the limit of {max_pixels:,} pixels.", param=param, code="image_too_large",
        )


def _to_array(image: Image.Image) -> np.ndarray:
    if image.mode.startswith("I"):  # 16-bit grey ("I;16", "I;16B"; "I" from older Pillow)
        return _grey16(image)
    target = "RGBA" if image.has_transparency_data else "RGB"  # alpha, palette alpha or a tRNS colour key
    if image.mode != target:
        image = image.convert(target)
    return np.array(image)


def _grey16(image: Image.Image) -> np.ndarray:
    """16-bit grey scaled (not clipped) to 8 bits; a tRNS grey key becomes an alpha channel."""
    grey = np.clip(np.asarray(image), 0, 65535).astype(np.uint32)
    eight = ((grey * 255 + 32767) // 65535).astype(np.uint8)
    channels = [eight, eight, eight]
    key = image.info.get("transparency")
    if isinstance(key, int):
        channels.append(np.where(grey == key, 0, 255).astype(np.uint8))
    return np.stack(channels, axis=-1)


def _corrupt(param: str) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid file '{param}': the image data is truncated or corrupt.", param=param, code="invalid_image"
    )
