"""Where the client's images go: predictable names, no overwriting, and the JSON sidecar beside each.

Names: `<out>/<stem>-<seed>-<i>.<ext>`, where the stem is a slug of the prompt (lowercase ASCII letters
and digits joined by `-`, cut at a word boundary near 40 characters; a batch line's `id`/`name` instead),
the seed is the request's (the server's `x-darkroom-seed`; left out when the server sent none), `i` is
the image's index in the request, and the extension follows the bytes (png, jpeg as `.jpg`, webp).

A name that is taken (by the image or its sidecar) is never overwritten: the next free one is chosen,
`<stem>-<seed>-<i>_2.<ext>`, `_3`, ...; names are claimed with an exclusive create, so concurrent batch
requests never pick the same one. `--overwrite` replaces instead (written to a temporary file first,
then renamed over the old one, so a reader never sees half a file).

The sidecar `<image>.json` holds what reproduces the image: the exact request body sent, the base URL,
the endpoint, model, seed, usage, created, request id and the response's size/quality/format.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

from .errors import UsageError

SIDECAR_VERSION = 1
_FORMATS = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpg"}


def slug(text: str, limit: int = 40) -> str:
    """`"A hero image, for a todo app!"` -> `a-hero-image-for-a-todo-app`; "image" when nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[a-z0-9]+", ascii_text)
    out = ""
    for word in words:
        candidate = f"{out}-{word}" if out else word
        if len(candidate) > limit:
            if not out:
                out = word[:limit]
            break
        out = candidate
    return out or "image"


def extension(data: bytes) -> str:
    """The file extension of encoded image bytes, read from their signature (png, jpg, webp)."""
    for magic, ext in _FORMATS.items():
        if data.startswith(magic):
            return ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return "bin"


def save_image(out: Path, stem: str, data: bytes, *, overwrite: bool) -> Path:
    """Write `data` under `out` as `<stem>.<ext>` (or the next free name); returns the path written."""
    out.mkdir(parents=True, exist_ok=True)
    ext = extension(data)
    if overwrite:
        path = out / f"{stem}.{ext}"
        _replace(path, data)
        return path
    for attempt in range(1, 10_000):
        path = out / (f"{stem}.{ext}" if attempt == 1 else f"{stem}_{attempt}.{ext}")
        if sidecar_path(path).exists():
            continue  # an image deleted, its sidecar kept: that name still belongs to it
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        return path
    raise UsageError(f"no free file name for {stem}.{ext} in {out}")


def sidecar_path(image: Path) -> Path:
    return image.with_name(image.name + ".json")


def write_sidecar(image: Path, record: dict[str, Any]) -> Path:
    path = sidecar_path(image)
    _replace(path, (json.dumps({"darkroom_sidecar": SIDECAR_VERSION, **record}, indent=2) + "\n").encode())
    return path


def read_sidecar(path: Path) -> dict[str, Any]:
    """A sidecar written by `write_sidecar` (the `.json` itself, or the image it sits beside)."""
    if not path.name.endswith(".json") and sidecar_path(path).exists():
        path = sidecar_path(path)
    try:
        record = json.loads(path.read_text())
    except OSError as exc:
        raise UsageError(f"cannot read sidecar {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"{path} is not a JSON sidecar: {exc}") from None
    if not isinstance(record, dict) or not isinstance(record.get("request"), dict):
        raise UsageError(f"{path} is not a darkroom sidecar (no 'request' object)")
    return record


def _replace(path: Path, data: bytes) -> None:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
