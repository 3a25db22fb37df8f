"""A real S3-compatible server for the tests: moto's standalone server, as a process on 127.0.0.1.

    with moto_server(tmp_path / "moto.log") as endpoint:   # "http://127.0.0.1:PORT"
        ...

Clients need credentials of some kind (moto accepts any): `TEST_CREDENTIALS`, passed to the client or
set with `monkeypatch.setenv` for one test, never into the whole test process.
Note: moto does not check presigned URLs' signatures or expiry; real S3 does.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def moto_server(log_path: Path, timeout: float = 30.0, port: int | None = None) -> Iterator[str]:
    """Start `python -m moto.server` on `port` (default: a free one), yield its endpoint once it
    answers, stop it after."""
    port = port or free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_until_up(process, endpoint, log_path, timeout)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(process: subprocess.Popen, endpoint: str, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            httpx.get(f"{endpoint}/moto-api/", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"moto server did not answer in {timeout} s:\n{log_path.read_text(errors='replace')}")
