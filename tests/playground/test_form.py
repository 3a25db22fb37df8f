"""The request controls (form.js) in chromium: each model family is offered exactly what its
`capabilities` say (sizes, qualities, n, formats, style...), extension fields show where the engine takes
them, and a custom size is sent as typed."""

from __future__ import annotations

import httpx

from tests.playground.conftest import KEY


def options(page, testid: str) -> list[str]:
    return page.eval_on_selector_all(f"[data-testid={testid}] option", "(all) => all.map((o) => o.value)")


def visible(page, testid: str) -> bool:
    return page.locator(f"[data-testid={testid}]").is_visible()


def capabilities(live) -> dict:
    listed = httpx.get(f"{live.v1}/models", headers={"Authorization": f"Bearer {KEY}"}).json()["data"]
    return {model["id"]: model["capabilities"] for model in listed}


def test_sizes_and_fields_follow_the_model_family(open_page):
    page = open_page.page
    caps = capabilities(open_page.server)

    page.select_option("[data-testid=model]", "dall-e-2")
    assert options(page, "size") == ["256x256", "512x512", "1024x1024"] == caps["dall-e-2"]["sizes"]
    assert options(page, "quality") == ["standard"]
    assert options(page, "response-format") == ["url", "b64_json"]
    for refused in ("output-format", "background", "moderation", "style", "stream"):
        assert not visible(page, refused), refused
    assert page.get_attribute("[data-testid=n]", "max") == "10"

    page.select_option("[data-testid=model]", "dall-e-3")
    assert options(page, "size") == ["1024x1024", "1792x1024", "1024x1792"]
    assert options(page, "quality") == ["standard", "hd"] and options(page, "style") == ["vivid", "natural"]
    assert page.is_disabled("[data-testid=n]")  # n is 1 for dall-e-3

    page.select_option("[data-testid=model]", "gpt-image-1")
    assert options(page, "size") == ["1024x1024", "1536x1024", "1024x1536", "auto"]
    assert options(page, "quality") == ["low", "medium", "high", "auto"]
    assert options(page, "output-format") == ["png", "jpeg", "webp"]
    assert options(page, "background") == ["auto", "opaque", "transparent"]
    assert not visible(page, "response-format") and not visible(page, "style")
    assert not visible(page, "output-compression")  # png: lossless, no compression
    page.select_option("[data-testid=output-format]", "jpeg")
    assert visible(page, "output-compression")
    disabled = page.eval_on_selector("[data-testid=background] option[value=transparent]", "(o) => o.disabled")
    assert disabled  # no transparency in JPEG
    open_page.shot("form-gpt-image-1")

    page.select_option("[data-testid=model]", "gpt-image-2")
    assert options(page, "size") == ["1024x1024", "1536x1024", "1024x1536", "auto", "custom"]
    assert "transparent" not in options(page, "background")
    assert not visible(page, "width")
    page.select_option("[data-testid=size]", "custom")
    assert visible(page, "width") and page.get_attribute("[data-testid=width]", "step") == "16"
    assert options(page, "partial-images") == ["0", "1", "2", "3"]


def test_extension_fields_show_where_the_engine_takes_them(open_page):
    page = open_page.page
    page.select_option("[data-testid=model]", "gpt-image-1")
    assert visible(page, "seed")  # every engine takes a seed
    for field in ("steps", "negative-prompt", "guidance-scale", "scheduler"):
        assert not visible(page, field), field  # the sketch engine takes none of these
    page.select_option("[data-testid=model]", "remote-sd")  # an upstream model configured with two
    assert visible(page, "steps") and visible(page, "negative-prompt")
    assert not visible(page, "guidance-scale") and not visible(page, "scheduler")
    assert page.get_attribute("[data-testid=steps]", "max") == "200"
    open_page.shot("form-extensions")


def test_a_custom_size_is_sent_as_typed(open_page):
    page = open_page.page
    page.select_option("[data-testid=model]", "gpt-image-2")
    page.fill("[data-testid=prompt]", "a wide banner of mountains")
    page.select_option("[data-testid=size]", "custom")
    page.fill("[data-testid=width]", "1280")
    page.fill("[data-testid=height]", "720")
    page.select_option("[data-testid=quality]", "low")
    page.uncheck("[data-testid=stream]")
    page.click("[data-testid=generate]")
    page.wait_for_selector("img[data-testid=result]")
    assert open_page.image("img[data-testid=result]").size == (1280, 720)
