"""`darkroom serve --ray` refuses to start without shared state, at once and before Ray starts."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from darkroom.config import ConfigError, load_settings
from darkroom.scaleout.requirements import check_shared_state


def _serve_ray(tmp_path, config: str) -> tuple[subprocess.CompletedProcess, float]:
    path = tmp_path / "darkroom.toml"
    path.write_text(f'data_dir = "{(tmp_path / "data").as_posix()}"\n' + config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DARKROOM_")}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "darkroom", "serve", "--ray", "--config", str(path)],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    return done, time.monotonic() - started


def test_serve_ray_without_postgres_or_s3_exits_2_saying_why(tmp_path):
    done, _ = _serve_ray(tmp_path, "")
    assert done.returncode == 2
    assert "darkroom serve --ray needs shared state" in done.stderr
    assert "PostgreSQL" in done.stderr and "database_url" in done.stderr
    assert "S3" in done.stderr and "s3_bucket" in done.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was created or started


def test_postgres_alone_is_not_enough(tmp_path):
    done, _ = _serve_ray(tmp_path, 'database_url = "postgresql+psycopg://u@127.0.0.1:1/db"\n')
    assert done.returncode == 2
    assert "s3_bucket" in done.stderr and "database_url" not in done.stderr


def test_a_model_flag_is_refused_with_ray(tmp_path):
    config = ('database_url = "postgresql+psycopg://u@127.0.0.1:1/db"\nstorage = "s3"\ns3_bucket = "b"\n')
    path = tmp_path / "darkroom.toml"
    path.write_text(config)
    done = subprocess.run([sys.executable, "-m", "darkroom", "serve", "--ray", "--config", str(path), "--model",
                           str(tmp_path)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "--model cannot be used with --ray" in done.stderr


def test_check_passes_with_postgres_and_s3():
    settings = load_settings(None, database_url="postgresql+psycopg://u@h/db", storage="s3", s3_bucket="b")
    check_shared_state(settings)  # no error


def test_sqlite_url_is_refused():
    settings = load_settings(None, database_url="sqlite:///x.db", storage="s3", s3_bucket="b")
    with pytest.raises(ConfigError, match="must be PostgreSQL"):
        check_shared_state(settings)
