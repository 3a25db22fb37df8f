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


def diffusers_model(name: str, path, family: str = "gpt-image", steps: tuple[int, int, int] = (1, 2, 3),
                    **extra) -> str:
    """A `[[models]]` block serving the tiny pipeline at `path` on the CPU, with `steps` for the low, medium
    and high presets; `extra` are more `key = value` lines (values as TOML: `max_queue=1`,
    `native_size='"256x256"'`)."""
    low, medium, high = steps
    lines = [f'name = "{name}"', 'engine = "diffusers"', f'family = "{family}"', f'path = "{path}"',
             "local_files_only = true", 'device = "cpu"',
             f"presets = {{ low = {{ steps = {low} }}, medium = {{ steps = {medium} }}, high = {{ steps = {high} }} }}",
             *(f"{key} = {value}" for key, value in extra.items())]
    return "[[models]]\n" + "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def diffusers_server(tiny_pipelines, tmp_path_factory):
    """One `darkroom serve` with the tiny pipelines, shared by the modules that need diffusers models but no
    server-wide setting of their own: a diffusers server takes about 15 s to start, most of it importing
    torch and diffusers. The server's API key is API_KEY. Each module keeps to its own models (their figures
    in /health are read as differences, never as totals):

        tiny-sd, tiny-flux, tiny-sd-opaque, tiny-dalle   tests/engines/test_diffusers_live.py
        tiny-sd, tiny-sd-q1, tiny-sd-batch               tests/engines/test_scheduling_live.py
        tiny-sd-capped, remote, either                   tests/api/test_models.py
    """
    sd, flux = tiny_pipelines["sd"], tiny_pipelines["flux"]
    config = "\n".join([
        f'api_keys = ["{API_KEY}"]',
        diffusers_model("tiny-sd", sd),
        diffusers_model("tiny-flux", flux, native_size='"256x256"'),
        diffusers_model("tiny-sd-opaque", sd, transparent_background="false"),
        diffusers_model("tiny-dalle", sd, family="dall-e-2"),
        diffusers_model("tiny-sd-q1", sd, max_queue=1),
        diffusers_model("tiny-sd-batch", sd, max_batch_images=4, batch_window_ms=200),
        # A pixel cap under every preset size, no warm-up.
        diffusers_model("tiny-sd-capped", sd, steps=(1, 1, 2), warmup="false", max_pixels=262144),
        "[[models]]",
        'name = "remote"',
        'engine = "upstream"',
        'family = "gpt-image"',
        f'base_url = "http://127.0.0.1:{closed_port()}/v1"',  # nothing listens there: every call fails
        "max_retries = 0",
        'extensions = ["steps", "negative_prompt"]',
        "partial_images = false",
        "",
        "[[models]]",
        'name = "either"',
        'family = "gpt-image"',
        'targets = ["gpt-image-1", "gpt-image-2"]',
    ]) + "\n"
    live = start_server(tmp_path_factory.mktemp("diffusers"), config, env={"HF_HUB_OFFLINE": "1"}, timeout=180)
    yield live
    alive = live.process.poll() is None
    stop_server(live)
    assert alive, f"the diffusers server died during the tests:\n{live.log()}"
