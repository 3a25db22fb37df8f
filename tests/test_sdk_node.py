"""The seed scenario with the official npm `openai` SDK, against the same live `darkroom serve`.

The Node side lives in tests/node (`node:test` files plus a tiny PNG/JPEG/WebP decoder); this module
starts nothing itself but runs node against the session's `server` fixture: the seed scenario, and
streaming, edits and variations (images_api.test.mjs, whose input images are written here with Pillow).
It also runs the Node docs example, examples/hero_images.mjs, and checks the files it writes with Pillow.

The SDK is installed with `npm ci --prefix tests/node` (or `npm install --prefix tests/node`). Without
it these tests fail on purpose: skipping would let CI lose the Node coverage without anyone noticing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .test_examples import check_hero_images

REPO = Path(__file__).resolve().parent.parent
NODE_DIR = REPO / "tests" / "node"
NODE_MODULES = NODE_DIR / "node_modules"
EXAMPLE = REPO / "examples" / "hero_images.mjs"
TIMEOUT = 180
INSTALL = "npm ci --prefix tests/node"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("`node` (v20 or newer) is not on PATH; the Node SDK tests need it.", pytrace=False)
    if not (NODE_MODULES / "openai" / "package.json").is_file():
        pytest.fail(
            f"The npm `openai` SDK is not installed in {NODE_MODULES}. Run `{INSTALL}` from the repository "
            f"root, then run the tests again.", pytrace=False,
        )
    return node


def _run(args: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DARKROOM_"))}
    child_env.update(env)
    child_env.setdefault("NO_COLOR", "1")
    try:
        return subprocess.run(args, cwd=cwd, env=child_env, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(args)} did not finish in {TIMEOUT} s:\n{exc.stdout or ''}\n{exc.stderr or ''}")


def _explain(proc: subprocess.CompletedProcess, server) -> str:
    return (f"exit code {proc.returncode}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
            f"\n--- server log (tail) ---\n{server.log()[-4000:]}")


def test_node_sdk_seed_scenario(server):
    node = _node()
    proc = _run([node, "--test", "--test-reporter=spec", "tests/node/seed_scenario.test.mjs"], cwd=REPO,
                env={"DARKROOM_BASE_URL": server.v1, "DARKROOM_API_KEY": server.api_key})
    passed = re.search(r"^ℹ pass (\d+)$", proc.stdout, re.M)
    if proc.returncode != 0 or "ℹ fail 0" not in proc.stdout or not passed or int(passed.group(1)) < 20:
        pytest.fail(f"node --test failed: {_explain(proc, server)}", pytrace=False)


def write_image_fixtures(folder: Path) -> Path:
    """The input images tests/node/images_api.test.mjs uploads (Node has no PNG or JPEG encoder)."""
    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:1024, 0:1024]
    scene = np.dstack([x // 4, y // 4, (x ^ y) % 256]).astype(np.uint8)
    Image.fromarray(scene).save(folder / "scene.png")
    alpha = np.full((1024, 1024), 255, np.uint8)
    alpha[256:768, 256:768] = 0  # the square to repaint; images_api.test.mjs calls it MASKED
    Image.fromarray(np.dstack([np.zeros((1024, 1024, 3), np.uint8), alpha])).save(folder / "mask.png")
    Image.new("RGBA", (512, 512), (0, 0, 0, 0)).save(folder / "small-mask.png")
    Image.fromarray(scene[:900, :600]).save(folder / "photo.jpg", quality=90)
    Image.fromarray(scene[::4, ::4]).save(folder / "square.png")
    Image.fromarray(scene[:256, :512]).save(folder / "wide.png")
    return folder


def test_node_sdk_images_api(server, tmp_path):
    """Streaming, edits and variations with the npm SDK: tests/node/images_api.test.mjs."""
    node = _node()
    fixtures = write_image_fixtures(tmp_path / "fixtures")
    proc = _run([node, "--test", "--test-reporter=spec", "tests/node/images_api.test.mjs"], cwd=REPO,
                env={"DARKROOM_BASE_URL": server.v1, "DARKROOM_API_KEY": server.api_key,
                     "DARKROOM_FIXTURES": str(fixtures)})
    passed = re.search(r"^ℹ pass (\d+)$", proc.stdout, re.MULTILINE)
    if proc.returncode != 0 or "ℹ fail 0" not in proc.stdout or not passed or int(passed.group(1)) < 14:
        pytest.fail(f"node --test failed: {_explain(proc, server)}", pytrace=False)


def test_node_example_writes_hero_images(server, tmp_path):
    """examples/hero_images.mjs as a user runs it, with `openai` resolved from tests/node/node_modules."""
    node = _node()
    work = tmp_path / "example"
    work.mkdir()
    shutil.copy(EXAMPLE, work / EXAMPLE.name)
    (work / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    out = tmp_path / "hero-images"
    proc = _run([node, EXAMPLE.name, str(out)], cwd=work,
                env={"OPENAI_BASE_URL": server.v1, "OPENAI_API_KEY": server.api_key})
    if proc.returncode != 0:
        pytest.fail(f"node {EXAMPLE.name} failed: {_explain(proc, server)}", pytrace=False)
    check_hero_images(out, proc.stdout)  # the same expectations as the Python example
