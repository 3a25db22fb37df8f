"""Edits and variations for the diffusers engine: pipelines built over the loaded weights, and their inputs.

At load the engine asks diffusers for the image-to-image and the inpainting pipeline of the loaded
text-to-image pipeline's class (`AutoPipelineFor{Image2Image,Inpainting}.from_pipe`). They are new
pipeline objects over the very same components (denoiser, VAE, text encoders, scheduler): no weights
are loaded or copied again, which `derive_pipelines` checks module by module. A class diffusers has
no such pipeline for is logged and the operation left out of the engine's capabilities.

Note: AutoPipeline's `from_pipe` is used on purpose. `DiffusionPipeline.from_pipe` ends with
`.to(dtype)` where the dtype defaults to float32, which would cast the *shared* weights of a
half-precision model to float32 in place.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..base import GenerationJob

log = logging.getLogger("darkroom.engines.diffusers")

DERIVED = {"img2img": "AutoPipelineForImage2Image", "inpaint": "AutoPipelineForInpainting"}


def derive_pipelines(pipe: Any, model: str) -> dict[str, tuple[Any, frozenset[str]]]:
    """{"img2img" / "inpaint": (pipeline sharing `pipe`'s components, its __call__ parameters)} for those
    diffusers can build."""
    derived = {}
    for role in DERIVED:
        other = _derive(pipe, role, model)
        if other is not None:
            derived[role] = (other, frozenset(inspect.signature(other.__call__).parameters))
    return derived


def _derive(pipe: Any, role: str, model: str) -> Any | None:
    import diffusers
    import torch

    try:
        other = getattr(diffusers, DERIVED[role]).from_pipe(pipe)
    except Exception as exc:  # noqa: BLE001 - mostly AutoPipeline's ValueError: no such class for this family
        log.info("model %s: no %s pipeline for %s, so no %s (%s: %s)", model, role, type(pipe).__name__,
                 "masked edits" if role == "inpaint" else "edits or variations", type(exc).__name__, exc)
        return None
    modules = {name: c for name, c in pipe.components.items() if isinstance(c, torch.nn.Module)}
    copied = [name for name, c in modules.items() if name in other.components and other.components[name] is not c]
    if copied:
        log.warning("model %s: the %s pipeline did not share %s with the text-to-image one; leaving it out "
                    "rather than holding those weights twice", model, role, ", ".join(copied))
        return None
    other.set_progress_bar_config(disable=True)
    return other


def source_kwargs(jobs: Sequence[GenerationJob]) -> dict[str, Any]:
    """`image` (RGB: alpha dropped), `strength` and, for masked edits, `mask_image` (white = repaint),
    one entry per image of the batch: one Pillow image per job, repeated for its images."""
    from PIL import Image

    images: list[Any] = []
    masks: list[Any] = []
    for job in jobs:
        source = job.source
        assert source is not None  # edits and variations only
        images += [Image.fromarray(np.ascontiguousarray(source.images[0][..., :3]), "RGB")] * job.n
        if source.repaint is not None:
            repaint = (np.clip(source.repaint, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
            masks += [Image.fromarray(repaint, "L")] * job.n
    kwargs: dict[str, Any] = {"image": images, "strength": jobs[0].source.strength}
    if masks:
        kwargs["mask_image"] = masks
    return kwargs


def edit_steps(steps: int, strength: float) -> int:
    """`num_inference_steps` for an edit or variation of `steps` steps at `strength` (> 0).

    The pipelines build the full schedule of `num_inference_steps` and denoise only its last
    int(steps * strength) steps (SD, SDXL, SD3; FLUX rounds up instead). Where that would be no step
    at all (a 1-step turbo preset at strength 0.6, say) the schedule is made just long enough,
    ceil(1 / strength), for one step to run from that noise level."""
    if int(steps * strength) >= 1:
        return steps
    steps = math.ceil(1 / strength)
    while int(steps * strength) < 1:  # float rounding
        steps += 1
    return steps
