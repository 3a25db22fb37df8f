"""The diffusers engine: any Hugging Face diffusers text-to-image pipeline behind the Image API.

Needs the extra `pip install 'darkroom[diffusers]'`; torch and diffusers are imported only when a
model is configured with `engine = "diffusers"`. One engine instance owns one set of weights.

How the API's parameters reach the pipeline (docs/models.md documents the same):
    size      -> height, width; `auto` is the pipeline's native size. A size must be a multiple of
                 the pipeline's VAE scale (x2 for FLUX's packed latents, x patch size for SD3);
                 the rules refuse others with a 400 before any work.
    quality   -> a preset of (steps, guidance_scale) chosen per pipeline family, overridable per
                 model with `presets = { low = { steps = 4 }, ... }`:
                     turbo-like (path names turbo, schnell, lightning, hyper or lcm): 1 / 2 / 4 steps, guidance 0
                     SD 1.x/2.x 15 / 30 / 50, guidance 7.5     SDXL 15 / 30 / 50, guidance 5
                     SD3        14 / 28 / 40, guidance 7       FLUX 14 / 28 / 50, guidance 3.5
    n         -> one batched call with one CPU torch.Generator per image seeded `seed + i`, so image
                 i is reproducible on its own from its seed. Jobs of several requests with the same
                 `batch_key` (size, steps, guidance, scheduler, operation; for edits and variations
                 also strength and whether masked) share one call the same way: each image keeps its
                 own prompt, negative prompt, seed and, for edits, source image and mask.
    steps, guidance_scale, negative_prompt, scheduler (Darkroom extensions) -> the pipeline's own
                 arguments; a scheduler is built from the pipeline's scheduler config and used for
                 that call only. FLUX takes no negative prompt here (it would need true CFG).

Edits and variations (`edits.py`) run the image-to-image and inpainting pipelines diffusers
has for the loaded class, built at load over the same components (no second copy of the weights);
an operation whose pipeline cannot be built is logged and left out of `capabilities.operations`.
    edit, no mask   -> image-to-image: `image` = the first input (alpha dropped), `strength`, and the
                       prompt, negative prompt, guidance, steps and scheduler exactly as a generation.
    edit with mask  -> inpainting: also `mask_image`, white where `repaint` is 1 (binarised at 0.5 by
                       the pipeline). A model with no inpainting pipeline refuses it (400, param mask).
    variation       -> image-to-image with the job's prompt (usually "").
    strength        -> `job.source.strength`. The pipeline denoises only the last int(steps x strength)
                       steps of a `steps`-step schedule (FLUX: rounded up), so an edit costs about
                       strength x a generation; `x-darkroom-steps` reports the steps that ran. Where
                       steps x strength < 1 the schedule is lengthened so that one step runs; at
                       strength 0 the source's pixels come back without running the pipeline.

Partial images (`previews.py`): when a job asks for k of them, the latents after k evenly
spaced steps strictly before the last (round(S*(p+1)/(k+1)) of the S steps that run; fewer when S
is small: S = 2 gives one, S = 1 none) are decoded by the pipeline's own VAE at half size (latents
shrunk 2x, FLUX's unpacked first) and enlarged to the job's size. They are real intermediate states:
noisy and soft early on, near the final picture late. They leave the final image unchanged. Cost
(`python -m bench partials`, tiny SD test pipeline, 256x256, 8 steps, CPU): 3 partials add about 10%
to the engine call (a full-size decode would add 35-40%) and 14% end to end with encoding and sending
them. A real model's denoiser is far heavier than its VAE, so the share there is smaller; with `cpu_offload = "model"`
each partial moves the VAE in (and the denoiser out) once more.

Pipelines are not thread-safe: calls are serialised (the engine's worker runs one call at a time in
a thread of its own, and a lock guards the pipelines). The step callback counts the steps run, takes
the partial images, and stops the call early when every job of the batch has been cancelled.
Failures are translated here, at the boundary, for every operation alike: out of memory (torch's
OutOfMemoryError on a GPU, its CPU allocator's "can't allocate memory", Python's MemoryError) -> 503 with
Retry-After (the cache is emptied and the model keeps serving); the pipeline's own ValueError -> 400
with its message; anything else -> the service's sanitised 500. A partial image that cannot be made
is logged and never fails the request.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import re
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InvalidRequest, ServiceUnavailable
from ...postprocess.keying import steering
from ..base import (
    Capabilities,
    Engine,
    EngineCancelled,
    Generation,
    GenerationJob,
    Operation,
)
from .edits import derive_pipelines, edit_steps, source_kwargs
from .options import (
    FAMILY_PRESETS,
    FLOW_SCHEDULERS,
    SCHEDULERS,
    TURBO_NAMES,
    DiffusersOptions,
    Preset,
    preset_family,
)
from .previews import Previews, can_preview

log = logging.getLogger("darkroom.engines.diffusers")

OOM_RETRY_AFTER_SECONDS = 10
# What torch's CPU allocator raises (a plain RuntimeError) when host memory runs out.
_HOST_OOM = re.compile(r"DefaultCPUAllocator: (?:can't allocate memory|not enough memory)")


class DiffusersEngine(Engine):
    name = "diffusers"
    loads_slowly = True

    def __init__(self, model: str, options: DiffusersOptions) -> None:
        self.model = model
        self.options = options
        self.capabilities = Capabilities(native_alpha=False, keyed_alpha=True, max_pixels=3840 * 2160, max_batch=16,
                                         concurrency=1)
        self._lock = threading.Lock()
        self._pipe: Any = None
        self._torch: Any = None
        self._schedulers: dict[str, Any] = {}
        self._presets: dict[str, Preset] = {}
        self._call_params: frozenset[str] = frozenset()
        # "img2img" / "inpaint" -> (pipeline over the same components, its __call__ parameters)
        self._derived: dict[str, tuple[Any, frozenset[str]]] = {}

    # ---- loading ---------------------------------------------------------------------------------

    def load(self) -> None:
        import diffusers
        import torch

        diffusers.utils.logging.disable_progress_bar()
        self._torch = torch
        source = str(Path(self.options.path).expanduser()) if Path(self.options.path).expanduser().exists() \
            else self.options.path
        device = self._device(torch)
        dtype = self._dtype(torch, device)
        offline = self.options.local_files_only or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        try:
            pipe = self._from_pretrained(diffusers, source, dtype, offline)
        except Exception as exc:
            raise RuntimeError(f"cannot load the pipeline from {source}: {type(exc).__name__}: {exc}") from exc
        self._place(pipe, device)
        self.device = device
        pipe.set_progress_bar_config(disable=True)
        self._pipe = pipe
        self._call_params = frozenset(inspect.signature(pipe.__call__).parameters)
        self._derived = derive_pipelines(pipe, self.model)
        family = self._family(pipe)
        self._presets = self._resolve_presets(family)
        self.capabilities = self._capabilities(pipe, family)
        log.info("model %s: %s from %s on %s (%s), family %s, native %dx%d, edits with %s", self.model,
                 type(pipe).__name__, source, device, str(dtype).removeprefix("torch."), family,
                 *self.capabilities.native_size,
                 ", ".join(type(p).__name__ for p, _ in self._derived.values()) or "nothing (none can be built)")
        if self.options.warmup:
            self._warm_up()

    def _from_pretrained(self, diffusers: Any, source: str, dtype: Any, offline: bool) -> Any:
        kwargs = {"dtype": dtype, "local_files_only": offline}
        try:
            return diffusers.AutoPipelineForText2Image.from_pretrained(source, **kwargs)
        except ValueError as exc:
            if "AutoPipeline" not in str(exc):
                raise
            return diffusers.DiffusionPipeline.from_pretrained(source, **kwargs)  # a pipeline AutoPipeline lacks

    def _device(self, torch: Any) -> str:
        if self.options.device != "auto":
            return self.options.device
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"

    def _dtype(self, torch: Any, device: str) -> Any:
        if self.options.dtype != "auto":
            return getattr(torch, self.options.dtype)
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float16 if device == "mps" else torch.float32

    def _place(self, pipe: Any, device: str) -> None:
        opts = self.options
        if opts.cpu_offload == "model":
            pipe.enable_model_cpu_offload(device=device)
        elif opts.cpu_offload == "sequential":
            pipe.enable_sequential_cpu_offload(device=device)
        else:
            pipe.to(device)
        if opts.vae_tiling:
            pipe.vae.enable_tiling()
        if opts.vae_slicing:
            pipe.vae.enable_slicing()
        denoiser = _denoiser(pipe)
        if opts.channels_last:  # convolutional parts only: a transformer (FLUX, SD3) has no 4-D weights to reorder
            import torch

            for module in (denoiser, getattr(pipe, "vae", None)):
                if module is not None and any(p.dim() == 4 for p in module.parameters()):
                    module.to(memory_format=torch.channels_last)
        if opts.attention_backend:
            denoiser.set_attention_backend(opts.attention_backend)
        if opts.compile:
            denoiser.compile()

    def _family(self, pipe: Any) -> str:
        turbo = self.options.turbo if self.options.turbo is not None else bool(TURBO_NAMES.search(self.options.path))
        return preset_family(type(pipe).__name__, turbo)

    def _resolve_presets(self, family: str) -> dict[str, Preset]:
        steps, guidance = FAMILY_PRESETS[family]
        presets = {q: Preset(steps=s, guidance_scale=guidance) for q, s in zip(("low", "medium", "high"), steps)}
        for quality, preset in self.options.presets.items():
            guidance_q = preset.guidance_scale if preset.guidance_scale is not None else guidance
            presets[quality] = Preset(steps=preset.steps, guidance_scale=guidance_q)
        return presets

    def _capabilities(self, pipe: Any, family: str) -> Capabilities:
        scale = int(getattr(pipe, "vae_scale_factor", 8))
        patch = int(getattr(_denoiser(pipe).config, "patch_size", 1) or 1)
        multiple = scale * (2 if family == "flux" or "Flux" in type(pipe).__name__ else patch)
        if self.options.native_size:
            width, height = (int(v) for v in self.options.native_size.split("x"))
        else:
            sample = getattr(pipe, "default_sample_size", None) or _denoiser(pipe).config.sample_size
            sample = sample[0] if isinstance(sample, (list, tuple)) else sample
            width = height = int(sample) * scale
        extensions = {"steps", "scheduler"}
        if "guidance_scale" in self._call_params:
            extensions.add("guidance_scale")
        if "negative_prompt" in self._call_params and "true_cfg_scale" not in self._call_params:
            extensions.add("negative_prompt")
        flow = type(pipe.scheduler).__name__.startswith("FlowMatch")
        operations: set[Operation] = {"generate", "edit", "variation"} if "img2img" in self._derived else {"generate"}
        return Capabilities(
            native_alpha=False, keyed_alpha=True, max_pixels=3840 * 2160, max_batch=16, size_multiple=multiple,
            native_size=(width, height), extensions=frozenset(extensions),
            schedulers=tuple(FLOW_SCHEDULERS if flow else SCHEDULERS), concurrency=1,
            operations=frozenset(operations), max_source_images=1,
            partial_images=can_preview(pipe, self._call_params),
        )

    def _warm_up(self) -> None:
        side = self.capabilities.size_multiple * 8
        job = GenerationJob(prompt="warm-up", width=side, height=side, quality="low", seeds=(0,), steps=1)
        self.generate(job)

    # ---- generating ------------------------------------------------------------------------------

    def _settings(self, job: GenerationJob) -> tuple[int, float | None]:
        """(steps, guidance_scale) for a job: its extensions, else its quality's preset."""
        preset = self._presets[job.quality]
        steps = job.steps if job.steps is not None else preset.steps
        guidance = job.guidance_scale if job.guidance_scale is not None else preset.guidance_scale
        return steps, guidance

    def batch_key(self, job: GenerationJob) -> Hashable:
        """Jobs that can share one call: same size, steps, guidance, scheduler and operation; edits and
        variations also the same strength and both masked or both not. Each image carries its own source
        image (and mask) into the call, so edits of different requests batch like generations do."""
        key = (job.width, job.height, *self._settings(job), job.scheduler, job.operation)
        if job.source is None:
            return key
        return (*key, job.source.strength, job.source.repaint is not None)

    def generate(self, job: GenerationJob) -> Generation:
        return self.generate_batch([job])[0]

    def generate_batch(self, jobs: Sequence[GenerationJob],
                       should_stop: Callable[[], bool] = lambda: False) -> list[Generation]:
        """One pipeline call for jobs of one `batch_key`: a prompt, negative prompt, generator (and for
        edits a source image and mask) per image."""
        torch, first = self._torch, jobs[0]
        pipe, params = self._pipeline_for(first)
        steps, guidance = self._settings(first)
        if first.source is not None:
            if first.source.strength <= 0:
                return self._unchanged(jobs)
            steps = edit_steps(steps, first.source.strength)
        previews = Previews(jobs, steps) if can_preview(pipe, params) else None  # else none: fewer is allowed
        done = [0]

        def on_step(running: Any, step: int, timestep: Any, tensors: dict) -> dict:
            done[0] += 1
            if should_stop():
                raise EngineCancelled(done[0])
            if previews:
                previews.on_step(running, done[0], tensors["latents"])
            return tensors

        kwargs = self._kwargs(jobs, steps, guidance, params)
        kwargs["callback_on_step_end"] = on_step
        if previews:
            kwargs["callback_on_step_end_tensor_inputs"] = ["latents"]
        with self._lock, self._scheduler(pipe, first.scheduler) as scheduler_name, torch.inference_mode():
            output = self._call(pipe, kwargs)
        pixels = _to_uint8(output.images)
        info: dict[str, str | int | float] = {"steps": done[0], "scheduler": scheduler_name, "batch": len(pixels)}
        if "guidance_scale" in kwargs:
            info["guidance_scale"] = kwargs["guidance_scale"]
        if "strength" in kwargs:
            info["strength"] = kwargs["strength"]
        return _split(jobs, pixels, info)

    def _pipeline_for(self, job: GenerationJob) -> tuple[Any, frozenset[str]]:
        """The pipeline for a job's operation: text-to-image, image-to-image, or inpainting for a masked edit."""
        if job.operation == "generate":
            return self._pipe, self._call_params
        if job.source is None:
            raise ValueError(f"a {job.operation} job needs `source`")
        role = "inpaint" if job.operation == "edit" and job.source.repaint is not None else "img2img"
        if role in self._derived:
            return self._derived[role]
        cls = type(self._pipe).__name__
        if role == "inpaint":
            raise InvalidRequest(f"Model '{self.model}' cannot edit with a mask: diffusers has no inpainting "
                                 f"pipeline for {cls}. Send the edit without a mask.", param="mask")
        raise InvalidRequest(f"Model '{self.model}' cannot make {job.operation}s: diffusers has no "
                             f"image-to-image pipeline for {cls}.")

    def _kwargs(self, jobs: Sequence[GenerationJob], steps: int, guidance: float | None,
                params: frozenset[str]) -> dict[str, Any]:
        """The pipeline's arguments, one entry per image in every list."""
        torch, first = self._torch, jobs[0]
        kwargs: dict[str, Any] = {
            "prompt": [_steered(job.prompt, job, 0) for job in jobs for _ in job.seeds], "height": first.height,
            "width": first.width, "num_inference_steps": steps, "num_images_per_prompt": 1, "output_type": "np",
            "generator": [torch.Generator("cpu").manual_seed(seed) for job in jobs for seed in job.seeds],
        }
        if guidance is not None and "guidance_scale" in params:
            kwargs["guidance_scale"] = guidance
        if any(job.negative_prompt is not None for job in jobs) and "negative_prompt" not in params:
            raise InvalidRequest(f"Model '{self.model}' takes no negative prompt for {first.operation}s.",
                                 param="negative_prompt")
        if any(job.negative_prompt is not None or job.key is not None for job in jobs) and "negative_prompt" in params:
            # "" is what the pipelines use for none
            kwargs["negative_prompt"] = [_steered(job.negative_prompt or "", job, 1) for job in jobs for _ in job.seeds]
        if first.source is not None:
            kwargs.update(source_kwargs(jobs))
        return kwargs

    def _unchanged(self, jobs: Sequence[GenerationJob]) -> list[Generation]:
        """Strength 0 keeps the source: its RGB pixels, without running the pipeline (and so no partials)."""
        scheduler = jobs[0].scheduler or _scheduler_name(self._pipe.scheduler)
        pixels = [job.source.images[0][..., :3].copy() for job in jobs for _ in job.seeds]  # never the caller's
        return _split(jobs, pixels, {"steps": 0, "scheduler": scheduler, "batch": len(pixels), "strength": 0.0})

    def _call(self, pipe: Any, kwargs: dict[str, Any]) -> Any:
        torch = self._torch
        try:
            return pipe(**kwargs)
        except (torch.OutOfMemoryError, MemoryError, RuntimeError) as exc:
            if not isinstance(exc, (torch.OutOfMemoryError, MemoryError)) and not _HOST_OOM.search(str(exc)):
                raise  # another RuntimeError: the service's sanitised 500
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            log.warning("model %s ran out of memory at %sx%s, %d images", self.model, kwargs["width"],
                        kwargs["height"], len(kwargs["prompt"]))
            raise ServiceUnavailable(
                f"Model '{self.model}' ran out of memory for this request; try fewer images or a smaller size, "
                "or retry shortly.", code="out_of_memory", headers={"Retry-After": str(OOM_RETRY_AFTER_SECONDS)},
            ) from None
        except ValueError as exc:  # the pipeline's own input checks
            message = str(exc)
            param = "size" if re.search(r"\b(height|width)\b", message) else None
            raise InvalidRequest(f"Model '{self.model}' refused the request: {message}", param=param) from None

    @contextlib.contextmanager
    def _scheduler(self, pipe: Any, name: str | None) -> Iterator[str]:
        """Use the named scheduler on `pipe` for one call, built once from the pipeline's own config."""
        default = pipe.scheduler
        if name is None:
            yield _scheduler_name(default)
            return
        if name not in self._schedulers:
            import diffusers

            cls_name, extra = {**SCHEDULERS, **FLOW_SCHEDULERS}[name]
            self._schedulers[name] = getattr(diffusers, cls_name).from_config(default.config, **extra)
        pipe.scheduler = self._schedulers[name]
        try:
            yield name
        finally:
            pipe.scheduler = default

    def close(self) -> None:
        self._pipe = None


def _split(jobs: Sequence[GenerationJob], pixels: list[np.ndarray], info: dict[str, str | int | float]) \
        -> list[Generation]:
    """One Generation per job, from the batch's images in job order."""
    results, start = [], 0
    for job in jobs:
        results.append(Generation(pixels[start:start + job.n], info))
        start += job.n
    return results


def _to_uint8(images: np.ndarray) -> list[np.ndarray]:
    """The pipeline's float images in [0, 1] as C-contiguous uint8 arrays, converted in place (the
    float array is the pipeline's own and dropped afterwards): no extra float copy per image."""
    if not images.flags.writeable:
        images = images.copy()
    np.clip(images, 0.0, 1.0, out=images)
    images *= 255.0
    images += 0.5
    return list(images.astype(np.uint8, order="C"))


def _scheduler_name(scheduler: Any) -> str:
    """Our short name for a pipeline's own scheduler where it is one of the list, else its class name."""
    cls = type(scheduler).__name__
    karras = bool(getattr(scheduler.config, "use_karras_sigmas", False))
    for name, (cls_name, extra) in {**SCHEDULERS, **FLOW_SCHEDULERS}.items():
        if cls_name == cls and bool(extra.get("use_karras_sigmas", False)) == karras:
            return name
    return cls


def _denoiser(pipe: Any) -> Any:
    return getattr(pipe, "transformer", None) or pipe.unet


def _steered(text: str, job: GenerationJob, part: int) -> str:
    """The prompt (part 0) or negative prompt (part 1), steered to a flat key-colour backdrop when the
    job's transparent image is to be cut out of one (`job.key`)."""
    if job.key is None:
        return text
    addition = steering(job.key)[part]
    return f"{text}{addition}" if text else addition.lstrip(", ")
