"""hub.py without huggingface_hub: `pull` and `--model ORG/NAME` name the extra that brings it."""

from __future__ import annotations

import sys

import pytest

from darkroom.cli import main
from darkroom.hub import HubError, hub


@pytest.fixture()
def no_huggingface_hub(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # `import huggingface_hub` raises ImportError


def test_the_missing_extra_is_named(no_huggingface_hub):
    with pytest.raises(HubError, match=r"comes with the diffusers extra: pip install 'darkroom\[diffusers\]'"):
        hub()


def test_pull_and_model_say_so_in_one_line(no_huggingface_hub, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["pull", "some-org/some-model", "--dir", str(tmp_path / "m")]) == 1
    assert capsys.readouterr().err == ("darkroom: this needs huggingface_hub, which comes with the diffusers extra: "
                                       "pip install 'darkroom[diffusers]'\n")
    assert main(["models", "--model", "some-org/some-model"]) == 2
    assert "pip install 'darkroom[diffusers]'" in capsys.readouterr().err
