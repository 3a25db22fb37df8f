"""Image encoding candidates side by side with Pillow's defaults: PNG, JPEG (q90, q100), WebP (q90).

Two contents (photo-like: smooth gradients plus noise, like diffusion output; flat: the sketch engine's
illustration) at 1024x1024 and 1536x1024, RGB. Every round runs every candidate once on the same
pixels, in a rotated order (so no candidate always runs first or last); times are encode and base64,
medians over rounds. The baseline of each block is Pillow's default (`save(format=...)`, PNG level 6,
JPEG 4:2:0, WebP method 4) with `base64.b64encode`. Darkroom's row uses `darkroom.postprocess.encode`
(its own `b64` too). Candidates whose package is missing are left out (and named under the table).
See bench/README.md, section `encoding`.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable

import numpy as np
from PIL import Image

from bench._common import (
    fmt,
    machine_description,
    median,
    package_versions,
    ratio,
    rotated,
    table,
)
from darkroom.engines.sketch import render
from darkroom.postprocess import encode as darkroom_encode
from darkroom.postprocess.png import average_filtered

SIZES = [(1024, 1024), (1536, 1024)]
PROMPT = "a mountain lake at sunset, a phone showing a checklist app"
Encoder = Callable[[np.ndarray], bytes]


def photo_like(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Smooth colour gradients plus Gaussian noise (sigma 4), like an unprocessed diffusion output."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([128 + 100 * np.sin(x / 97 + y / 151), 128 + 90 * np.cos(y / 83 - x / 211),
                     (x + y) * 255 / (width + height)], -1)
    return np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)


def pillow(fmt_name: str, **options) -> Encoder:
    def run(pixels: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format=fmt_name, **options)
        return buffer.getvalue()
    return run


def own_png(filter_kind: str, compress: Callable[[bytes], bytes]) -> Encoder:
    """The png.py container with one fixed filter for every row and the given zlib-stream compressor."""
    from darkroom.postprocess.png import COLOR_TYPES, SIGNATURE, chunk

    def rows(pixels: np.ndarray) -> np.ndarray:
        h, w, c = pixels.shape
        flat = pixels.reshape(h, w * c)
        if filter_kind == "avg":
            return average_filtered(pixels)
        out = np.empty((h, w * c + 1), np.uint8)
        out[:, 0] = 2
        out[0, 1:] = flat[0]
        np.subtract(flat[1:], flat[:-1], out=out[1:, 1:])
        return out

    def run(pixels: np.ndarray) -> bytes:
        h, w, c = pixels.shape
        header = np.array([w, h], ">u4").tobytes() + bytes([8, COLOR_TYPES[c], 0, 0, 0])
        return b"".join((SIGNATURE, *chunk(b"IHDR", header), *chunk(b"IDAT", compress(rows(pixels).tobytes())),
                         *chunk(b"IEND", b"")))
    return run


def candidates() -> tuple[dict[str, list[tuple[str, Encoder]]], list[str]]:
    """{block: [(name, encoder)]}, the first of each block being the baseline; and the skipped names."""
    skipped: list[str] = []
    png: list[tuple[str, Encoder]] = [("pillow level 6 (default) [baseline]", pillow("PNG"))]
    png += [("darkroom: own writer, avg + isal 1 [DARKROOM]", lambda p: darkroom_encode.encode(p, "png"))]
    png += [(f"pillow level {level}", pillow("PNG", compress_level=level)) for level in (0, 1, 2, 3, 9)]
    try:
        from isal import isal_zlib
        png.append(("own writer, up + isal 1", own_png("up", lambda d: isal_zlib.compress(d, 1))))
    except ImportError:
        skipped.append("isal")
    try:
        from zlib_ng import zlib_ng
        png.append(("own writer, avg + zlib-ng 2", own_png("avg", lambda d: zlib_ng.compress(d, 2))))
    except ImportError:
        skipped.append("zlib-ng")
    try:
        import deflate
        png.append(("own writer, avg + libdeflate 6", own_png("avg", lambda d: deflate.zlib_compress(d, 6))))
        png.append(("own writer, up + libdeflate 1", own_png("up", lambda d: deflate.zlib_compress(d, 1))))
    except ImportError:
        skipped.append("deflate (libdeflate)")
    try:
        import fpng
        png.append(("fpng", lambda p: fpng.from_ndarray(np.ascontiguousarray(p))))
    except ImportError:
        skipped.append("fpng")
    try:
        import imagecodecs
        png.append(("imagecodecs png level 1 (libpng)", lambda p: imagecodecs.png_encode(p, level=1)))
        png.append(("imagecodecs png level 6 (libpng)", lambda p: imagecodecs.png_encode(p, level=6)))
        png.append(("imagecodecs spng", lambda p: imagecodecs.spng_encode(p)))
    except ImportError:
        skipped.append("imagecodecs")
    vips = None
    try:
        import pyvips
        vips = pyvips
        png.append(("pyvips png compression 6", lambda p: vips.Image.new_from_array(p).pngsave_buffer(compression=6)))
        png.append(("pyvips png compression 1", lambda p: vips.Image.new_from_array(p).pngsave_buffer(compression=1)))
    except (ImportError, OSError, Exception):  # pyvips raises cffi errors when libvips is missing
        skipped.append("pyvips")

    blocks: dict[str, list[tuple[str, Encoder]]] = {"png": png}
    for quality in (90, 100):
        jpeg: list[tuple[str, Encoder]] = [
            ("pillow (4:2:0) [baseline]", pillow("JPEG", quality=quality)),
            ("darkroom: pillow 4:2:0 [DARKROOM]", lambda p, q=quality: darkroom_encode.encode(p, "jpeg", q)),
        ]
        try:
            import simplejpeg
            jpeg.append(("simplejpeg 4:2:0", lambda p, q=quality: simplejpeg.encode_jpeg(
                np.ascontiguousarray(p), quality=q, colorspace="RGB", colorsubsampling="420")))
            jpeg.append(("simplejpeg 4:4:4 (its default)", lambda p, q=quality: simplejpeg.encode_jpeg(
                np.ascontiguousarray(p), quality=q, colorspace="RGB", colorsubsampling="444")))
        except ImportError:
            skipped.append("simplejpeg")
        if vips is not None:
            jpeg.append(("pyvips 4:2:0", lambda p, q=quality: vips.Image.new_from_array(p).jpegsave_buffer(
                Q=q, subsample_mode="on")))
        blocks[f"jpeg q{quality}"] = jpeg
    webp: list[tuple[str, Encoder]] = [("pillow method 4 (default) [baseline]", pillow("WEBP", quality=90)),
                                       ("darkroom: pillow method 4 [DARKROOM]",
                                        lambda p: darkroom_encode.encode(p, "webp", 90))]
    webp += [(f"pillow method {m}", pillow("WEBP", quality=90, method=m)) for m in (0, 1, 2, 3, 5, 6)]
    if vips is not None:
        webp += [(f"pyvips effort {e}", lambda p, e=e: vips.Image.new_from_array(p).webpsave_buffer(Q=90, effort=e))
                 for e in (0, 4)]
    blocks["webp q90"] = webp
    return blocks, sorted(set(skipped))


def std_b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def measure(entries: list[tuple[str, Encoder]], pixels: np.ndarray, rounds: int) -> list[dict]:
    """Rotated-order rounds; per candidate: median encode ms, median base64 ms, median total, bytes, lossless."""
    results = []
    for name, encoder in entries:
        blob = encoder(pixels)  # warm-up, and the output checked once
        lossless = None
        if blob[:8] == b"\x89PNG\r\n\x1a\n":
            lossless = np.array_equal(np.asarray(Image.open(io.BytesIO(blob))), pixels)
        results.append({"name": name, "encoder": encoder, "bytes": len(blob), "lossless": lossless,
                        "b64": darkroom_encode.b64 if "[DARKROOM]" in name else std_b64,
                        "encode": [], "base64": [], "total": []})
    for round_index in range(rounds):
        for entry in rotated(results, round_index):
            start = time.perf_counter()
            blob = entry["encoder"](pixels)
            middle = time.perf_counter()
            entry["b64"](blob)
            end = time.perf_counter()
            entry["encode"].append((middle - start) * 1000)
            entry["base64"].append((end - middle) * 1000)
            entry["total"].append((end - start) * 1000)
    return results


def block_table(results: list[dict]) -> str:
    base = results[0]
    base_total, base_bytes = median(base["total"]), base["bytes"]
    rows = []
    for entry in results:
        total = median(entry["total"])
        speedup = base_total / total if total > 0 else float("nan")
        lossless = "" if entry["lossless"] is None else ("yes" if entry["lossless"] else "NO")
        rows.append([entry["name"], fmt(median(entry["encode"]), 1), fmt(median(entry["base64"]), 1), fmt(total, 1),
                     f"{speedup:.1f}x", f"{entry['bytes']:,}", ratio(entry["bytes"], base_bytes), lossless])
    header = ["candidate", "encode ms", "b64 ms", "total ms", "speed vs base", "bytes", "bytes vs base", "lossless"]
    return table(header, rows)


def run(quick: bool) -> str:
    rounds = 3 if quick else 9
    blocks, skipped = candidates()
    out = [machine_description(), "encoders: " + package_versions(
        "isal", "zlib-ng", "deflate", "pybase64", "fpng", "imagecodecs", "pyvips", "pyvips-binary", "simplejpeg"),
           f"rounds: {rounds} per block (rotated order), medians; speed vs base = baseline total / candidate total; "
           "baseline b64 = base64.b64encode, darkroom b64 = encode.b64 (pybase64)"]
    if skipped:
        out.append("not measured (package missing): " + ", ".join(skipped))
    out.append("PyTurboJPEG: not measured (needs the system library libturbojpeg >= 3.0, absent here; simplejpeg "
               "wraps the same libjpeg-turbo)")
    for width, height in SIZES:
        contents = {"photo-like": photo_like(width, height),
                    "flat (sketch)": render(PROMPT, width, height, seed=1, quality="medium")}
        for content, pixels in contents.items():
            for block, entries in blocks.items():
                out.append(f"\n## {block}, {content}, {width}x{height} RGB")
                out.append(block_table(measure(entries, pixels, rounds)))
    return "\n".join(out)


if __name__ == "__main__":
    import sys
    print(run("--quick" in sys.argv))
