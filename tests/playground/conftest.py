"""The playground in a real headless browser: Debian's chromium driven by Playwright, against live servers.

Playwright's own browser download cannot work offline, so the tests launch `/usr/bin/chromium`
(`scripts/install-chromium` installs it); without it they skip, naming that script. Two servers for the
whole package: one server, `live`: the default sketch catalog, an API key, `store_all` (the gallery's
kept images), and an upstream model that takes extensions (nobody answers for it: it is there so that
its fields show). Pages open with the key already in their localStorage unless a test says otherwise.
Screenshots
go under $DARKROOM_TEST_ARTIFACTS (default `test-artifacts/` at the repository root).
"""

from __future__ import annotations

import base64
import io
import os
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.conftest import closed_port, start_server, stop_server

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
KEY = "sk-playground-test"
ROOT = Path(__file__).resolve().parents[2]
CONFIG = f"""api_keys = ["{KEY}"]
store_all = true
[[models]]
name = "remote-sd"
engine = "upstream"
family = "gpt-image"
base_url = "http://127.0.0.1:{closed_port()}/v1"
max_retries = 0
extensions = ["steps", "negative_prompt"]
"""


def artifacts() -> Path:
    folder = Path(os.environ.get("DARKROOM_TEST_ARTIFACTS") or ROOT / "test-artifacts") / "playground"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="package")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the dev extra installs playwright")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: run scripts/install-chromium (as root it installs Debian's chromium)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="package")
def live(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("playground"), CONFIG, api_key=KEY)
    yield server
    alive = server.process.poll() is None
    stop_server(server)
    assert alive, server.log()


class Page:
    """A fresh browser context (its own localStorage and IndexedDB) with the playground open; page errors
    and console errors are collected, and a test fails on any."""

    def __init__(self, browser, server, viewport=(1280, 800), key: str | None = KEY) -> None:
        self.server = server
        self.context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        if key is not None:
            self.page.add_init_script(f"localStorage.setItem('darkroom.playground.apiKey', {key!r})")
        self.page.goto(f"{server.base_url}/")
        if key == KEY:
            self.page.wait_for_selector("[data-testid=model] option", state="attached")

    def until(self, expression: str, timeout: float = 60.0) -> None:
        """Wait until `expression` is true in the page. Polled from here: Playwright's own wait_for_function
        evaluates strings in the page, which the page's Content-Security-Policy (no eval) rightly blocks."""
        deadline = time.monotonic() + timeout
        while not self.page.evaluate(expression):
            if time.monotonic() > deadline:
                raise AssertionError(f"not true within {timeout} s: {expression}")
            time.sleep(0.05)

    def shot(self, name: str) -> Path:
        path = artifacts() / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def image(self, selector: str, index: int = 0) -> Image.Image:
        """Decode the image an <img> shows (data:, blob: or a link), as the page has it."""
        data_url = self.page.evaluate("""async ([selector, index]) => {
            const img = document.querySelectorAll(selector)[index];
            const blob = await (await fetch(img.src)).blob();
            return await new Promise((resolve) => { const r = new FileReader(); r.onload = () => resolve(r.result);
                                                    r.readAsDataURL(blob); });
        }""", [selector, index])
        return Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))

    def close(self, expected_errors: tuple[str, ...] = ()) -> None:
        self.context.close()
        unexpected = [e for e in self.errors if not any(text in e for text in expected_errors)]
        assert not unexpected, unexpected


@pytest.fixture()
def open_page(browser, live):
    page = Page(browser, live)
    yield page
    page.close(expected_errors=("status of 400", "status of 502"))  # errors the tests provoke on purpose


def health(server) -> dict:
    return httpx.get(f"{server.base_url}/health", timeout=10).json()
