"""Shared fixtures: a real `darkroom serve` process on 127.0.0.1 with a free port.

The session's server has an API key, a data directory of its own and one extra configured model
(`gpt-image-2-alpha`: gpt-image-2 rules with transparent backgrounds switched on), so that the
SDK tests talk to exactly what a user would run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

API_KEY = "sk-darkroom-test-key"
CONFIG = f"""
api_keys = ["{API_KEY}"]

[[models]]
name = "gpt-image-2-alpha"
engine = "sketch"
family = "gpt-image-2"
transparent_background = true
"""


@dataclass
class LiveServer:
    base_url: str  # http://127.0.0.1:PORT
    api_key: str
    process: subprocess.Popen
    log_path: Path

    @property
    def v1(self) -> str:
        return f"{self.base_url}/v1"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_port() -> int:
    """A loopback port with nothing listening on it (connections to it are refused)."""
    return free_port()


def start_server(workdir: Path, config: str, *, api_key: str = API_KEY, env: dict[str, str] | None = None,
                 timeout: float = 60.0) -> LiveServer:
    """Start `darkroom serve` and wait until /health answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "darkroom.toml"
    config_path.write_text(f'data_dir = "{(workdir / "data").as_posix()}"\n' + config)
    port = free_port()
    log_path = workdir / "server.log"
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("DARKROOM_")}
    child_env.update(env or {})
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "darkroom", "serve", "--port", str(port), "--config", str(config_path)],
            stdout=log, stderr=subprocess.STDOUT, env=child_env,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", api_key, process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"darkroom serve exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.base_url}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"darkroom serve did not become healthy in {timeout} s:\n{server.log()}")


def stop_server(server: LiveServer) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def darkroom_cli(server: LiveServer, *args: str) -> subprocess.CompletedProcess:
    """`python -m darkroom ARGS --config <the server's config>`, with no DARKROOM_* from this environment:
    the CLI on the same settings (and so the same metadata store) as `server`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DARKROOM_")}
    config = server.log_path.parent / "darkroom.toml"
    return subprocess.run([sys.executable, "-m", "darkroom", *args, "--config", str(config)], capture_output=True,
                          text=True, env=env, timeout=60, check=False)


def create_key(server: LiveServer, name: str, *flags: str) -> str:
    """`darkroom keys create --name NAME FLAGS` against `server`'s store; the key it printed."""
    done = darkroom_cli(server, "keys", "create", "--name", name, *flags)
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip()
    assert done.stdout == key + "\n" and key.startswith("dr-")  # the key and nothing else on stdout
    return key


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """GPU tests are opt-in: DARKROOM_GPU_TESTS=1 on a machine with CUDA."""
    if os.environ.get("DARKROOM_GPU_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="GPU test: set DARKROOM_GPU_TESTS=1 on a CUDA machine to run it")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory):
    live = start_server(tmp_path_factory.mktemp("server"), CONFIG)
    yield live
    alive = live.process.poll() is None
    stop_server(live)
    assert alive, f"the server died during the tests:\n{live.log()}"


@pytest.fixture()
def http(server: LiveServer):
    """A plain HTTP client with the server's key, for what the SDKs cannot send."""
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {server.api_key}"},
                      timeout=60) as client:
        yield client


@pytest.fixture(scope="session")
def tiny_pipelines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random-weight diffusers pipelines saved once per session: {"sd": folder, "flux": folder}.

    See tests/tiny_pipelines.py; importing it sets HF_HUB_OFFLINE=1 (unless set). torch is imported only
    here, when a test asks for this fixture.
    """
    from tests.tiny_pipelines import build_tiny_flux, build_tiny_sd

    root = tmp_path_factory.mktemp("tiny-pipelines")
    return {"sd": build_tiny_sd(root / "sd"), "flux": build_tiny_flux(root / "flux")}
