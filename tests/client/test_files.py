"""Names: slugs, the next free name, and claims that never overwrite."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from darkroom.client.files import extension, save_image, sidecar_path, slug


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, "PNG")
    return out.getvalue()


def test_slug() -> None:
    assert slug("A hero image, for a todo app!") == "a-hero-image-for-a-todo-app"
    assert slug("Crème brûlée on a café table") == "creme-brulee-on-a-cafe-table"
    assert slug("一只猫") == "image" and slug("") == "image"
    long = slug("word " * 30)
    assert len(long) <= 40 and long.endswith("word")
    assert slug("x" * 90) == "x" * 40


def test_extension_follows_the_bytes() -> None:
    assert extension(_png()) == "png"
    jpeg, webp = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (4, 4)).save(jpeg, "JPEG")
    Image.new("RGB", (4, 4)).save(webp, "WEBP")
    assert (extension(jpeg.getvalue()), extension(webp.getvalue())) == ("jpg", "webp")


def test_a_taken_name_is_never_overwritten(tmp_path: Path) -> None:
    data = _png()
    first = save_image(tmp_path, "cat-1-0", data, overwrite=False)
    second = save_image(tmp_path, "cat-1-0", b"\x89PNG\r\n\x1a\nother", overwrite=False)
    assert (first.name, second.name) == ("cat-1-0.png", "cat-1-0_2.png") and first.read_bytes() == data
    first.unlink()
    sidecar_path(first).write_text("{}")  # the image is gone but its sidecar is not: still taken
    assert save_image(tmp_path, "cat-1-0", data, overwrite=False).name == "cat-1-0_3.png"
    replaced = save_image(tmp_path, "cat-1-0", b"\x89PNG\r\n\x1a\nnew", overwrite=True)
    assert replaced == first and replaced.read_bytes().endswith(b"new")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
