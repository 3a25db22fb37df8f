"""The docs hold: the MkDocs site builds strictly, the README's links lead somewhere, and its code runs.

- `mkdocs build --strict` on mkdocs.yml: a link to a missing page or anchor, or a page left out of
  the nav, fails it; the built pages must load no script or stylesheet from another host.
- Every relative link in README.md points to a file that exists (and to a heading that exists, where
  it names one); the README starts with exactly the two set-up commands.
- Every setting of `Settings` has its row in docs/configuration.md's table.
- The README's seed scenario snippets (Python SDK, Node SDK, curl) run as a user pastes them, against
  a real `darkroom serve` with no API keys (as the snippets assume); only the port is changed. The
  images they save are decoded and checked.

The whole module takes about 12 s on a 2-core machine, most of it the server's start and the SDKs'.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from markdown.extensions.toc import slugify
from PIL import Image

from darkroom.config import Settings

from .conftest import start_server, stop_server
from .images import alpha_extremes
from .test_sdk_node import NODE_MODULES, _node

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
TWO_COMMANDS = ["./scripts/serve", "./scripts/test"]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# An external <script src> or <link href> (stylesheets, fonts): what a page would load from elsewhere.
EXTERNAL_ASSET = re.compile(r"<(?:script|link)\b[^>]*\b(?:src|href)=[\"'](?:https?:)?//", re.I)


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def _prose(markdown: str) -> str:
    """The Markdown without its fenced code blocks (links in code are not links)."""
    return FENCE.sub("", markdown)


def _anchors(markdown: str) -> set[str]:
    """The heading ids MkDocs (Python-Markdown's toc) gives a page."""
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*#*$", _prose(markdown), re.M)
    return {slugify(re.sub(r"[`*]", "", heading), "-") for heading in headings}


def test_the_site_builds_strictly_and_loads_nothing_from_elsewhere(tmp_path):
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= len(list((REPO / "docs").glob("*.md")))
    for page in pages:
        external = EXTERNAL_ASSET.findall(page.read_text(encoding="utf-8"))
        assert not external, f"{page.relative_to(site)} loads from another host: {external}"


def test_the_readme_starts_with_the_two_set_up_commands():
    lines = _readme().split("\n")
    assert lines[:3] == ["# Darkroom", "", "```bash"], lines[:3]
    block = lines[3:lines.index("```", 3)]
    commands = [line.split("#")[0].strip() for line in block if line and not line[0].isspace()]
    assert commands == TWO_COMMANDS, block
    for command in commands:
        assert os.access(REPO / command, os.X_OK), f"{command} is not an executable file"


def test_every_relative_link_in_the_readme_leads_to_a_file_and_heading_that_exist():
    links = LINK.findall(_prose(_readme()))
    relative = [link for link in links if not re.match(r"^[a-z][a-z0-9+.-]*:", link)]
    assert len(relative) >= 15, relative  # the front page links into every docs page
    for link in relative:
        path, _, anchor = link.partition("#")
        target = (REPO / path) if path else README
        assert target.is_file(), f"README links to {link}, but {path} does not exist"
        if anchor:
            assert anchor in _anchors(target.read_text(encoding="utf-8")), f"README links to {link}: no such heading"


def test_every_setting_has_a_row_in_the_configuration_page():
    table = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    documented = set()
    for row in re.findall(r"^\| (.+?) \|", table, re.M):
        documented |= set(re.findall(r"`([a-z0-9_]+)`", row))
    missing = [name for name in Settings.model_fields if name not in documented]
    assert not missing, f"settings without a row in docs/configuration.md: {missing}"


# --- the README's seed scenario, as a user runs it ---------------------------------------------------

@pytest.fixture(scope="module")
def open_server(tmp_path_factory):
    """`darkroom serve` with no API keys: the server the README's snippets talk to. Moderation is off
    (it takes ~4 s of this module's ~12 to load its classifiers; the snippets' prompts are harmless and
    moderation has its own tests: tests/moderation, tests/test_sdk_python_moderation.py)."""
    live = start_server(tmp_path_factory.mktemp("open-server"), "moderation_enabled = false\n")
    yield live
    stop_server(live)


def _snippet(language: str, must_contain: str, server) -> str:
    """The README's first `language` block containing `must_contain`, pointed at `server`."""
    blocks = [code for lang, code in FENCE.findall(_readme()) if lang == language and must_contain in code]
    assert blocks, f"the README has no {language} block with {must_contain!r}"
    code = blocks[0]
    assert "http://127.0.0.1:8000" in code, code
    return code.replace("http://127.0.0.1:8000", server.base_url)


def _run(args: list[str], cwd: Path, server) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DARKROOM_"))}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (f"{args[0]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n"
                                  f"--- server log ---\n{server.log()[-3000:]}")


def _check_hero(path: Path) -> None:
    with Image.open(path) as image:
        image.load()
        assert (image.format, image.size, image.mode) == ("WEBP", (1536, 1024), "RGB")
        pixels = np.asarray(image)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50, "the hero image is (nearly) one flat colour"


def test_the_readme_python_snippet_saves_a_webp_hero(open_server, tmp_path):
    (tmp_path / "hero.py").write_text(_snippet("python", "images.generate", open_server))
    _run([sys.executable, "hero.py"], tmp_path, open_server)
    _check_hero(tmp_path / "hero.webp")


def test_the_readme_node_snippet_saves_a_webp_hero(open_server, tmp_path):
    node = _node()
    (tmp_path / "hero.mjs").write_text(_snippet("js", "images.generate", open_server))
    (tmp_path / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    _run([node, "hero.mjs"], tmp_path, open_server)
    _check_hero(tmp_path / "hero.webp")


def test_the_readme_curl_snippet_saves_a_transparent_icon(open_server, tmp_path):
    if shutil.which("curl") is None:
        pytest.fail("`curl` is not on PATH; the README's curl example needs it.", pytrace=False)
    _run(["bash", "-euo", "pipefail", "-c", _snippet("bash", "curl -s", open_server)], tmp_path, open_server)
    with Image.open(tmp_path / "icon.png") as icon:
        icon.load()
        assert (icon.format, icon.size, icon.mode) == ("PNG", (1024, 1024), "RGBA")
        transparent, opaque = alpha_extremes(icon)
    assert transparent > 0 and opaque > 0, "the icon should be a cut-out"
