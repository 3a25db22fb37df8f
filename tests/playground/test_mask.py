"""The mask (mask.js) in chromium: an uploaded image, a stroke painted with the mouse and part of it
erased, sent as an edit; the result, decoded from the page, keeps every unpainted pixel of the source
exactly and changes the painted area (OpenAI's meaning: the mask's transparent pixels are edited)."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

SIZE = 1024


def source_image(path) -> np.ndarray:
    """A busy picture (gradients and a checkerboard), so that any moved pixel shows."""
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    pixels = np.stack([x * 255 // SIZE, y * 255 // SIZE, ((x // 64 + y // 64) % 2) * 200 + 30], -1).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return pixels


def canvas_pixels(page, selector: str) -> np.ndarray:
    data_url = page.eval_on_selector(selector, "(canvas) => canvas.toDataURL('image/png')")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGBA"))


def drag(page, box, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(box["x"] + start[0] * box["width"], box["y"] + start[1] * box["height"])
    page.mouse.down()
    for step in range(1, 11):
        t = step / 10
        page.mouse.move(box["x"] + (start[0] + (end[0] - start[0]) * t) * box["width"],
                        box["y"] + (start[1] + (end[1] - start[1]) * t) * box["height"])
    page.mouse.up()


def test_an_edit_with_a_painted_mask_keeps_the_unmasked_pixels(open_page, tmp_path):
    page = open_page.page
    source = source_image(tmp_path / "source.png")
    page.click("#mode-edit")
    page.set_input_files("[data-testid=source-file]", str(tmp_path / "source.png"))
    page.wait_for_selector("#source-note:has-text('1024×1024')")
    page.select_option("[data-testid=model]", "gpt-image-1")
    page.fill("[data-testid=prompt]", "a red balloon")
    page.select_option("[data-testid=quality]", "low")
    page.select_option("[data-testid=partial-images]", "1")
    box = page.locator("[data-testid=mask-canvas]").bounding_box()
    page.fill("[data-testid=brush]", "120")
    drag(page, box, (0.2, 0.5), (0.8, 0.5))  # a thick horizontal stroke
    page.click("[data-testid=mask-erase]")
    drag(page, box, (0.65, 0.5), (0.9, 0.5))  # erase its right end again
    painted = canvas_pixels(page, "[data-testid=mask-canvas]")[..., 3]
    assert painted.shape == (SIZE, SIZE)
    assert painted[512, 300] == 255 and painted[512, 800] == 0 and painted[100, 100] == 0
    open_page.shot("mask-painted")

    page.click("[data-testid=generate]")
    page.wait_for_selector("img[data-testid=result]", timeout=60_000)
    result = np.asarray(open_page.image("img[data-testid=result]").convert("RGB"))
    assert result.shape == source.shape
    keep = painted == 0
    assert np.array_equal(result[keep], source[keep])  # every unpainted pixel, exactly (erased ones too)
    inside = painted == 255
    assert inside.sum() > 50_000
    changed = np.abs(result[inside].astype(int) - source[inside].astype(int)).sum(axis=1) > 30
    assert changed.mean() > 0.5, changed.mean()  # the painted area was repainted
    open_page.shot("mask-edited")


def test_clear_removes_the_mask(open_page, tmp_path):
    page = open_page.page
    source_image(tmp_path / "source.png")
    page.click("#mode-edit")
    page.set_input_files("[data-testid=source-file]", str(tmp_path / "source.png"))
    page.wait_for_selector("#source-note:has-text('1024×1024')")
    box = page.locator("[data-testid=mask-canvas]").bounding_box()
    drag(page, box, (0.2, 0.2), (0.4, 0.4))
    assert canvas_pixels(page, "[data-testid=mask-canvas]")[..., 3].max() == 255
    page.click("[data-testid=mask-clear]")
    assert canvas_pixels(page, "[data-testid=mask-canvas]")[..., 3].max() == 0
    page.click("[data-testid=view-code]")
    code = page.locator("[data-testid=code]").inner_text()
    assert "image=@image.png" in code and "mask" not in code  # nothing painted: no mask is sent
