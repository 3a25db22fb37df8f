"""Settings from TOML, env and flags; bad values fail at start naming the setting."""

from __future__ import annotations

import subprocess
import sys

import pytest

from darkroom.config import ConfigError, load_settings


def write(tmp_path, text: str):
    path = tmp_path / "darkroom.toml"
    path.write_text(text)
    return path


def test_precedence_toml_env_flags(tmp_path, monkeypatch):
    path = write(tmp_path, 'port = 9001\nhost = "0.0.0.0"\napi_keys = ["sk-file"]\n')
    monkeypatch.setenv("DARKROOM_PORT", "9002")
    settings = load_settings(path)
    assert (settings.port, settings.host) == (9002, "0.0.0.0")
    assert [k.get_secret_value() for k in settings.api_keys] == ["sk-file"]
    assert load_settings(path, port=9003, host=None).port == 9003  # a flag wins; an absent flag does not


def test_api_keys_from_env_are_comma_separated(monkeypatch):
    monkeypatch.setenv("DARKROOM_API_KEYS", "sk-a, sk-b,,")
    assert [k.get_secret_value() for k in load_settings().api_keys] == ["sk-a", "sk-b"]


def test_models_and_engine_options(tmp_path):
    path = write(tmp_path, '[[models]]\nname = "house-style"\nfamily = "gpt-image-2"\ntransparent_background = true\n')
    (model,) = load_settings(path).models
    assert (model.name, model.engine, model.family, model.transparent_background) == (
        "house-style", "sketch", "gpt-image-2", True)


@pytest.mark.parametrize("text, named", [
    ("port = 'abc'", "'port'"),
    ("port = 70000", "'port'"),
    ("url_ttl_seconds = 0", "'url_ttl_seconds'"),
    ("colour = 'red'", "'colour'"),
    ("public_base_url = 'example.com'", "'public_base_url'"),
    ("[[models]]\nname = 'x'\nfamily = 'dall-e-9'", "'models.0.family'"),
    ("[[models]]\nname = 'x'\nengine = 'magic'", "'models.0.engine'"),
    ("[[models]]\nname = 'x'\n[[models]]\nname = 'x'", "appears twice"),
    ("[[models]]\nname = 'x'\nfamily = 'dall-e-3'\ntransparent_background = true", "dall-e-3"),
    ("prompt_limits = { 'gpt-image' = 0 }", "'prompt_limits.gpt-image'"),
    ("port = = 1", "not valid TOML"),
])
def test_bad_settings_name_the_setting(tmp_path, text, named):
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert named in str(info.value)


def test_missing_config_file():
    with pytest.raises(ConfigError, match="not found"):
        load_settings("/nonexistent/darkroom.toml")


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "darkroom", *args], capture_output=True, text=True, timeout=60,
                          env=env)


def test_serve_fails_at_start_naming_the_setting(tmp_path):
    result = run_cli("serve", "--config", str(write(tmp_path, "max_body_bytes = -5")))
    assert result.returncode == 2
    assert "Invalid setting 'max_body_bytes'" in result.stderr


def test_serve_refuses_an_upstream_without_base_url(tmp_path):
    result = run_cli("serve", "--config", str(write(tmp_path, "[[models]]\nname = 'up'\nengine = 'upstream'\n")))
    assert result.returncode == 2 and "Invalid setting 'models.up.base_url'" in result.stderr


def test_serve_refuses_an_upstream_whose_key_variable_is_unset(tmp_path):
    config = "[[models]]\nname = 'up'\nengine = 'upstream'\nbase_url = 'http://127.0.0.1:9/v1'\napi_key_env = 'NO_SUCH_VAR_X'\n"
    result = run_cli("serve", "--config", str(write(tmp_path, config)))
    assert result.returncode == 2 and "NO_SUCH_VAR_X is not set" in result.stderr


def test_sketch_refuses_unknown_engine_options(tmp_path):
    result = run_cli("models", "--config", str(write(tmp_path, "[[models]]\nname = 's'\nsteps = 4\n")))
    assert result.returncode == 2 and "sketch engine takes no options (got steps)" in result.stderr


def test_models_command_lists_the_catalog(tmp_path):
    result = run_cli("models", "--config", str(write(tmp_path, "[[models]]\nname = 'house'\n")))
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert "gpt-image-2-2026-04-21" in names and "house" in names


def test_help_describes_serve():
    result = run_cli("serve", "--help")
    assert result.returncode == 0 and "--config FILE" in result.stdout and "--port" in result.stdout


def test_models_command_lists_routes(tmp_path):
    config = "[[models]]\nname = 'hero'\ntargets = ['gpt-image-1', 'gpt-image-1.5']\nstrategy = 'round-robin'\n"
    result = run_cli("models", "--config", str(write(tmp_path, config)))
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines() if line.startswith("hero")]
    assert line.split()[1] == "route" and "round-robin: gpt-image-1, gpt-image-1.5" in line


def test_a_relative_data_dir_in_the_config_file_is_relative_to_the_file(tmp_path, monkeypatch):
    (tmp_path / "etc").mkdir()
    path = write(tmp_path / "etc", 'data_dir = "state/../data"\n')
    monkeypatch.chdir(tmp_path)
    assert load_settings("etc/darkroom.toml").data_dir == tmp_path / "etc" / "data"  # absolute, normalised
    monkeypatch.chdir(tmp_path / "etc")
    assert load_settings(path).data_dir == tmp_path / "etc" / "data"  # the same from any working directory


def test_a_relative_data_dir_from_env_flag_or_default_is_relative_to_the_working_directory(tmp_path, monkeypatch):
    path = write(tmp_path, 'data_dir = "in-file"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert load_settings().data_dir == elsewhere / "darkroom-data"
    assert load_settings(path, data_dir="flag").data_dir == elsewhere / "flag"
    monkeypatch.setenv("DARKROOM_DATA_DIR", "env")
    assert load_settings(path).data_dir == elsewhere / "env"  # the env wins over the file, as for any setting
    monkeypatch.setenv("DARKROOM_DATA_DIR", str(tmp_path / "abs"))
    assert load_settings(path).data_dir == tmp_path / "abs"
