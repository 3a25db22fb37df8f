"""A real `darkroom serve --ray` (a local Ray instance) against the throwaway PostgreSQL and moto servers."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ..conftest import LiveServer, free_port, stop_server
from ..postgres import PgServer, start_postgres, stop_postgres
from ..s3_server import REGION, TEST_CREDENTIALS, moto_server

API_KEY = "sk-ray-settings-key"
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", **TEST_CREDENTIALS,
           "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.fixture(scope="session")
def postgres() -> PgServer:
    server = start_postgres()
    yield server
    stop_postgres(server)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory):
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        yield endpoint


def shared_state(postgres: PgServer, s3_endpoint: str, name: str) -> str:
    """Config lines for a new database and a new bucket."""
    import boto3

    bucket = f"darkroom-{secrets.token_hex(6)}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION, **{
        "aws_access_key_id": TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}).create_bucket(Bucket=bucket)
    return (f'database_url = "{postgres.create_database(name)}"\nstorage = "s3"\ns3_bucket = "{bucket}"\n'
            f's3_endpoint_url = "{s3_endpoint}"\ns3_region = "{REGION}"\n')


def ray_env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DARKROOM_", "AWS_", "RAY_"))}
    env.update(RAY_ENV, HOME=str(workdir))
    return env


def start_ray_server(workdir: Path, config: str, timeout: float = 120.0,
                     env: dict[str, str] | None = None) -> LiveServer:
    """`darkroom serve --ray` with `config` (plus a data_dir and the API key), healthy; its own home folder;
    `env` (default: `ray_env`) for its environment."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "darkroom.toml"
    config_path.write_text(f'data_dir = "{(workdir / "data").as_posix()}"\napi_keys = ["{API_KEY}"]\n' + config)
    port = free_port()
    log_path = workdir / "server.log"
    env = env or ray_env(workdir)
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "darkroom", "serve", "--ray", "--port", str(port),
                                    "--config", str(config_path)], stdout=log, stderr=subprocess.STDOUT, env=env)
    server = LiveServer(f"http://127.0.0.1:{port}", API_KEY, process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"darkroom serve --ray exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.base_url}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_server(server)
    raise RuntimeError(f"darkroom serve --ray did not become healthy in {timeout} s:\n{server.log()}")
