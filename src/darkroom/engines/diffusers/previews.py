"""Partial images for the diffusers engine: real intermediate latents, decoded by the pipeline's own VAE.

When a job asks for k partial images (`job.partial_images`), the engine's step callback hands the
latents of chosen steps to `Previews.on_step`, which decodes the rows of the jobs that want one and
calls `job.on_partial(image, index, pixels)` for each of their images.

Which steps: for a run of S denoising steps (what the pipeline really runs: an edit at strength s
runs about S*s), partial p of k is taken after step round(S * (p + 1) / (k + 1)), keeping only steps
strictly before the last one (the last step's latents are the final image) and no step twice. So
S = 8, k = 3 gives steps 2, 4, 6; S = 3, k = 3 gives steps 1, 2 (two partials); S = 2 gives one
(after step 1) whatever k; S = 1 gives none. The base contract allows fewer than asked.

What they look like: the latents as they are at that step, i.e. still noisy early on (grainy, soft,
washed out) and close to the final picture near the end. No denoised estimate is made up.

How they are decoded, the cheapest way that is still the model's own picture: the latents are
shrunk 2x (bilinear), decoded by the pipeline's VAE (honouring its scaling_factor, shift_factor or
latents_mean/std, as the pipelines do), and the decoded picture is enlarged back to the job's full
size, so a partial has the final image's exact shape (height, width, 3), uint8 RGB. Latents smaller
than 16 px on a side are decoded at full size. FLUX's packed latents (batch, tokens, channels) are
unpacked first with the pipeline's own `_unpack_latents`. Half-size decoding costs about a quarter
of a full decode (the VAE decoder's work grows with the pixel count); the engine's module docstring
gives the measured figures.

A failure while decoding or handing over a partial never fails the request: it is logged, and that
call sends no further partials.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..base import GenerationJob

log = logging.getLogger("darkroom.engines.diffusers")

HALF_SIZE_MIN_LATENT = 16  # latents smaller than this on a side are decoded at full size


def preview_steps(total: int, wanted: int) -> frozenset[int]:
    """The steps (counted from 1) after which to take partials: evenly spaced, strictly before the last."""
    steps = (math.floor(total * (p + 1) / (wanted + 1) + 0.5) for p in range(wanted))
    return frozenset(s for s in steps if 1 <= s < total)


def can_preview(pipe: Any, call_params: frozenset[str]) -> bool:
    """Whether a pipeline hands its latents to the step callback and has a VAE to decode them."""
    return ("callback_on_step_end" in call_params and getattr(pipe, "vae", None) is not None
            and "latents" in getattr(pipe, "_callback_tensor_inputs", ()))


class Previews:
    """The partial images of one pipeline call: which rows of the batch, at which steps, how many sent."""

    def __init__(self, jobs: Sequence[GenerationJob], steps: int, *, half_size: bool = True) -> None:
        self.height, self.width = jobs[0].height, jobs[0].width
        self.half_size = half_size
        self.requested_steps = steps  # until the pipeline says how many it really runs
        self.wanted: list[tuple[GenerationJob, int]] = []  # (job, first row in the batch)
        row = 0
        for job in jobs:
            if job.partial_images > 0 and job.on_partial is not None:
                self.wanted.append((job, row))
            row += job.n
        self.sent: dict[int, int] = {id(job): 0 for job, _ in self.wanted}
        self._plan: list[frozenset[int]] | None = None
        self.broken = False

    def __bool__(self) -> bool:
        return bool(self.wanted)

    def on_step(self, pipe: Any, done: int, latents: Any) -> None:
        """Called after each step with the count of steps done and the batch's latents."""
        if self.broken:
            return
        if self._plan is None:  # the pipeline sets num_timesteps before its loop: the steps it really runs
            total = int(getattr(pipe, "_num_timesteps", None) or self.requested_steps)
            self._plan = [preview_steps(total, job.partial_images) for job, _ in self.wanted]
        now = [(job, row) for (job, row), steps in zip(self.wanted, self._plan) if done in steps]
        if not now:
            return
        try:
            self._send(pipe, latents, now)
        except Exception:  # a preview must never fail the request
            self.broken = True
            log.warning("partial image after step %d could not be made; sending no more for this call", done,
                        exc_info=True)

    def _send(self, pipe: Any, latents: Any, now: list[tuple[GenerationJob, int]]) -> None:
        import torch

        rows = [row + i for job, row in now for i in range(job.n)]
        index = torch.tensor(rows, device=latents.device)
        pixels = decode_latents(pipe, latents.index_select(0, index), self.height, self.width,
                                half_size=self.half_size)
        at = 0
        for job, _ in now:
            partial = self.sent[id(job)]
            for i in range(job.n):
                job.on_partial(i, partial, pixels[at])
                at += 1
            self.sent[id(job)] = partial + 1


def decode_latents(pipe: Any, latents: Any, height: int, width: int, *, half_size: bool = True) -> list[np.ndarray]:
    """Decode a batch of intermediate latents with the pipeline's VAE: one (height, width, 3) uint8 array each."""
    import torch
    import torch.nn.functional as F

    vae = pipe.vae
    with torch.inference_mode():
        if latents.ndim == 3 and hasattr(pipe, "_unpack_latents"):  # FLUX: (batch, tokens, channels)
            latents = pipe._unpack_latents(latents, height, width, pipe.vae_scale_factor)
        if latents.ndim != 4:
            raise ValueError(f"cannot decode latents shaped {tuple(latents.shape)} from {type(pipe).__name__}")
        if half_size and min(latents.shape[-2:]) >= HALF_SIZE_MIN_LATENT:
            latents = F.interpolate(latents, size=(latents.shape[-2] // 2, latents.shape[-1] // 2),
                                    mode="bilinear", align_corners=False)
        upcast = vae.dtype == torch.float16 and getattr(vae.config, "force_upcast", False)
        if upcast:  # as the SDXL pipelines do: this VAE overflows in float16
            vae.to(torch.float32)
        try:
            image = vae.decode(_unscale(vae.config, latents.to(vae.dtype)), return_dict=False)[0]
        finally:
            if upcast:
                vae.to(torch.float16)
        if image.shape[-2:] != (height, width):
            image = F.interpolate(image.float(), size=(height, width), mode="bilinear", align_corners=False)
        image = ((image.float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
        return list(image.permute(0, 2, 3, 1).contiguous().cpu().numpy())


def _unscale(config: Any, latents: Any) -> Any:
    """Undo the VAE's latent scaling exactly as the pipelines do before `vae.decode`."""
    import torch

    scaling = getattr(config, "scaling_factor", 1.0) or 1.0
    mean, std = getattr(config, "latents_mean", None), getattr(config, "latents_std", None)
    if mean is not None and std is not None:  # SDXL-style VAEs that declare them
        shape = (1, len(mean), 1, 1)
        mean = torch.tensor(mean, device=latents.device, dtype=latents.dtype).view(shape)
        std = torch.tensor(std, device=latents.device, dtype=latents.dtype).view(shape)
        return latents * std / scaling + mean
    return latents / scaling + (getattr(config, "shift_factor", None) or 0.0)
