"""OpenAI's per-family request rules: what each model accepts, and what `auto` and absent fields become.

`plan_generation` is the one place a generation request becomes engine parameters. It checks in
the order a reader would (model, prompt, family-only fields, values, size, transparency) and fails
on the first broken rule with a 400 naming the field, before any work starts.

Families (spec section 1, model matrix):
    dall-e-2     n 1-10; sizes 256/512/1024 square; quality standard; url or b64_json
    dall-e-3     n 1; sizes 1024x1024, 1792x1024, 1024x1792; quality standard|hd; style; revised_prompt
    gpt-image    n 1-10; 1024x1024, 1536x1024, 1024x1536, auto; quality low|medium|high|auto;
                 output_format/compression, background, moderation; always b64_json
    gpt-image-2  as gpt-image, plus any WIDTHxHEIGHT: both multiples of 16, long/short <= 3,
                 655,360..8,294,400 pixels, edges <= 3840; transparency off unless the model enables it

A model with `any_size` (diffusers models by default) takes any WIDTHxHEIGHT its engine can make
(multiples of the engine's `size_multiple`, up to the pixel cap) and reads `auto` as the engine's
native size. Darkroom's extensions (`steps`, `guidance_scale`, `negative_prompt`, `scheduler`) are
accepted only by engines that list them in their capabilities.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Literal

from .catalog import Catalog, ModelSpec
from .engines.base import Operation, Quality, SourceImages, Style
from .errors import (
    InvalidRequest,
    MissingParameter,
    UnknownParameter,
    UnsupportedParameter,
)
from .postprocess.keying import KeyColour, choose_key
from .protocol.images import EXTENSIONS, ImageGenerateRequest

DEFAULT_GPT_MODEL = "gpt-image-1"  # used when `model` is absent but a GPT-only field is set
GPT_ONLY_FIELDS = ("output_format", "output_compression", "background", "moderation", "stream", "partial_images")
GPT_PRESETS = ("1024x1024", "1536x1024", "1024x1536")
DALLE_SIZES = {"dall-e-2": ("256x256", "512x512", "1024x1024"), "dall-e-3": ("1024x1024", "1792x1024", "1024x1792")}
DALLE_QUALITIES = {"dall-e-2": ("standard",), "dall-e-3": ("standard", "hd")}
GPT_QUALITIES = ("low", "medium", "high")
CUSTOM_MIN_PIXELS, CUSTOM_MAX_PIXELS, CUSTOM_MAX_EDGE, CUSTOM_MAX_RATIO = 655_360, 8_294_400, 3840, 3

_SIZE = re.compile(r"^([0-9]{1,6})x([0-9]{1,6})$")
# `size=auto` for GPT models: the prompt's own words choose the orientation (documented in docs/api.md).
_LANDSCAPE = re.compile(r"\b(landscape|wide|widescreen|banner|panorama|panoramic|horizontal|header|cover)\b", re.I)
_PORTRAIT = re.compile(r"\b(portrait|vertical|tall|poster)\b", re.I)
# `background=auto`: transparent only when the prompt asks for a cut-out.
_WANTS_ALPHA = re.compile(r"\b(transparent|no|without( a)?)\s+(background|backdrop)\b|\bcut[- ]?out\b", re.I)


@dataclass(frozen=True, slots=True)
class GenerationPlan:
    """A request after every rule: concrete values only, nothing `auto`, nothing absent."""

    spec: ModelSpec
    prompt: str
    width: int
    height: int
    seeds: tuple[int, ...]
    engine_quality: Quality  # what the engine draws at
    quality: Literal["low", "medium", "high"] | None  # echoed to GPT clients; None for dall-e
    response_format: Literal["url", "b64_json"]
    output_format: Literal["png", "jpeg", "webp"]
    output_compression: int | None  # None: the format's default (png has no knob)
    background: Literal["transparent", "opaque"]
    moderation: Literal["auto", "low"]
    style: Style | None
    user: str | None
    steps: int | None = None
    guidance_scale: float | None = None
    negative_prompt: str | None = None
    scheduler: str | None = None
    operation: Operation = "generate"
    source: SourceImages | None = None  # edits and variations: the decoded inputs, at the output size
    input_sizes: tuple[tuple[int, int], ...] = ()  # edits: each input's size as uploaded (for `usage`)
    stream: bool = False
    partial_images: int = 0
    # Transparent on an engine without native alpha: it draws on this colour and the service cuts out.
    key: KeyColour | None = None

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def n(self) -> int:
        return len(self.seeds)


def plan_generation(req: ImageGenerateRequest, catalog: Catalog, prompt_limits: dict[str, int],
                    spec: ModelSpec | None = None) -> GenerationPlan:
    """Apply the model family's rules to a generation request (`spec`: a route's target, instead of
    the model the request names)."""
    # 1. Model: dall-e-2 unless a GPT-only field is used (spec section 1).
    spec = spec or catalog.get(model_name(req))
    # 2. Prompt.
    prompt = check_prompt(req.prompt, prompt_limits[spec.family], spec.name)
    # 3. Fields this family or engine does not take.
    check_family_fields(req, spec)
    check_extensions(req, spec, prompt_limits[spec.family])
    # 4. Values.
    width, height = resolve_size(req.size, spec, prompt)
    engine_quality, echo_quality = resolve_quality(req.quality, spec)
    output_format = req.output_format or "png"
    check_compression(req.output_compression, output_format)
    background = resolve_background(req.background, spec, output_format, prompt)
    n = req.n or 1
    if spec.family == "dall-e-3" and n != 1:
        raise InvalidRequest(f"Invalid 'n': dall-e-3 supports only n=1, but got {n}.", param="n")
    check_stream(req.stream, req.partial_images, spec)
    return GenerationPlan(
        spec=spec,
        prompt=prompt,
        width=width,
        height=height,
        seeds=seeds_for(req.seed, n),
        engine_quality=engine_quality,
        quality=echo_quality,
        response_format=req.response_format or ("b64_json" if spec.is_gpt else "url"),
        output_format=output_format,
        output_compression=req.output_compression,
        background=background,
        moderation=req.moderation or "auto",
        style=(req.style or "vivid") if spec.family == "dall-e-3" else None,
        user=req.user,
        steps=req.steps,
        guidance_scale=req.guidance_scale,
        negative_prompt=req.negative_prompt,
        scheduler=req.scheduler,
        stream=bool(req.stream),
        partial_images=req.partial_images or 0,
        key=key_colour(background, spec, prompt),
    )


def model_name(req: ImageGenerateRequest) -> str:
    """The model a request asks for: its `model`, else OpenAI's default for the fields it uses."""
    if req.model is not None:
        return req.model
    uses_gpt_field = any(getattr(req, name) is not None for name in GPT_ONLY_FIELDS)
    return DEFAULT_GPT_MODEL if uses_gpt_field or req.quality in GPT_QUALITIES else "dall-e-2"


def seeds_for(seed: int | None, n: int) -> tuple[int, ...]:
    """One seed per image: `seed + i` (a random first seed when none was asked for)."""
    first = secrets.randbits(32) if seed is None else seed
    return tuple((first + i) % 2**32 for i in range(n))


def check_stream(stream: bool | None, partial_images: int | None, spec: ModelSpec) -> None:
    """`stream` and `partial_images` (GPT models only; `check_family_fields` has refused them for dall-e)."""
    if partial_images and not stream:
        raise InvalidRequest("'partial_images' is only used together with stream=true.", param="partial_images")
    if partial_images and not spec.engine.capabilities.partial_images:
        raise UnsupportedParameter(
            f"Unsupported parameter: 'partial_images' is not supported by the {spec.engine_name} engine serving "
            f"model '{spec.name}'.", param="partial_images",
        )


def check_prompt(prompt: str | None, limit: int, model: str) -> str:
    if prompt is None:
        raise MissingParameter("Missing required parameter: 'prompt'.", param="prompt")
    if not prompt.strip():
        raise InvalidRequest("Invalid 'prompt': empty string. Expected a non-empty prompt.", param="prompt",
                             code="empty_string")
    if len(prompt) > limit:
        raise InvalidRequest(
            f"Invalid 'prompt': string too long. Expected a string with maximum length {limit} for {model}, "
            f"but got a string with length {len(prompt)} instead.",
            param="prompt", code="string_above_max_length",
        )
    return prompt


def check_family_fields(req: ImageGenerateRequest, spec: ModelSpec) -> None:
    if spec.is_gpt:
        if req.response_format is not None:  # what OpenAI answers for GPT image models
            raise UnknownParameter("Unknown parameter: 'response_format'.", param="response_format")
        unsupported = ["style"]
    else:
        unsupported = [*GPT_ONLY_FIELDS] + (["style"] if spec.family == "dall-e-2" else [])
    for name in unsupported:
        if getattr(req, name, None) is not None:  # edits have no `style`
            raise UnsupportedParameter(
                f"Unsupported parameter: '{name}' is not supported with model '{spec.name}'.", param=name
            )


def check_extensions(req: ImageGenerateRequest, spec: ModelSpec, prompt_limit: int) -> None:
    capabilities = spec.engine.capabilities
    for name in EXTENSIONS:
        if getattr(req, name) is not None and name not in capabilities.extensions:
            raise UnsupportedParameter(
                f"Unsupported parameter: '{name}' is not supported by the {spec.engine_name} engine serving "
                f"model '{spec.name}'.", param=name,
            )
    if req.scheduler is not None and req.scheduler not in capabilities.schedulers:
        supported = ", ".join(f"'{name}'" for name in capabilities.schedulers)
        raise InvalidRequest(
            f"Invalid value: '{req.scheduler}'. Supported schedulers for model '{spec.name}' are: {supported}.",
            param="scheduler",
        )
    if req.negative_prompt is not None and len(req.negative_prompt) > prompt_limit:
        raise InvalidRequest(
            f"Invalid 'negative_prompt': string too long. Expected a string with maximum length {prompt_limit}, "
            f"but got a string with length {len(req.negative_prompt)} instead.",
            param="negative_prompt", code="string_above_max_length",
        )


def resolve_size(size: str | None, spec: ModelSpec, prompt: str) -> tuple[int, int]:
    capabilities = spec.engine.capabilities
    if size is None or size == "auto":
        if spec.any_size:
            size = "{}x{}".format(*capabilities.native_size)
        elif spec.is_gpt:
            size = _auto_size(prompt)
        else:
            size = "1024x1024"  # OpenAI's documented dall-e default
    presets = DALLE_SIZES.get(spec.family, GPT_PRESETS)
    match = _SIZE.match(size)
    custom = spec.any_size or spec.family == "gpt-image-2"
    if size not in presets and not (custom and match):
        allowed = ", ".join(f"'{s}'" for s in (*presets, *(("auto",) if spec.is_gpt or spec.any_size else ())))
        raise InvalidRequest(
            f"Invalid value: '{size}'. Supported values are: {allowed}{' or WIDTHxHEIGHT' if custom else ''}.",
            param="size",
        )
    width, height = int(match.group(1)), int(match.group(2))
    if spec.any_size:
        check_engine_size(width, height, capabilities.size_multiple, spec.name)
    elif spec.family == "gpt-image-2" and size not in presets:
        check_custom_size(width, height)
    if width * height > spec.max_pixels:
        raise InvalidRequest(
            f"Invalid 'size': {size} is {width * height:,} pixels, over the {spec.max_pixels:,} pixels "
            f"that model '{spec.name}' allows on this server.", param="size",
        )
    return width, height


def _auto_size(prompt: str) -> str:
    if _LANDSCAPE.search(prompt):
        return "1536x1024"
    if _PORTRAIT.search(prompt):
        return "1024x1536"
    return "1024x1024"


def check_engine_size(width: int, height: int, multiple: int, model: str) -> None:
    if width < multiple or height < multiple or width % multiple or height % multiple:
        raise InvalidRequest(
            f"Invalid 'size': model '{model}' cannot make {width}x{height}: width and height must be positive "
            f"multiples of {multiple}.", param="size",
        )


def check_custom_size(width: int, height: int) -> None:
    size, pixels = f"{width}x{height}", width * height
    problem = None
    if width % 16 or height % 16:
        problem = "width and height must both be multiples of 16"
    elif max(width, height) > CUSTOM_MAX_EDGE:
        problem = f"the longest edge must be at most {CUSTOM_MAX_EDGE} pixels"
    elif max(width, height) > CUSTOM_MAX_RATIO * min(width, height):
        problem = "the aspect ratio must be between 1:3 and 3:1"
    elif not CUSTOM_MIN_PIXELS <= pixels <= CUSTOM_MAX_PIXELS:
        problem = f"the total must be between {CUSTOM_MIN_PIXELS:,} and {CUSTOM_MAX_PIXELS:,} pixels (got {pixels:,})"
    if problem:
        raise InvalidRequest(f"Invalid 'size': '{size}' is not supported: {problem}.", param="size")


def resolve_quality(quality: str | None, spec: ModelSpec) -> tuple[Quality, Literal["low", "medium", "high"] | None]:
    allowed = GPT_QUALITIES if spec.is_gpt else DALLE_QUALITIES[spec.family]
    if quality is not None and quality != "auto" and quality not in allowed:
        supported = ", ".join(f"'{q}'" for q in (*allowed, "auto"))
        raise InvalidRequest(
            f"Invalid value: '{quality}'. Supported values for model '{spec.name}' are: {supported}.", param="quality"
        )
    if spec.is_gpt:
        resolved = "medium" if quality in (None, "auto") else quality
        return resolved, resolved
    return ("high" if quality == "hd" else "medium"), None


def check_compression(compression: int | None, output_format: str) -> None:
    if compression is not None and output_format == "png":
        raise InvalidRequest(
            "Invalid 'output_compression': compression is only supported for the 'jpeg' and 'webp' output formats.",
            param="output_compression",
        )


def resolve_background(background: str | None, spec: ModelSpec, output_format: str, prompt: str,
                       operation: Operation = "generate") -> Literal["transparent", "opaque"]:
    can = makes_alpha(spec, operation)
    if background == "transparent":
        if output_format == "jpeg":
            raise InvalidRequest("Transparent background is not supported for JPEG output format.", param="background")
        if not spec.transparent_background:
            raise InvalidRequest("Transparent background is not supported for this model.", param="background")
        if not can:
            raise InvalidRequest(
                f"Transparent background is not supported by the '{spec.engine_name}' engine serving '{spec.name}'"
                + (" for edits: it makes cut-outs for generations only." if spec.engine.capabilities.keyed_alpha
                   else "."), param="background",
            )
        return "transparent"
    if background == "auto" or background is None:
        wants = spec.transparent_background and can and output_format != "jpeg"
        return "transparent" if wants and _WANTS_ALPHA.search(prompt) else "opaque"
    return "opaque"


def makes_alpha(spec: ModelSpec, operation: Operation) -> bool:
    """Native alpha, or a generation on an engine that draws on a key colour for the cut-out."""
    capabilities = spec.engine.capabilities
    return capabilities.native_alpha or (capabilities.keyed_alpha and operation == "generate")


def key_colour(background: str, spec: ModelSpec, prompt: str) -> KeyColour | None:
    """The key colour a transparent image is drawn on, when the engine has no alpha of its own."""
    if background != "transparent" or not spec.cuts_out:
        return None
    return choose_key(prompt, spec.transparent_key)
