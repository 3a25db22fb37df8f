"""Start-up of diffusers models: missing extra, missing or broken folders, bad options."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys

import pytest

from darkroom.config import ConfigError
from darkroom.engines.diffusers.options import check_options

from ..tiny_pipelines import break_pipeline


def serve(tmp_path, model_toml: str, timeout: float = 180) -> subprocess.CompletedProcess:
    config = tmp_path / "darkroom.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n[[models]]\n{model_toml}\n')
    return subprocess.run([sys.executable, "-m", "darkroom", "serve", "--port", "0", "--config", str(config)],
                          capture_output=True, text=True, timeout=timeout, env={"HF_HUB_OFFLINE": "1", "PATH": ""})


def test_missing_folder_fails_the_start_naming_model_and_path(tmp_path):
    missing = tmp_path / "no-such-model"
    result = serve(tmp_path, f'name = "ghost"\nengine = "diffusers"\npath = "{missing}"')
    assert result.returncode == 2
    assert "'ghost'" in result.stderr and str(missing) in result.stderr


def test_broken_folder_fails_the_start_naming_model_and_path(tmp_path, tiny_pipelines):
    folder = tmp_path / "broken-sd"
    shutil.copytree(tiny_pipelines["sd"], folder)
    break_pipeline(folder)
    result = serve(tmp_path, f'name = "broken"\nengine = "diffusers"\npath = "{folder}"\nlocal_files_only = true')
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("darkroom: Model 'broken' failed to load") and str(folder) in last


@pytest.mark.parametrize("options, named", [
    ({"path": "/x", "device": "tpu"}, "models.m.device"),
    ({"path": "/x", "dtype": "int8"}, "models.m.dtype"),
    ({"path": "/x", "presets": {"low": {"steps": 0}}}, "models.m.presets.low.steps"),
    ({"path": "/x", "cpu_offload": "always"}, "models.m.cpu_offload"),
    ({"path": "/x", "colour": "red"}, "models.m.colour"),
    ({}, "models.m.path"),
])
def test_bad_options_name_the_setting(options, named):
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        check_options("m", options)


def test_without_the_extra_the_message_names_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    with pytest.raises(ConfigError, match=r"pip install 'darkroom\[diffusers\]'"):
        check_options("m", {"path": "org/model"})


def test_sketch_only_server_never_imports_torch():
    code = ("import sys; from darkroom.api.app import create_app; from darkroom.config import load_settings; "
            "import tempfile; create_app(load_settings(data_dir=tempfile.mkdtemp())); "
            "print('torch' in sys.modules, 'diffusers' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False False", result.stderr
