"""scripts/_venv.sh (sourced by scripts/serve and scripts/test) installs only when needed.

The script runs on a copy of itself and pyproject.toml in a temporary folder whose .venv/bin/python is a
recorder: it writes down every call (every pip run is `.venv/bin/python -m pip ...`) and succeeds as an
install would. With the install stamp in place, the recorder must not be called at all, so starting needs
no package index; a changed pyproject.toml or a new extra reinstalls.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

RECORDER = """#!/bin/sh
echo "$*" >> "$CALLS"
"""


@pytest.fixture
def clone(tmp_path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "_venv.sh", tmp_path / "scripts" / "_venv.sh")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(RECORDER)
    python.chmod(0o755)
    return tmp_path


def source(clone: Path, extras: str | None) -> list[str]:
    """`source scripts/_venv.sh` from another directory, with no package index reachable; the recorded calls."""
    calls = clone / "calls"
    calls.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "EXTRAS"))}
    env.update(CALLS=str(calls), PIP_NO_INDEX="1", PIP_INDEX_URL="http://127.0.0.1:9/", PIP_FIND_LINKS="")
    if extras is not None:
        env["EXTRAS"] = extras
    done = subprocess.run(["bash", "-c", f"source {clone}/scripts/_venv.sh && echo sourced"], cwd="/", env=env,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "sourced\n"), done.stderr
    return calls.read_text().splitlines() if calls.exists() else []


def test_installs_once_then_starts_without_calling_pip(clone):
    first = source(clone, None)
    assert first == ["-m pip install --quiet --disable-pip-version-check -e ."]
    assert (clone / ".venv" / ".darkroom-install").exists()
    assert source(clone, None) == []  # the stamp matches: no pip, no index needed
    assert source(clone, "") == []


def test_a_new_extra_or_an_edited_pyproject_reinstalls(clone):
    source(clone, None)
    assert source(clone, "dev") == ["-m pip install --quiet --disable-pip-version-check -e .[dev]"]
    assert source(clone, "dev") == []
    assert source(clone, None) == []  # an install with extras serves a start without them
    with (clone / "pyproject.toml").open("a") as f:
        f.write("\n# edited\n")
    assert source(clone, "dev") == ["-m pip install --quiet --disable-pip-version-check -e .[dev]"]
    assert source(clone, "dev") == []


def test_test_extras_cover_a_plain_serve(clone):
    calls = source(clone, "dev,diffusers")
    assert calls[0].endswith("torch==2.13.0") and calls[-1] == "-c import pymatting"
    assert source(clone, None) == []  # ./scripts/serve after ./scripts/test: nothing to install
    assert source(clone, "diffusers") == []


def test_a_failed_install_leaves_no_stamp(clone):
    python = clone / ".venv" / "bin" / "python"
    python.write_text(RECORDER + "exit 1\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "EXTRAS"))}
    done = subprocess.run(["bash", "-c", f"source {clone}/scripts/_venv.sh"], env={**env, "CALLS": "/dev/null"},
                          capture_output=True, timeout=60)
    assert done.returncode != 0
    assert not (clone / ".venv" / ".darkroom-install").exists()
