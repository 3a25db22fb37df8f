"""The rules `--model` and `pull` derive from a pipeline's own files (engines/diffusers/facts.py): the preset
family from model_index.json's class, few-step (`turbo`) from the name, the scheduler or the transformer."""

from __future__ import annotations

import pytest

from darkroom.config import ConfigError
from darkroom.engines.diffusers.facts import read_facts
from darkroom.engines.diffusers.options import preset_family
from darkroom.model_flags import folder_reader


def reader(class_name: str, scheduler: str = "EulerDiscreteScheduler", transformer: dict | None = None,
           components: tuple[str, ...] = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")):
    """The JSON files of a pipeline as its repo or folder holds them."""
    files = {"model_index.json": {"_class_name": class_name, "_diffusers_version": "0.42.1",
                                  "safety_checker": [None, None],
                                  **{c: ["diffusers", "X"] for c in components}},
             "scheduler/scheduler_config.json": {"_class_name": scheduler}}
    if transformer is not None:
        files["transformer/config.json"] = transformer
    return files.get


FLUX = ("transformer", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "scheduler")


@pytest.mark.parametrize("name, read, family, turbo, reason", [
    ("stable-diffusion-v1-5", reader("StableDiffusionPipeline", "PNDMScheduler"), "sd", False, None),
    ("stable-diffusion-2-1", reader("StableDiffusionPipeline", "DDIMScheduler"), "sd", False, None),
    ("stable-diffusion-xl-base-1.0", reader("StableDiffusionXLPipeline"), "sdxl", False, None),
    ("sdxl-turbo", reader("StableDiffusionXLPipeline", "EulerAncestralDiscreteScheduler"), "turbo", True, "name"),
    ("sd-turbo", reader("StableDiffusionPipeline"), "turbo", True, "name"),
    ("my-distilled", reader("StableDiffusionXLPipeline", "LCMScheduler"), "turbo", True, "LCMScheduler"),
    ("stable-diffusion-3.5-medium", reader("StableDiffusion3Pipeline", "FlowMatchEulerDiscreteScheduler",
                                           components=FLUX), "sd3", False, None),
    ("FLUX.1-dev", reader("FluxPipeline", "FlowMatchEulerDiscreteScheduler", {"guidance_embeds": True},
                          components=FLUX), "flux", False, None),
    ("my-flux", reader("FluxPipeline", "FlowMatchEulerDiscreteScheduler", {"guidance_embeds": False},
                       components=FLUX), "turbo", True, "guidance embedding"),
    ("kandinsky-3", reader("Kandinsky3Pipeline", "DDPMScheduler"), "other", False, None),
])
def test_the_pipeline_decides_presets_and_turbo(name, read, family, turbo, reason):
    facts = read_facts(name, read)
    assert (facts.preset_family, facts.turbo) == (family, turbo)
    assert (facts.turbo_reason is None) == (reason is None)
    if reason:
        assert reason in facts.turbo_reason and "few-step because" in facts.presets_text()


def test_presets_text_quotes_the_engine_table():
    assert read_facts("x", reader("StableDiffusionXLPipeline")).presets_text() == (
        "SDXL presets: low/medium/high = 15/30/50 steps, guidance 5")
    assert "the pipeline's default guidance" in read_facts("x", reader("Kandinsky3Pipeline")).presets_text()


def test_components_are_the_folders_model_index_names():
    facts = read_facts("x", reader("StableDiffusionPipeline"))
    assert facts.components == ("unet", "vae", "text_encoder", "tokenizer", "scheduler")  # not safety_checker: null


@pytest.mark.parametrize("files, message", [
    ({}, "no model_index.json"),
    ({"model_index.json": {"unet": ["diffusers", "UNet2DConditionModel"]}}, "names no pipeline class"),
])
def test_not_a_pipeline(files, message):
    with pytest.raises(ConfigError, match=message):
        read_facts("x", files.get)


def test_the_engine_uses_the_same_mapping():
    # DiffusersEngine._family calls preset_family with the loaded class: one table for both.
    assert preset_family("StableDiffusionXLImg2ImgPipeline", False) == "sdxl"
    assert preset_family("FluxPipeline", True) == "turbo"


def test_saved_tiny_pipelines(tiny_pipelines):
    sd = read_facts("sd", folder_reader(tiny_pipelines["sd"]))
    assert (sd.class_name, sd.preset_family, sd.turbo) == ("StableDiffusionPipeline", "sd", False)
    flux = read_facts("flux", folder_reader(tiny_pipelines["flux"]))  # built without a guidance embedding
    assert (flux.class_name, flux.preset_family, flux.turbo) == ("FluxPipeline", "turbo", True)
