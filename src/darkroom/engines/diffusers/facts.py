"""What a diffusers pipeline says about itself, read from its JSON files before anything loads (no torch).

`darkroom serve --model` and `darkroom pull` use these facts to write a model's `[[models]]` entry, so that
its rules come from the pipeline rather than from a setting someone has to know:

    model_index.json `_class_name`      -> the preset family (steps and guidance per quality, options.py):
                                           Flux -> flux, StableDiffusion3 -> sd3, StableDiffusionXL -> sdxl,
                                           StableDiffusion -> sd, anything else -> other
    turbo (few-step, no guidance)       -> the first of: the model's name says turbo, schnell, lightning, hyper
                                           or lcm; its scheduler is an LCMScheduler (LCM-distilled); it is a
                                           FLUX pipeline whose transformer has no guidance embedding
                                           (`guidance_embeds: false`, as FLUX.1-schnell; FLUX.1-dev has one)

The native size (`size=auto`), the size multiple and which extensions and edits the model takes are read by
the engine from the loaded pipeline itself (`DiffusersEngine._capabilities`), where they are exact.

`read` is how a file is fetched: from a local folder, or from the hub (`darkroom.hub.json_reader`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ...config import ConfigError
from .options import FAMILY_PRESETS, TURBO_NAMES, preset_family

Reader = Callable[[str], "dict | None"]  # a pipeline file by its path in the folder ("vae/config.json"); None if absent

PRESET_LABELS = {
    "turbo": "turbo-like", "sd": "Stable Diffusion 1.x/2.x", "sdxl": "SDXL", "sd3": "SD3", "flux": "FLUX",
    "other": "a pipeline without presets of its own",
}


@dataclass(frozen=True, slots=True)
class PipelineFacts:
    class_name: str  # model_index.json's `_class_name`, e.g. "StableDiffusionXLPipeline"
    components: tuple[str, ...]  # the folders model_index.json names (unet, vae, text_encoder, ...)
    preset_family: str  # a FAMILY_PRESETS key
    turbo: bool
    turbo_reason: str | None  # why it is taken for a few-step model (None when it is not)

    def presets_text(self) -> str:
        """The quality presets in words: "SDXL presets: low/medium/high = 15/30/50 steps, guidance 5.0"."""
        (low, medium, high), guidance = FAMILY_PRESETS[self.preset_family]
        guide = "the pipeline's default guidance" if guidance is None else f"guidance {guidance:g}"
        text = f"{PRESET_LABELS[self.preset_family]} presets: low/medium/high = {low}/{medium}/{high} steps, {guide}"
        return f"{text}; few-step because {self.turbo_reason}" if self.turbo_reason else text


def read_facts(name: str, read: Reader) -> PipelineFacts:
    """The facts of the pipeline `name` (its folder or repo name) whose files `read` returns.

    Raises ConfigError when there is no model_index.json or it names no pipeline class.
    """
    index = read("model_index.json")
    if index is None:
        raise ConfigError("it has no model_index.json, so it is not a diffusers pipeline (a single-file checkpoint "
                          "such as model.safetensors is not served; convert it with diffusers' save_pretrained)")
    class_name = index.get("_class_name")
    if not isinstance(class_name, str) or not class_name:
        raise ConfigError("its model_index.json names no pipeline class (`_class_name`)")
    components = components_of(index)
    reason = _turbo_reason(name, class_name, components, read)
    return PipelineFacts(class_name, components, preset_family(class_name, reason is not None), reason is not None,
                         reason)


def components_of(index: dict) -> tuple[str, ...]:
    """The component folders a model_index.json names (`"unet": ["diffusers", "UNet2DConditionModel"]`), not
    its `_` keys nor the ones it leaves empty (`"safety_checker": [null, null]`)."""
    return tuple(key for key, value in index.items()
                 if not key.startswith("_") and isinstance(value, list) and len(value) == 2 and value[0])


def _turbo_reason(name: str, class_name: str, components: tuple[str, ...], read: Reader) -> str | None:
    if TURBO_NAMES.search(name):
        return f"its name '{name}' says so"
    if "scheduler" in components:
        scheduler = read("scheduler/scheduler_config.json") or {}
        if scheduler.get("_class_name") == "LCMScheduler":
            return "its scheduler is an LCMScheduler"
    if "Flux" in class_name and "transformer" in components:
        transformer = read("transformer/config.json") or {}
        if transformer.get("guidance_embeds") is False:
            return "its transformer has no guidance embedding (as FLUX.1-schnell)"
    return None
