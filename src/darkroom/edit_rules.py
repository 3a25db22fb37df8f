"""OpenAI's rules for edits and variations (spec section 2), on top of the generation rules in `rules.py`.

`plan_edit` and `plan_variation` turn a request and its uploaded files into the same
`GenerationPlan` a generation gets, with the decoded inputs attached. They decode images (CPU
work): the service runs them in a thread. Every check runs before any engine work.

Edits
    model        default gpt-image-1.5; dall-e-2 and the GPT families; not dall-e-3
    image        1-16 files for GPT models (png, jpeg or webp, each under `max_upload_file_bytes`);
                 dall-e-2: exactly one square PNG under 4 MB. Formats are read from the bytes.
    mask         a PNG with an alpha channel, the size of the first image, under 4 MB; transparent
                 pixels mark the area to repaint (they apply to the first image). Without a mask,
                 dall-e-2 repaints where the image itself is transparent, as OpenAI documents; GPT
                 models edit the whole image.
    size         as for generations; `auto` (and absent, for GPT models) follows the first image:
                 the preset closest to its shape, its own size for gpt-image-2 and `any_size` models
                 where the rules allow it. Inputs are scaled to cover the size and centre-cropped.
    input_fidelity  high | low (default low), not for dall-e-2 or gpt-image-1-mini: how much of the
                 input survives, as the engine's strength (`EDIT_STRENGTH`, `INPAINT_STRENGTH`).
Variations
    dall-e-2 rules only: one square PNG under 4 MB, n 1-10, size 256/512/1024 (default 1024x1024),
    response_format (default url); the engine works at `VARIATION_STRENGTH`.
"""

from __future__ import annotations

import numpy as np

from .catalog import Catalog, ModelSpec
from .engines.base import Operation, SourceImages
from .errors import InvalidRequest, PayloadTooLarge, UnsupportedParameter
from .postprocess.sources import fit, load_image, repaint_area
from .protocol.edits import ImageEditRequest, ImageVariationRequest, Upload, Uploads
from .rules import (
    CUSTOM_MAX_EDGE,
    CUSTOM_MAX_PIXELS,
    CUSTOM_MIN_PIXELS,
    GPT_PRESETS,
    GenerationPlan,
    check_compression,
    check_extensions,
    check_family_fields,
    check_prompt,
    check_stream,
    resolve_background,
    resolve_quality,
    resolve_size,
    seeds_for,
)

DEFAULT_EDIT_MODEL = "gpt-image-1.5"
DALLE_MAX_FILE_BYTES = 4 * 2**20  # dall-e-2 images and every mask
# Engine strength (0 keeps the input, 1 ignores it) per input_fidelity, without and with a mask.
EDIT_STRENGTH = {"low": 0.8, "high": 0.5}
INPAINT_STRENGTH = {"low": 1.0, "high": 0.85}
VARIATION_STRENGTH = 0.6


def plan_edit(req: ImageEditRequest, uploads: Uploads, catalog: Catalog, prompt_limits: dict[str, int],
              max_input_pixels: int, spec: ModelSpec | None = None) -> GenerationPlan:
    # 1. Model (`spec`: a route's target) and prompt.
    spec = spec or catalog.get(req.model or DEFAULT_EDIT_MODEL)
    if spec.family == "dall-e-3":
        raise InvalidRequest(f"Invalid value: '{spec.name}'. Image edits support dall-e-2 and GPT image models.",
                             param="model")
    _check_operation(spec, "edit")
    prompt = check_prompt(req.prompt, prompt_limits[spec.family], spec.name)
    # 2. Fields this family or engine does not take.
    check_family_fields(req, spec)  # type: ignore[arg-type] - the same field names as a generation
    check_extensions(req, spec, prompt_limits[spec.family])  # type: ignore[arg-type]
    if req.input_fidelity is not None and (not spec.is_gpt or spec.name.startswith("gpt-image-1-mini")):
        raise UnsupportedParameter(
            f"Unsupported parameter: 'input_fidelity' is not supported with model '{spec.name}'.",
            param="input_fidelity")
    # 3. The inputs, decoded (formats from their bytes, pixel caps from their headers).
    images = _load_images(uploads.images, spec, max_input_pixels)
    mask = _load_mask(uploads.mask, images[0], max_input_pixels) if uploads.mask else None
    if mask is None and spec.family == "dall-e-2" and images[0].shape[2] == 4 and (images[0][..., 3] < 255).any():
        mask = images[0]  # dall-e-2 without a mask: the image's own transparency marks the area
    # 4. Values.
    width, height = _edit_size(req.size, spec, images[0], prompt)
    engine_quality, echo_quality = resolve_quality(req.quality, spec)
    output_format = req.output_format or "png"
    check_compression(req.output_compression, output_format)
    background = resolve_background(req.background, spec, output_format, prompt, "edit")
    check_stream(req.stream, req.partial_images, spec)
    fidelity = req.input_fidelity or "low"
    source = SourceImages(
        images=tuple(fit(image, width, height) for image in images),
        repaint=repaint_area(fit(mask, width, height)) if mask is not None else None,
        strength=(INPAINT_STRENGTH if mask is not None else EDIT_STRENGTH)[fidelity],
    )
    return GenerationPlan(
        spec=spec, prompt=prompt, width=width, height=height, seeds=seeds_for(req.seed, req.n or 1),
        engine_quality=engine_quality, quality=echo_quality,
        response_format=req.response_format or ("b64_json" if spec.is_gpt else "url"),
        output_format=output_format, output_compression=req.output_compression, background=background,
        moderation=req.moderation or "auto", style=None, user=req.user, steps=req.steps,
        guidance_scale=req.guidance_scale, negative_prompt=req.negative_prompt, scheduler=req.scheduler,
        operation="edit", source=source, input_sizes=tuple((i.shape[1], i.shape[0]) for i in images),
        stream=bool(req.stream), partial_images=req.partial_images or 0,
    )


def plan_variation(req: ImageVariationRequest, uploads: Uploads, catalog: Catalog,
                   max_input_pixels: int, spec: ModelSpec | None = None) -> GenerationPlan:
    spec = spec or catalog.get(req.model or "dall-e-2")
    if spec.family != "dall-e-2":
        raise InvalidRequest(f"Invalid value: '{spec.name}'. Image variations support only dall-e-2 models.",
                             param="model")
    _check_operation(spec, "variation")
    if len(uploads.images) != 1:
        raise InvalidRequest(f"Invalid 'image': expected exactly one image, but got {len(uploads.images)}.",
                             param="image")
    image = _load_images(uploads.images, spec, max_input_pixels)[0]
    width, height = resolve_size(req.size, spec, "")
    source = SourceImages(images=(fit(image, width, height),), strength=VARIATION_STRENGTH)
    return GenerationPlan(
        spec=spec, prompt="", width=width, height=height, seeds=seeds_for(req.seed, req.n or 1),
        engine_quality="medium", quality=None, response_format=req.response_format or "url",
        output_format="png", output_compression=None, background="opaque", moderation="auto", style=None,
        user=req.user, operation="variation", source=source,
    )


def _check_operation(spec: ModelSpec, operation: Operation) -> None:
    if operation not in spec.engine.capabilities.operations:
        raise InvalidRequest(
            f"Model '{spec.name}' is served by the {spec.engine_name} engine, which cannot make image "
            f"{operation}s.", param="model", code="unsupported_value")


# ---- inputs -----------------------------------------------------------------------------------


def _load_images(uploads: list[Upload], spec: ModelSpec, max_pixels: int) -> list[np.ndarray]:
    if not uploads:
        raise InvalidRequest("Missing required parameter: 'image'.", param="image", code="missing_required_parameter")
    dalle = spec.family == "dall-e-2"
    limit = 1 if dalle else spec.engine.capabilities.max_source_images
    if len(uploads) > limit:
        raise InvalidRequest(
            f"Invalid 'image': model '{spec.name}' takes at most {limit} input image{'s' if limit > 1 else ''}, "
            f"but got {len(uploads)}.", param="image")
    images = []
    for upload in uploads:
        if dalle:
            _check_file_size(upload)
        image = load_image(upload.data, upload.param, max_pixels=max_pixels,
                           formats=("png",) if dalle else ("png", "jpeg", "webp"))
        if dalle and image.shape[0] != image.shape[1]:
            raise InvalidRequest(
                f"Invalid '{upload.param}': dall-e-2 needs a square image, but got "
                f"{image.shape[1]}x{image.shape[0]}.", param=upload.param)
        images.append(image)
    return images


def _load_mask(upload: Upload, first: np.ndarray, max_pixels: int) -> np.ndarray:
    _check_file_size(upload)
    mask = load_image(upload.data, "mask", max_pixels=max_pixels, formats=("png",))
    if mask.shape[:2] != first.shape[:2]:
        raise InvalidRequest(
            f"Invalid 'mask': the mask must have the same dimensions as the image ({first.shape[1]}x{first.shape[0]}), "
            f"but it is {mask.shape[1]}x{mask.shape[0]}.", param="mask")
    repaint_area(mask)  # refuses a mask without alpha, before any other work
    return mask


def _check_file_size(upload: Upload) -> None:
    if len(upload.data) > DALLE_MAX_FILE_BYTES:
        raise PayloadTooLarge(
            f"Invalid '{upload.param}': the file is {len(upload.data) / 2**20:.1f} MB; the limit is 4 MB.",
            param=upload.param)


def _edit_size(size: str | None, spec: ModelSpec, first: np.ndarray, prompt: str) -> tuple[int, int]:
    if (size is not None and size != "auto") or (not spec.is_gpt and not spec.any_size):
        return resolve_size(size, spec, prompt)
    height, width = first.shape[:2]
    if spec.any_size:
        return _engine_size(width, height, spec)
    if spec.family == "gpt-image-2":
        own = _gpt2_size(width, height)
        if own is not None and own[0] * own[1] <= spec.max_pixels:
            return own
    return _closest_preset(width, height)


def _closest_preset(width: int, height: int) -> tuple[int, int]:
    presets = [tuple(int(v) for v in preset.split("x")) for preset in GPT_PRESETS]
    return min(presets, key=lambda p: abs(np.log(p[0] / p[1]) - np.log(width / height)))


def _gpt2_size(width: int, height: int) -> tuple[int, int] | None:
    """The input's own size rounded to multiples of 16, if gpt-image-2 allows it."""
    scale = min(1.0, CUSTOM_MAX_EDGE / max(width, height), (CUSTOM_MAX_PIXELS / (width * height)) ** 0.5)
    w, h = int(width * scale) // 16 * 16, int(height * scale) // 16 * 16
    if w and h and max(w, h) <= 3 * min(w, h) and w * h >= CUSTOM_MIN_PIXELS:
        return w, h
    return None


def _engine_size(width: int, height: int, spec: ModelSpec) -> tuple[int, int]:
    """The input's own size for `any_size` models, scaled under the pixel cap, in the engine's multiples."""
    multiple = spec.engine.capabilities.size_multiple
    scale = min(1.0, (spec.max_pixels / (width * height)) ** 0.5)
    return (max(multiple, int(width * scale) // multiple * multiple),
            max(multiple, int(height * scale) // multiple * multiple))

