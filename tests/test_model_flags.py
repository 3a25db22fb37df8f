"""`--model PATH_OR_HUB_ID`: a live `darkroom serve` with no config file serving a pipeline folder and a
hub id (through the fake hub, tests/fake_hub.py), used with the official SDK; names, clashes and families
through `darkroom models` (which builds the same catalog without loading anything)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from darkroom.cli import main
from darkroom.config import load_settings
from darkroom.model_flags import add_model_flags

from .conftest import LiveServer, free_port, stop_server
from .fake_hub import FakeHub
from .images import decode_b64


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DARKROOM_", "HF_", "HUGGING"))}
    return {**env, "HF_HUB_OFFLINE": "1", **extra}


def darkroom(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "darkroom", *args], capture_output=True, text=True, cwd=cwd,
                          env=env or clean_env(), timeout=120, check=False)


def listing(result: subprocess.CompletedProcess) -> dict[str, tuple[str, str]]:
    """`darkroom models` output: name -> (engine, family)."""
    assert result.returncode == 0, result.stderr
    return {line.split()[0]: (line.split()[1], line.split()[2]) for line in result.stdout.splitlines()}


@pytest.fixture(scope="module")
def folders(tiny_pipelines, tmp_path_factory):
    """Pipeline folders named as a user's would be: models/tiny-flux, models/tiny-sd, other/tiny-sd."""
    root = tmp_path_factory.mktemp("flag-models")
    for name, kind in (("models/tiny-flux", "flux"), ("models/tiny-sd", "sd"), ("other/tiny-sd", "sd"),
                       ("other/tiny-sd-turbo", "sd")):
        shutil.copytree(tiny_pipelines[kind], root / name)
    (root / "models" / "no-index").mkdir()
    (root / "models" / "no-index" / "model.safetensors").write_bytes(b"\0" * 64)
    return root


@pytest.fixture(scope="module")
def live(folders, tiny_pipelines, tmp_path_factory):
    """`darkroom serve --model models/tiny-flux --model fake-org/tiny-sd`, no config, in a fresh folder."""
    workdir = tmp_path_factory.mktemp("serve-model")
    with FakeHub() as hub:
        hub.add("fake-org/tiny-sd", tiny_pipelines["sd"])
        port = free_port()
        log_path = workdir / "server.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "darkroom", "serve", "--port", str(port),
                 "--model", str(folders / "models" / "tiny-flux"), "--model", "fake-org/tiny-sd"],
                cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
                env=clean_env(**hub.env(HF_HOME=str(workdir / "hf"))))
        server = LiveServer(f"http://127.0.0.1:{port}", "sk-any", process, log_path)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{server.base_url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            stop_server(server)
            raise RuntimeError(f"darkroom serve --model did not become healthy:\n{server.log()}")
        yield server, hub, workdir
        alive = process.poll() is None
        stop_server(server)
        assert alive, server.log()


def test_serve_model_lists_both_beside_the_default_catalog(live, folders):
    server, _, workdir = live
    models = {m["id"]: m for m in httpx.get(f"{server.v1}/models").json()["data"]}
    flux, sd = models["tiny-flux"], models["tiny-sd"]
    assert (flux["engine"], flux["family"], sd["engine"], sd["family"]) == ("diffusers", "gpt-image") * 2
    assert flux["description"].startswith(f"FluxPipeline from {folders / 'models' / 'tiny-flux'} (diffusers): "
                                          "turbo-like presets: low/medium/high = 1/2/4 steps, guidance 0")
    assert "no guidance embedding" in flux["description"]
    assert sd["description"] == ("StableDiffusionPipeline from fake-org/tiny-sd (diffusers): Stable Diffusion "
                                 "1.x/2.x presets: low/medium/high = 15/30/50 steps, guidance 7.5")
    assert models["gpt-image-1"]["engine"] == "sketch" and models["dall-e-3"]["family"] == "dall-e-3"
    log = server.log()
    assert "--model fake-org/tiny-sd: serving 'tiny-sd' with the diffusers engine" in log
    assert "engine diffusers ready for tiny-flux" in log and "engine diffusers ready for tiny-sd" in log
    assert (workdir / "darkroom-data" / "darkroom.db").is_file()  # the default data directory, no config


@pytest.mark.parametrize("model, size, expected, steps", [
    ("tiny-sd", "auto", (256, 256), "15"),  # the pipeline's native size; SD presets (low = 15 steps)
    ("tiny-flux", "256x192", (256, 192), "1"),  # turbo-like presets from the pipeline (low = 1 step)
])
def test_the_sdk_generates_with_them(live, model, size, expected, steps):
    server, hub, _ = live
    with openai.OpenAI(base_url=server.v1, api_key="sk-any", max_retries=0, timeout=120) as client:
        raw = client.images.with_raw_response.generate(model=model, prompt="a red house", size=size,
                                                       quality="low", extra_body={"seed": 3})
    image = decode_b64(raw.parse().data[0].b64_json)
    assert (image.format, image.size, image.mode) == ("PNG", expected, "RGB")
    assert raw.headers["x-darkroom-steps"] == steps
    assert len(set(image.get_flattened_data())) > 100  # a real (noise-like) picture, not a flat fill


def test_the_hub_id_was_fetched_through_hf_endpoint(live):
    _, hub, workdir = live
    assert hub.seen("GET", "/api/models/fake-org/tiny-sd") and hub.downloads()
    assert all(r.status in (200, 302) for r in hub.requests)
    assert list((workdir / "hf").rglob("unet/diffusion_pytorch_model.safetensors"))  # in HF_HOME's cache


def test_two_models_with_one_name_exit_2(folders):
    result = darkroom("models", "--model", "models/tiny-sd", "--model", "other/tiny-sd", cwd=folders)
    assert result.returncode == 2
    assert result.stderr.strip() == ("darkroom: --model models/tiny-sd and --model other/tiny-sd would both be "
                                     "served as 'tiny-sd'; name one yourself: --model OTHER-NAME=other/tiny-sd")
    named = listing(darkroom("models", "--model", "models/tiny-sd", "--model", "hero=other/tiny-sd", cwd=folders))
    assert named["tiny-sd"] == named["hero"] == ("diffusers", "gpt-image")


def test_with_a_config_file_and_a_clash_with_it(folders, tmp_path):
    config = tmp_path / "darkroom.toml"
    config.write_text('[[models]]\nname = "tiny-sd"\nfamily = "gpt-image-2"\n')
    clash = darkroom("models", "--config", str(config), "--model", "models/tiny-sd", cwd=folders)
    assert clash.returncode == 2 and "a name the config file already serves" in clash.stderr
    both = listing(darkroom("models", "--config", str(config), "--model", "models/tiny-flux", cwd=folders))
    assert both["tiny-sd"] == ("sketch", "gpt-image-2") and both["tiny-flux"] == ("diffusers", "gpt-image")


def test_an_openai_name_replaces_the_sketch_model_and_keeps_its_family(folders):
    result = darkroom("models", "--model", "dall-e-3=models/tiny-sd", cwd=folders)
    served = listing(result)
    assert served["dall-e-3"] == ("diffusers", "dall-e-3") and served["dall-e-2"] == ("sketch", "dall-e-2")
    assert "replaces the built-in sketch model 'dall-e-3'" in result.stderr


def test_turbo_comes_from_the_pipelines_own_name_not_the_one_you_give_it(folders, tmp_path):
    settings = load_settings(data_dir=str(tmp_path))
    [hero, plain] = add_model_flags(settings, [f"hero={folders / 'other' / 'tiny-sd-turbo'}",
                                               f"turbo-ish={folders / 'models' / 'tiny-sd'}"]).models
    assert (hero.name, hero.engine_options["turbo"], plain.engine_options["turbo"]) == ("hero", True, False)
    assert "few-step because its name 'tiny-sd-turbo' says so" in hero.description


@pytest.mark.parametrize("flag, message", [
    ("./models/nothing-here", "--model ./models/nothing-here: no such folder, and not a hub id (those look like "
                              "ORG/NAME)"),
    ("models/no-index", "--model models/no-index: it has no model_index.json, so it is not a diffusers pipeline"),
    ("models/no-index/model.safetensors", "is a file, not a pipeline folder"),
    ("=models/tiny-sd", "expected PATH_OR_HUB_ID or NAME=PATH_OR_HUB_ID"),
    ("fake-org/not-cached", "--model fake-org/not-cached (no such folder here, so a hub id): HF_HUB_OFFLINE is set"),
])
def test_bad_flags_exit_2_with_one_line(folders, monkeypatch, capsys, flag, message):
    # In-process (the same `main` as the command; HF_HUB_OFFLINE=1 is set by tests/tiny_pipelines.py).
    monkeypatch.chdir(folders)
    assert main(["models", "--model", flag]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_help_describes_the_flag(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    assert "--model PATH_OR_HUB_ID" in out and "repeatable" in out
