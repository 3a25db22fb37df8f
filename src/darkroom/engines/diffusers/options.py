"""The options of a `[[models]]` entry with `engine = "diffusers"`, checked at start, and the
engine's fixed tables: quality presets per pipeline family and the `scheduler` extension's list.

Nothing here imports torch or diffusers: `check_options` runs before any model loads, so that a bad
setting stops the server with a message naming it.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ...config import ConfigError
from ...hub import HUB_ID

EXTRA_HINT = "pip install 'darkroom[diffusers]'"
# Names of few-step (distilled) models: `turbo` is guessed from a model's path when not set.
TURBO_NAMES = re.compile(r"turbo|schnell|lightning|hyper|lcm", re.IGNORECASE)
# Pipeline class name markers -> preset family (first match wins: "StableDiffusionXL" before "StableDiffusion").
_CLASS_MARKERS = (("Flux", "flux"), ("StableDiffusion3", "sd3"), ("StableDiffusionXL", "sdxl"), ("StableDiffusion", "sd"))

# (steps low, medium, high), guidance_scale (None: the pipeline's own default)
FAMILY_PRESETS: dict[str, tuple[tuple[int, int, int], float | None]] = {
    "turbo": ((1, 2, 4), 0.0),
    "sd": ((15, 30, 50), 7.5),
    "sdxl": ((15, 30, 50), 5.0),
    "sd3": ((14, 28, 40), 7.0),
    "flux": ((14, 28, 50), 3.5),
    "other": ((15, 30, 50), None),
}
# The `scheduler` extension's fixed list: name -> (diffusers class, extra config).
SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {}),
    "dpmpp_2m_karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "unipc": ("UniPCMultistepScheduler", {}),
    "lcm": ("LCMScheduler", {}),
}
FLOW_SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "flow_match_euler": ("FlowMatchEulerDiscreteScheduler", {}),
}


def preset_family(class_name: str, turbo: bool) -> str:
    """The FAMILY_PRESETS key for a pipeline class (e.g. "StableDiffusionXLPipeline" -> "sdxl"); "turbo" for any
    few-step model, "other" for a class none of the markers names."""
    if turbo:
        return "turbo"
    for marker, family in _CLASS_MARKERS:
        if marker in class_name:
            return family
    return "other"


class Preset(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    steps: int = Field(ge=1, le=200)
    guidance_scale: float | None = Field(default=None, ge=0, le=50)


class DiffusersOptions(BaseModel):
    """The engine options of a `[[models]]` entry with `engine = "diffusers"`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(min_length=1)  # a local pipeline folder, or a hub id
    local_files_only: bool = False  # also forced on by HF_HUB_OFFLINE=1
    device: str = "auto"  # auto (cuda, then mps, then cpu) | cpu | cuda | cuda:N | mps
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"  # auto: bf16/fp16 on GPU, fp32 on CPU
    compile: bool = False  # torch.compile the denoiser
    channels_last: bool = False  # the UNet and the VAE in channels-last memory format (conv nets; faster on GPUs)
    attention_backend: str | None = None  # a diffusers attention backend name (flash, sage, native...)
    vae_tiling: bool = False
    vae_slicing: bool = False
    cpu_offload: Literal["none", "model", "sequential"] = "none"
    turbo: bool | None = None  # None: guessed from the path's name (turbo, schnell, lightning, ...)
    presets: dict[Literal["low", "medium", "high"], Preset] = Field(default_factory=dict)
    native_size: str | None = Field(default=None, pattern=r"^[1-9][0-9]*x[1-9][0-9]*$")
    warmup: bool = True

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        if not re.fullmatch(r"auto|cpu|mps|cuda(:[0-9]+)?", value):
            raise ValueError("must be auto, cpu, mps, cuda or cuda:N")
        return value


def check_options(model: str, options: dict[str, Any]) -> DiffusersOptions:
    """Validate a model's options at start: the extra is installed, values are valid, a local folder exists."""
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("diffusers") is None:
        raise ConfigError(f"Model '{model}' uses the diffusers engine, which needs an extra: {EXTRA_HINT}")
    try:
        opts = DiffusersOptions(**options)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"Invalid setting 'models.{model}.{where}': {err['msg']}") from None
    if not Path(opts.path).expanduser().exists() and not HUB_ID.match(opts.path):
        raise ConfigError(f"Model '{model}': pipeline folder not found: {opts.path}")
    return opts
