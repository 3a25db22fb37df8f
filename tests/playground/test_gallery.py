"""The gallery (gallery.js) in chromium: this browser's results are still there after a reload (IndexedDB),
with download, reuse of prompt and seed, and "edit this image"; the key's images kept by `store_all`
are listed from the server."""

from __future__ import annotations

import numpy as np

PROMPT = "a paper boat on a blue pond"


def test_the_gallery_survives_a_reload_and_reuses_its_entries(open_page):
    page = open_page.page
    page.select_option("[data-testid=model]", "gpt-image-1")
    page.fill("[data-testid=prompt]", PROMPT)
    page.select_option("[data-testid=quality]", "low")
    page.fill("[data-testid=seed]", "77")
    page.fill("[data-testid=n]", "2")
    page.click("[data-testid=generate]")
    open_page.until("document.querySelectorAll('[data-testid=gallery-item]').length === 2")
    first = np.asarray(open_page.image("img[data-testid=result]").convert("RGB"))

    page.reload()
    page.wait_for_selector("[data-testid=model] option", state="attached")
    open_page.until("document.querySelectorAll('[data-testid=gallery-item]').length === 2")
    assert not page.query_selector("img[data-testid=result]")  # a fresh page: only the gallery remembers
    items = page.locator("[data-testid=gallery-item]")
    assert PROMPT in items.first.inner_text() and "seed 7" in items.first.inner_text()
    kept = [np.asarray(open_page.image("[data-testid=gallery-item] img", i).convert("RGB")) for i in range(2)]
    assert any(np.array_equal(first, image) for image in kept)
    open_page.shot("gallery-after-reload")

    with page.expect_download() as download:
        items.first.get_by_text("Download").click()
    assert download.value.suggested_filename.startswith("darkroom-") and download.value.path().stat().st_size > 1000

    page.fill("[data-testid=prompt]", "")
    items.first.get_by_role("button", name="Reuse").click()
    assert page.input_value("[data-testid=prompt]") == PROMPT
    assert page.input_value("[data-testid=seed]") in ("77", "78")

    items.first.get_by_role("button", name="Edit").click()
    assert page.get_attribute("#mode-edit", "aria-selected") == "true"
    page.wait_for_selector("#source-note:has-text('1024×1024')")
    assert page.locator("[data-testid=generate]").inner_text() == "Send edit"


def test_kept_images_of_the_key_are_listed(open_page):
    page = open_page.page
    page.select_option("[data-testid=model]", "dall-e-2")
    page.select_option("[data-testid=size]", "256x256")
    page.fill("[data-testid=prompt]", "a kept lighthouse")
    page.click("[data-testid=generate]")
    page.wait_for_selector("img[data-testid=result]")
    page.click("#gallery-kept")
    page.wait_for_selector("#gallery-note:has-text('kept on the server')")
    item = page.locator("[data-testid=gallery-item]", has_text="a kept lighthouse").first
    item.wait_for()
    open_page.until("[...document.querySelectorAll('[data-testid=gallery-item] img')].every((i) => i.complete && i.naturalWidth > 0)")
    assert "dall-e-2" in item.inner_text()
    open_page.shot("gallery-kept")
