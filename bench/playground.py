"""The web playground over loopback: first paint, time to the first partial image, size of its files.

    first paint       a fresh browser context (empty cache) opens `/` of a real `darkroom serve`: the
                      first-contentful-paint entry of the Performance API, and the time until the model
                      list has arrived from GET /v1/models (the page is usable), both from navigation start
    first partial     in the page: from the click on Generate (a capture-phase listener notes
                      performance.now()) to the first `img[data-testid=partial]` added to the page (a
                      MutationObserver notes it), for gpt-image-1, 1024x1024, medium, stream with 2
                      partials, a fixed seed
    baseline          the same streamed request made directly with the official Python SDK (one client,
                      keep-alive, as the browser has): from the call to its first
                      `image_generation.partial_image` event. The ratio page / SDK is what the page adds
                      (fetch, SSE parsing in JavaScript, decoding and drawing the PNG)
    files             every file of darkroom/playground/, bytes and gzipped (as the server sends them to
                      clients that accept gzip)

Debian's chromium (`scripts/install-chromium`) is driven by Playwright, headless, with the tests' flags.
Rounds alternate page and SDK; the tables show medians and p90s over rounds, and the ratio of medians.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import openai

from ._common import HOST, fmt, free_port, median, percentile, python, ratio, start_process, stop_process, table

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
REQUEST = {"model": "gpt-image-1", "prompt": "a lighthouse on a hill at sunset, orange and blue",
           "size": "1024x1024", "quality": "medium", "stream": True, "partial_images": 2, "seed": 11}
# Notes the first model option and the first partial image as they are added, and every click on Generate.
PROBE = """
window.__marks = {};
document.addEventListener("click", (e) => {
  if (e.target.closest("[data-testid=generate]")) { window.__marks.click = performance.now(); delete window.__marks.partial; }
}, true);
new MutationObserver(() => {
  const m = window.__marks;
  if (m.ready === undefined && document.querySelector("#model option")) m.ready = performance.now();
  if (m.click !== undefined && m.partial === undefined && document.querySelector("img[data-testid=partial]"))
    m.partial = performance.now();
}).observe(document, {subtree: true, childList: true, attributes: true});
"""


def run(quick: bool) -> str:
    from playwright.sync_api import sync_playwright  # the dev extra

    rounds = 3 if quick else 15
    work = Path(tempfile.mkdtemp(prefix="darkroom-bench-playground-"))
    port = free_port()
    config = work / "darkroom.toml"
    config.write_text(f'data_dir = "{work / "data"}"\nlog_level = "warning"\n')
    server = start_process([python(), "-m", "darkroom", "serve", "--port", str(port), "--config", str(config)],
                           work / "server.log", f"http://{HOST}:{port}/health")
    base = f"http://{HOST}:{port}"
    paints, readies, page_partials, sdk_partials = [], [], [], []
    try:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="none", max_retries=0)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            deadline = time.monotonic() + (60 if quick else 300)
            for index in range(rounds + 1):  # round 0 warms both sides up and is discarded
                if time.monotonic() > deadline:
                    break
                paint, ready, partial = _page_round(browser, base)
                sdk = _sdk_round(client)
                if index:
                    paints.append(paint)
                    readies.append(ready)
                    page_partials.append(partial)
                    sdk_partials.append(sdk)
            browser.close()
    finally:
        stop_process(server)
    rows = [
        ["first contentful paint", fmt(median(paints)), fmt(percentile(paints, 90)), "", ""],
        ["model list shown (usable)", fmt(median(readies)), fmt(percentile(readies, 90)), "", ""],
        ["Generate -> first partial shown", fmt(median(page_partials)), fmt(percentile(page_partials, 90)),
         fmt(median(sdk_partials)), ratio(median(page_partials), median(sdk_partials))],
    ]
    timing = table(["ms (loopback)", "page median", "page p90", "SDK median", "page / SDK"], rows)
    return f"{len(paints)} rounds\n{timing}\n\n{_files_table()}"


def _page_round(browser, base: str) -> tuple[float, float, float]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})  # a cold cache each time
    try:
        page = context.new_page()
        page.add_init_script(PROBE)
        page.goto(f"{base}/")
        page.wait_for_selector("#model option[value='gpt-image-1']", state="attached")
        paint = page.evaluate("performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN")
        page.select_option("[data-testid=model]", REQUEST["model"])
        page.fill("[data-testid=prompt]", REQUEST["prompt"])
        page.select_option("[data-testid=size]", REQUEST["size"])
        page.select_option("[data-testid=quality]", REQUEST["quality"])
        page.select_option("[data-testid=partial-images]", str(REQUEST["partial_images"]))
        page.fill("[data-testid=seed]", str(REQUEST["seed"]))
        page.click("[data-testid=generate]")
        page.wait_for_selector("img[data-testid=result]", timeout=60_000)
        marks = page.evaluate("window.__marks")
        return paint, marks["ready"], marks["partial"] - marks["click"]
    finally:
        context.close()


def _sdk_round(client: openai.OpenAI) -> float:
    fields = {k: v for k, v in REQUEST.items() if k != "seed"}
    started = time.perf_counter()
    first = float("nan")
    for event in client.images.generate(**fields, extra_body={"seed": REQUEST["seed"]}):
        if event.type == "image_generation.partial_image" and first != first:
            first = (time.perf_counter() - started) * 1000
    return first


def _files_table() -> str:
    from darkroom.api.playground import load_assets

    assets = load_assets()
    rows = [[name, f"{len(a.body):,}", f"{len(a.gzipped):,}"] for name, a in sorted(assets.items())]
    rows.append(["total", f"{sum(len(a.body) for a in assets.values()):,}",
                 f"{sum(len(a.gzipped) for a in assets.values()):,}"])
    return table(["file", "bytes", "gzipped"], rows)
