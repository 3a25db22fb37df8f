"""The seed scenario with the official npm `openai` SDK, against the same live `darkroom serve`.

The Node side lives in tests/node (a `node:test` file plus a tiny PNG/JPEG/WebP decoder); this module
starts nothing itself but runs node against the session's `server` fixture. It also runs the Node
docs example, examples/hero_images.mjs, and checks the files it writes with Pillow.

The SDK is installed with `npm ci --prefix tests/node` (or `npm install --prefix tests/node`). Without
it these tests fail on purpose: skipping would let CI lose the Node coverage without anyone noticing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

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
