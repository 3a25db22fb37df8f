""""View code" (snippets.js) in chromium: the current request as curl, Python SDK and Node SDK code that is
right for the model (no GPT-only fields for dall-e-2, extensions in `extra_body`), and that runs: the
Python and Node snippets, copied from the page, are run against the live server and write their image."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.playground.conftest import KEY, ROOT

NODE_MODULES = ROOT / "tests" / "node" / "node_modules"


def code(page, lang: str) -> str:
    page.click(f"#code [data-lang={lang}]")
    return page.locator("[data-testid=code]").inner_text()


def run(args: list[str], cwd: Path, server) -> None:
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_code_follows_the_model(open_page):
    page = open_page.page
    page.select_option("[data-testid=model]", "dall-e-2")
    page.fill("[data-testid=prompt]", "a red boat")
    page.select_option("[data-testid=size]", "512x512")
    page.click("[data-testid=view-code]")
    curl = code(page, "curl")
    assert f"{open_page.server.v1}/images/generations" in curl and '"size":"512x512"' in curl
    assert "$OPENAI_API_KEY" in curl and KEY not in curl
    python = code(page, "python")
    assert 'size="512x512"' in python and "quality" not in python and "output_format" not in python
    assert "print(image.url)" in python  # dall-e answers with links by default
    page.click("#code-close")

    page.select_option("[data-testid=model]", "gpt-image-1")
    page.select_option("[data-testid=quality]", "high")
    page.select_option("[data-testid=output-format]", "webp")
    page.fill("[data-testid=seed]", "5")
    page.click("[data-testid=view-code]")
    python = code(page, "python")
    assert 'quality="high"' in python and 'extra_body={"seed": 5}' in python and "stream=True" in python
    node = code(page, "node")
    assert "seed: 5, // Darkroom extension" in node and "for await (const event of stream)" in node
    open_page.shot("view-code")


def test_the_python_and_node_snippets_run(open_page, tmp_path):
    page = open_page.page
    page.select_option("[data-testid=model]", "gpt-image-1")
    page.fill("[data-testid=prompt]", "a green kite")
    page.select_option("[data-testid=quality]", "low")
    page.select_option("[data-testid=output-format]", "jpeg")
    page.fill("[data-testid=seed]", "9")
    page.click("[data-testid=view-code]")
    (tmp_path / "snippet.py").write_text(code(page, "python"))
    run([sys.executable, "snippet.py"], tmp_path, open_page.server)
    assert Image.open(tmp_path / "image-0.jpeg").size == (1024, 1024)

    node = shutil.which("node")
    if node is None or not (NODE_MODULES / "openai").exists():
        pytest.skip("node or tests/node/node_modules/openai missing (scripts/test installs them)")
    folder = tmp_path / "node"
    folder.mkdir()
    (folder / "node_modules").symlink_to(NODE_MODULES)
    (folder / "snippet.mjs").write_text(code(page, "node"))
    run([node, "snippet.mjs"], folder, open_page.server)
    assert Image.open(folder / "image-0.jpeg").size == (1024, 1024)
