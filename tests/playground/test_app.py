"""The playground page (app.js) in chromium: streaming with partials before the final, what each image
shows (seed, model, usage), errors from OpenAI's envelope (moderation, a wrong key), cancelling, the
keyboard, a phone-width screen."""

from __future__ import annotations

import base64
import io
import time

import httpx
import numpy as np
import openai
from PIL import Image

from tests.playground.conftest import KEY, Page, health

# Records, in the page, every partial and final <img> as it is added or changed: the order of DOM events.
RECORD = """() => {
  window.__seen = [];
  new MutationObserver((records) => {
    for (const record of records) {
      const nodes = record.type === "attributes" ? [record.target] : [...record.addedNodes];
      for (const node of nodes) {
        if (node.tagName === "IMG" && node.dataset.testid) window.__seen.push(node.dataset.testid);
      }
    }
  }).observe(document.getElementById("results"), {subtree: true, childList: true, attributes: true,
                                                   attributeFilter: ["src"]});
}"""


def test_generate_streams_partials_before_the_finals(open_page):
    page = open_page.page
    page.evaluate(RECORD)
    page.select_option("[data-testid=model]", "gpt-image-1")
    page.fill("[data-testid=prompt]", "a lighthouse on a hill at sunset, orange and blue")
    page.select_option("[data-testid=quality]", "medium")
    page.fill("[data-testid=n]", "2")
    page.select_option("[data-testid=partial-images]", "2")
    page.fill("[data-testid=seed]", "1234")
    page.click("[data-testid=generate]")
    open_page.until("document.querySelectorAll('img[data-testid=result]').length === 2")
    seen = page.evaluate("window.__seen")
    assert "partial" in seen and seen.index("partial") < seen.index("result"), seen
    assert seen.count("result") == 2 and not page.query_selector("img[data-testid=partial]")
    open_page.shot("generate-streamed")
    # Each image says its seed (seed + i), the model that served it and its usage.
    metas = page.locator("[data-testid=meta]").all_inner_texts()
    assert metas[0].startswith("seed 1234 · gpt-image-1") and metas[1].startswith("seed 1235 · gpt-image-1"), metas
    assert "tokens" in page.locator("[data-testid=usage]").first.inner_text()
    # The page's pixels are the API's: the same request through the Python SDK gives the same image.
    shown = np.asarray(open_page.image("img[data-testid=result]", 1).convert("RGB"))
    client = openai.OpenAI(base_url=open_page.server.v1, api_key=KEY, max_retries=0)
    made = client.images.generate(model="gpt-image-1", prompt="a lighthouse on a hill at sunset, orange and blue",
                                  quality="medium", extra_body={"seed": 1235})
    direct = np.asarray(Image.open(io.BytesIO(base64.b64decode(made.data[0].b64_json))).convert("RGB"))
    assert shown.shape == (1024, 1024, 3) and np.array_equal(shown, direct)


def test_a_moderation_block_shows_the_envelope(open_page):
    page = open_page.page
    page.select_option("[data-testid=model]", "gpt-image-1")
    page.fill("[data-testid=prompt]", "a nude figure study")
    page.click("[data-testid=generate]")
    error = page.locator("[data-testid=error]")
    error.wait_for(state="visible")
    text = error.inner_text()
    assert "moderation_blocked" in text and "sexual" in text and "image_generation_user_error" in text, text
    assert page.locator("[data-testid=error] [data-field='request id']").inner_text().startswith("req_")
    assert page.locator("[data-testid=error] [data-field=stage]").inner_text() == "input"
    assert not page.query_selector("img[data-testid=result]")
    open_page.shot("moderation-error")
    # A broken rule shows its param and code: a prompt over dall-e-2's 1000 characters (the page caps
    # the field at the model's limit; lift the cap, as a script could).
    page.select_option("[data-testid=model]", "dall-e-2")
    page.evaluate("document.getElementById('prompt').removeAttribute('maxlength')")
    page.fill("[data-testid=prompt]", "x" * 1001)
    page.click("[data-testid=generate]")
    page.wait_for_selector("[data-testid=error] [data-field=param]")
    assert page.locator("[data-testid=error] [data-field=param]").inner_text() == "prompt"
    assert page.locator("[data-testid=error] [data-field=code]").inner_text() == "string_above_max_length"


def test_cancel_stops_the_work_on_the_server(open_page):
    def cancelled() -> int:
        workers = health(open_page.server)["workers"].values()
        return sum(w["cancelled_queued"] + w["cancelled_running"] + w["stopped_early"] for w in workers)

    before = cancelled()
    page = open_page.page
    page.select_option("[data-testid=model]", "gpt-image-2")
    page.fill("[data-testid=prompt]", "a very detailed city skyline at night")
    page.select_option("[data-testid=size]", "custom")
    page.fill("[data-testid=width]", "3840")
    page.fill("[data-testid=height]", "2160")
    page.select_option("[data-testid=quality]", "high")
    page.fill("[data-testid=n]", "6")
    page.click("[data-testid=generate]")
    page.wait_for_selector("img[data-testid=partial]", timeout=60_000)
    assert page.is_enabled("[data-testid=cancel]")
    page.keyboard.press("Escape")
    open_page.until("document.getElementById('status').textContent.startsWith('Cancelled')")
    assert page.is_enabled("[data-testid=generate]") and not page.is_enabled("[data-testid=cancel]")
    assert page.locator("img[data-testid=result]").count() < 6
    deadline = time.monotonic() + 30
    while cancelled() == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert cancelled() > before, health(open_page.server)["workers"]
    open_page.shot("cancelled")


def test_ctrl_enter_generates_from_the_keyboard(open_page):
    page = open_page.page
    page.select_option("[data-testid=model]", "dall-e-2")
    page.select_option("[data-testid=size]", "256x256")
    page.click("[data-testid=prompt]")
    page.keyboard.type("a small red boat")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("img[data-testid=result]")
    assert open_page.image("img[data-testid=result]").size == (256, 256)
    # Every control a keyboard user reaches has a label.
    unlabeled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter((e) => e.offsetParent !== null && !e.labels?.length && !e.getAttribute('aria-label')).map((e) => e.id)""")
    assert unlabeled == []


def test_readable_at_phone_width(browser, live):
    page = Page(browser, live, viewport=(390, 844))
    try:
        p = page.page
        p.select_option("[data-testid=model]", "gpt-image-1")
        p.fill("[data-testid=prompt]", "a hero image for a todo app")
        p.select_option("[data-testid=quality]", "low")
        p.click("[data-testid=generate]")
        p.wait_for_selector("img[data-testid=result]")
        width = p.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width  # nothing wider than the screen: no sideways scrolling
        box = p.locator("img[data-testid=result]").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["width"] > 300
        for testid in ("prompt", "model", "size", "quality", "n", "generate", "api-key"):
            control = p.locator(f"[data-testid={testid}]").bounding_box()
            assert control["x"] >= 0 and control["x"] + control["width"] <= 390, testid
        p.screenshot(path=str(page.shot("phone").with_name("phone-full.png")), full_page=True)
    finally:
        page.close()


def test_a_wrong_key_is_shown_and_the_right_one_works(browser, live):
    page = Page(browser, live, key="sk-wrong")
    try:
        p = page.page
        error = p.locator("[data-testid=error]")
        error.wait_for(state="visible")
        assert p.locator("[data-testid=error] [data-field=code]").inner_text() == "invalid_api_key"
        assert p.locator("[data-testid=error] [data-field=status]").inner_text() == "401"
        page.shot("wrong-key")
        p.fill("[data-testid=api-key]", KEY)
        p.locator("[data-testid=api-key]").dispatch_event("change")
        p.wait_for_selector("[data-testid=model] option[value=gpt-image-1]", state="attached")
        assert error.is_hidden()
        # The page itself is open; its calls are not: without the key the API refuses them.
        assert httpx.get(f"{live.base_url}/").status_code == 200
        assert httpx.get(f"{live.v1}/models").status_code == 401
    finally:
        page.close(expected_errors=("status of 401",))
