"""`darkroom pull HUB_ID` as a subprocess against a fake hub (tests/fake_hub.py) reached only through
HF_ENDPOINT: what lands in the data directory, what it prints, what it asked the hub, and its failures."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from darkroom.config import load_settings
from darkroom.model_flags import add_model_flags
from darkroom.pull import pipeline_files

from .conftest import closed_port
from .fake_hub import FakeHub
from .tiny_pipelines import break_pipeline

# Files a real repo has beside the pipeline, which pull must leave out.
EXTRAS = {"README.md": b"# tiny-sd\n", "tiny_sd.safetensors": b"\0" * 4096,  # a single-file checkpoint
          "unet/diffusion_pytorch_model.fp16.safetensors": b"\0" * 2048,  # a variant
          "text_encoder/pytorch_model.bin": b"\0" * 2048}  # the same weights in another format


@pytest.fixture(scope="module")
def repos(tiny_pipelines, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hub-repos")
    public = shutil.copytree(tiny_pipelines["sd"], root / "tiny-sd")
    for name, data in EXTRAS.items():
        (public / name).write_bytes(data)
    broken = shutil.copytree(tiny_pipelines["sd"], root / "broken-sd")
    break_pipeline(broken)
    return {"tiny-sd": public, "broken-sd": broken}


@pytest.fixture(scope="module")
def hub(repos, tiny_pipelines):
    with FakeHub() as fake:
        fake.add("fake-org/tiny-sd", repos["tiny-sd"])
        fake.add("fake-org/private-sd", tiny_pipelines["sd"], private=True)
        fake.add("fake-org/gated-sd", tiny_pipelines["sd"], gated=True)
        fake.add("fake-org/no-index", tiny_pipelines["sd"] / "unet")
        yield fake


@pytest.fixture()
def broken_hub(repos):
    """A hub of its own for the broken repo, so that a pull of it can run beside another one."""
    with FakeHub() as fake:
        fake.add("fake-org/broken-sd", repos["broken-sd"])
        yield fake


def start_pull(hub: FakeHub, tmp_path: Path, *args: str, **env: str) -> subprocess.Popen:
    """Start `darkroom pull ARGS` with this test's data directory and hub cache, and no HF_* or DARKROOM_* of ours."""
    child = {k: v for k, v in os.environ.items() if not k.startswith(("DARKROOM_", "HF_", "HUGGING"))}
    child.update(hub.env(HF_HOME=str(tmp_path / "hf")), DARKROOM_DATA_DIR=str(tmp_path / "data"), **env)
    hub.clear()
    return subprocess.Popen([sys.executable, "-m", "darkroom", "pull", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=child)


def finish(process: subprocess.Popen) -> subprocess.CompletedProcess:
    stdout, stderr = process.communicate(timeout=240)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def pull(hub: FakeHub, tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return finish(start_pull(hub, tmp_path, *args, **env))


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and ".cache" not in p.parts}


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("darkroom: "), result.stderr
    return lines[0]


def test_pull_fetches_the_pipeline_checks_it_and_prints_how_to_serve_it(hub, broken_hub, tiny_pipelines, tmp_path):
    # Two pulls side by side (each pays for importing torch): a good repo, and one whose weights are cut short.
    broken = start_pull(broken_hub, tmp_path / "other", "fake-org/broken-sd")
    result = pull(hub, tmp_path, "fake-org/tiny-sd")
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "data" / "models" / "fake-org" / "tiny-sd"
    # The pipeline's files, byte for byte, and none of the repo's other files.
    assert files_under(folder) == files_under(tiny_pipelines["sd"])
    for name in files_under(folder):
        assert (folder / name).read_bytes() == (tiny_pipelines["sd"] / name).read_bytes()
    assert not any(extra in r.path for r in hub.requests for extra in EXTRAS)
    assert "left out 4 files" in result.stderr and "Fetching" in result.stderr  # huggingface_hub's progress bar
    assert "it loads: StableDiffusionPipeline, native size 256x256" in result.stderr
    # The hub saw the model_info call, then HEAD + GET per file; weights came from its CDN.
    assert len(hub.seen("GET", "/api/models/fake-org/tiny-sd?")) == 1
    assert {r.path.split("/resolve/")[1].split("/", 1)[1] for r in hub.seen("HEAD", "/resolve/")} == \
        files_under(folder)
    assert len(hub.downloads()) == len(files_under(folder)) and len(hub.seen(server="cdn")) == 3
    assert all(r.status in (200, 302) for r in hub.requests)
    # stdout: the [[models]] lines, a blank line, the serve command; the lines are what `--model FOLDER` builds.
    toml_text, command = result.stdout.rstrip("\n").split("\n\n")
    [entry] = tomllib.loads(toml_text)["models"]
    assert entry == {"name": "tiny-sd", "engine": "diffusers", "family": "gpt-image", "path": str(folder),
                     "turbo": False, "description": entry["description"]}
    assert "StableDiffusionPipeline" in entry["description"] and "15/30/50 steps" in entry["description"]
    assert command == f"darkroom serve --model {folder}"
    [flagged] = add_model_flags(load_settings(data_dir=str(tmp_path)), [str(folder)]).models
    assert flagged.model_dump() == {**flagged.model_dump(), **entry} and flagged.engine_options == {
        "path": str(folder), "turbo": False}

    # The broken one downloaded, but it does not load: exit 1, one clear last line, no lines to serve it.
    failed = finish(broken)
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.strip().splitlines()[-1].startswith(
        f"darkroom: {tmp_path / 'other' / 'data' / 'models' / 'fake-org' / 'broken-sd'} was downloaded but does not "
        "load as a text-to-image pipeline: cannot load the pipeline from")

    again = pull(hub, tmp_path, "fake-org/tiny-sd", "--no-check")
    assert again.returncode == 0, again.stderr
    assert hub.downloads() == [] and [r.path for r in hub.requests] == ["/api/models/fake-org/tiny-sd?blobs=true"]
    assert again.stdout == result.stdout


def test_into_a_folder_of_your_choosing(hub, tmp_path):
    result = pull(hub, tmp_path, "fake-org/tiny-sd", "--dir", str(tmp_path / "models" / "hero"), "--no-check")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "models" / "hero" / "model_index.json").is_file() and not (tmp_path / "data").exists()
    assert 'name = "hero"' in result.stdout and "not checked (--no-check)" in result.stderr


def test_a_private_repo_needs_the_token(hub, tmp_path):
    line = one_line_error(pull(hub, tmp_path, "fake-org/private-sd"))
    assert line == (f"darkroom: fake-org/private-sd: no such repository on {hub.url} (if it is private or gated, "
                    "set HF_TOKEN)")
    assert not (tmp_path / "data").exists()

    result = pull(hub, tmp_path, "fake-org/private-sd", "--no-check", HF_TOKEN=hub.token)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "models" / "fake-org" / "private-sd" / "unet" / "config.json").is_file()
    # The token went to the hub on every request, and (as huggingface_hub does) not to the CDN's other origin.
    assert all(r.authorized for r in hub.seen(server="hub")) and hub.seen(server="cdn")
    assert not any(r.authorized for r in hub.seen(server="cdn"))


def test_a_token_the_hub_refuses(hub, tmp_path):
    line = one_line_error(pull(hub, tmp_path, "fake-org/tiny-sd", HF_TOKEN="hf_not_a_token"))
    assert line.startswith(f"darkroom: {hub.url} refused the token (HF_TOKEN): 401")


def test_a_gated_repo_without_the_token(hub, tmp_path):
    line = one_line_error(pull(hub, tmp_path, "fake-org/gated-sd"))
    assert line.startswith(f"darkroom: fake-org/gated-sd is gated on {hub.url}: ask for access") and "HF_TOKEN" in line


@pytest.mark.parametrize("args, expected", [
    (("fake-org/no-such-model",), "darkroom: fake-org/no-such-model: no such repository on {url}"),
    (("fake-org/tiny-sd", "--revision", "v9"), "darkroom: fake-org/tiny-sd has no revision 'v9' on {url}"),
])
def test_missing_repo_or_revision(hub, tmp_path, args, expected):
    assert one_line_error(pull(hub, tmp_path, *args)).startswith(expected.format(url=hub.url))


def test_an_unreachable_hub(hub, tmp_path):
    endpoint = f"http://127.0.0.1:{closed_port()}"
    line = one_line_error(pull(hub, tmp_path, "fake-org/tiny-sd", HF_ENDPOINT=endpoint))
    assert line.startswith(f"darkroom: cannot reach the hub at {endpoint} (HF_ENDPOINT): ConnectError")


def test_offline_mode_says_so(hub, tmp_path):
    line = one_line_error(pull(hub, tmp_path, "fake-org/tiny-sd", HF_HUB_OFFLINE="1"))
    assert "HF_HUB_OFFLINE is set" in line and hub.requests == []


def test_a_repo_that_is_not_a_pipeline(hub, tmp_path):
    line = one_line_error(pull(hub, tmp_path, "fake-org/no-index"))
    assert line.startswith("darkroom: fake-org/no-index has no model_index.json, so it is not a diffusers pipeline")
    assert hub.downloads() == []  # refused before any download


def test_pipeline_files_take_one_set_of_weights_per_component():
    sizes = dict.fromkeys([
        ".gitattributes", "README.md", "sd_turbo.safetensors", "sd_turbo.ckpt", "image.png", "model_index.json",
        "scheduler/scheduler_config.json", "tokenizer/vocab.json", "tokenizer/merges.txt",
        "text_encoder/config.json", "text_encoder/model.safetensors", "text_encoder/model.fp16.safetensors",
        "text_encoder/pytorch_model.bin", "text_encoder/flax_model.msgpack",
        "unet/config.json", "unet/diffusion_pytorch_model-00001-of-00002.safetensors",
        "unet/diffusion_pytorch_model-00002-of-00002.safetensors", "unet/diffusion_pytorch_model.safetensors.index.json",
        "unet/diffusion_pytorch_model.safetensors.index.fp16.json", "unet/diffusion_pytorch_model.bin",
        "vae/config.json", "vae/diffusion_pytorch_model.bin", "vae/diffusion_pytorch_model.fp16.bin",
        "safety_checker/model.safetensors", "onnx/unet/model.onnx",
    ], 1000)
    index = {"_class_name": "StableDiffusionPipeline", "scheduler": ["diffusers", "EulerDiscreteScheduler"],
             "tokenizer": ["transformers", "CLIPTokenizer"], "text_encoder": ["transformers", "CLIPTextModel"],
             "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
             "safety_checker": [None, None]}
    files, notes = pipeline_files(sizes, index)
    assert sorted(files) == sorted([
        "model_index.json", "scheduler/scheduler_config.json", "tokenizer/merges.txt", "tokenizer/vocab.json",
        "text_encoder/config.json", "text_encoder/model.safetensors", "unet/config.json",
        "unet/diffusion_pytorch_model-00001-of-00002.safetensors",
        "unet/diffusion_pytorch_model-00002-of-00002.safetensors", "unet/diffusion_pytorch_model.safetensors.index.json",
        "vae/config.json", "vae/diffusion_pytorch_model.bin",  # no safetensors there: the .bin
    ])
    assert notes == ["left out 13 files the pipeline does not load (13.0 KB): .gitattributes, README.md, "
                     "sd_turbo.safetensors, sd_turbo.ckpt, ..."]


def test_pipeline_files_fetch_variants_when_there_is_nothing_else():
    files, notes = pipeline_files({"model_index.json": 1, "unet/config.json": 1,
                                   "unet/diffusion_pytorch_model.fp16.safetensors": 1},
                                  {"_class_name": "X", "unet": ["diffusers", "UNet2DConditionModel"]})
    assert "unet/diffusion_pytorch_model.fp16.safetensors" in files and "no safetensors or .bin weights" in notes[0]


def test_help_names_the_settings_it_reads():
    result = subprocess.run([sys.executable, "-m", "darkroom", "pull", "--help"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0
    for words in ("HUB_ID", "--revision REV", "--dir DIR", "--no-check", "HF_ENDPOINT", "HF_TOKEN", "data_dir"):
        assert words in result.stdout
