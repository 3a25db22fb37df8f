"""One live `darkroom serve` for every client test, and the client run as a real subprocess.

The server has an API key (so a wrong one is a 401) and one extra model, `gpt-image-tiny`: gpt-image
rules, any size, so that streams, formats and edits run at a few thousand pixels.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, start_server, stop_server

KEY = "sk-client-test"
CONFIG = f"""
api_keys = ["{KEY}"]

[[models]]
name = "gpt-image-tiny"
engine = "sketch"
family = "gpt-image"
any_size = true

[[models]]
name = "house-style"
engine = "sketch"
family = "gpt-image"
"""


@pytest.fixture(scope="package")
def live(tmp_path_factory: pytest.TempPathFactory):
    server = start_server(tmp_path_factory.mktemp("client-server"), CONFIG, api_key=KEY)
    yield server
    alive = server.process.poll() is None
    stop_server(server)
    assert alive, f"the server died during the tests:\n{server.log()}"


def darkroom(server: LiveServer | None, *args: str, cwd: Path, key: str = KEY,
             base_url: str | None = None) -> subprocess.CompletedProcess:
    """`python -m darkroom ARGS` in `cwd`, with OPENAI_BASE_URL / OPENAI_API_KEY set and no DARKROOM_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DARKROOM_", "OPENAI_"))}
    env.update(OPENAI_BASE_URL=base_url or (server.v1 if server else ""), OPENAI_API_KEY=key)
    return subprocess.run([sys.executable, "-m", "darkroom", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def requests_served(server: LiveServer, model: str) -> float:
    """How many image requests for `model` the server has answered (its /metrics), any status."""
    text = httpx.get(f"{server.base_url}/metrics", headers={"Authorization": f"Bearer {KEY}"}, timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("darkroom_requests_total{") and f'model="{model}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total
