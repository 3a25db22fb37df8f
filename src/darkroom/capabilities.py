"""What one served model accepts, as data: the `capabilities` of its `GET /v1/models` object.

Computed from the same tables and engine facts that the rules enforce (`rules.py`, `edit_rules.py`,
the engine's `Capabilities`), so that a client, such as the playground, can offer exactly what a
request to this model may carry, and cannot drift from what the server refuses. Every list holds
the values a field may take; an empty list means the field is refused for this model (sent at all,
it is a 400). Ranges are inclusive.

    prompt_max_length   the family's prompt limit (the `prompt_limits` setting)
    sizes               the accepted `size` strings (presets under the model's pixel cap, and `auto`)
    custom_sizes        null, or the rule for any other WIDTHxHEIGHT: `multiple`, `min_pixels`,
                        `max_pixels`, `max_edge` and `max_ratio` (null: no such bound)
    qualities, n, response_formats, styles, output_formats, output_compression (the formats that
    take it and its range), backgrounds, transparent_formats, moderation
    stream, partial_images   whether `stream` may be true; the most `partial_images` (0: none)
    edits               null (the model makes no edits), or what an edit takes: `max_images`,
                        `image_formats`, `mask`, `input_fidelity`, `backgrounds`
    variations          null, or `sizes`, `custom_sizes`, `n`, `response_formats`
    extensions          Darkroom's extension fields the engine honours, each with its range or values

A route's capabilities are what every one of its targets accepts (each target is held to its own
rules when the route reaches it, and a client's 400 never moves on to the next target).
"""

from __future__ import annotations

import math
from typing import Any

from .catalog import ModelSpec
from .protocol.images import MAX_GUIDANCE, MAX_N, MAX_PARTIAL_IMAGES, MAX_SEED, MAX_STEPS
from .rules import (
    CUSTOM_MAX_EDGE,
    CUSTOM_MAX_PIXELS,
    CUSTOM_MAX_RATIO,
    CUSTOM_MIN_PIXELS,
    DALLE_QUALITIES,
    DALLE_SIZES,
    GPT_PRESETS,
    GPT_QUALITIES,
    makes_alpha,
)

OUTPUT_FORMATS = ("png", "jpeg", "webp")
LOSSY = ("jpeg", "webp")  # the formats `output_compression` applies to (png is lossless: refused)


def capabilities(spec: ModelSpec, prompt_limit: int) -> dict[str, Any]:
    """The `capabilities` object of one model (see the module docstring for each key)."""
    engine = spec.engine.capabilities
    gpt = spec.is_gpt
    sizes, custom = _sizes(spec)
    return {
        "prompt_max_length": prompt_limit,
        "sizes": sizes,
        "custom_sizes": custom,
        "qualities": [*GPT_QUALITIES, "auto"] if gpt else list(DALLE_QUALITIES[spec.family]),
        "n": {"min": 1, "max": 1 if spec.family == "dall-e-3" else MAX_N},
        "response_formats": [] if gpt else ["url", "b64_json"],
        "styles": ["vivid", "natural"] if spec.family == "dall-e-3" else [],
        "output_formats": list(OUTPUT_FORMATS) if gpt else [],
        "output_compression": {"formats": list(LOSSY), "min": 0, "max": 100} if gpt else None,
        "backgrounds": _backgrounds(spec, "generate"),
        "transparent_formats": ["png", "webp"] if "transparent" in _backgrounds(spec, "generate") else [],
        "moderation": ["auto", "low"] if gpt else [],
        "stream": gpt,
        "partial_images": MAX_PARTIAL_IMAGES if gpt and engine.partial_images else 0,
        "edits": _edits(spec),
        "variations": _variations(spec),
        "extensions": _extensions(spec, prompt_limit),
    }


def route_capabilities(targets: list[dict[str, Any]]) -> dict[str, Any]:
    """What every target of a route accepts: the intersection of their `capabilities`."""
    merged = targets[0]
    for other in targets[1:]:
        merged = _common(merged, other)
    return merged


# ---- the parts ------------------------------------------------------------------------------------


def _sizes(spec: ModelSpec) -> tuple[list[str], dict[str, Any] | None]:
    """The presets the model's pixel cap allows (`auto` where it may be asked), and the custom-size rule."""
    presets = DALLE_SIZES.get(spec.family, GPT_PRESETS)
    sizes = [size for size in presets if _pixels(size) <= spec.max_pixels]
    if spec.is_gpt or spec.any_size:
        sizes.append("auto")
    if spec.any_size:
        multiple = spec.engine.capabilities.size_multiple
        return sizes, {"multiple": multiple, "min_pixels": multiple * multiple, "max_pixels": spec.max_pixels,
                       "max_edge": None, "max_ratio": None}
    if spec.family == "gpt-image-2":
        return sizes, {"multiple": 16, "min_pixels": CUSTOM_MIN_PIXELS,
                       "max_pixels": min(CUSTOM_MAX_PIXELS, spec.max_pixels), "max_edge": CUSTOM_MAX_EDGE,
                       "max_ratio": CUSTOM_MAX_RATIO}
    return sizes, None


def _backgrounds(spec: ModelSpec, operation: str) -> list[str]:
    if not spec.is_gpt:
        return []
    transparent = spec.transparent_background and makes_alpha(spec, operation)  # type: ignore[arg-type]
    return ["auto", "opaque", *(("transparent",) if transparent else ())]


def _edits(spec: ModelSpec) -> dict[str, Any] | None:
    if spec.family == "dall-e-3" or "edit" not in spec.engine.capabilities.operations:
        return None
    dalle = spec.family == "dall-e-2"
    fidelity = spec.is_gpt and not spec.name.startswith("gpt-image-1-mini")
    return {
        "max_images": 1 if dalle else spec.engine.capabilities.max_source_images,
        "image_formats": ["png"] if dalle else list(OUTPUT_FORMATS),
        "square_only": dalle,
        "mask": True,
        "input_fidelity": ["low", "high"] if fidelity else [],
        "backgrounds": _backgrounds(spec, "edit"),
    }


def _variations(spec: ModelSpec) -> dict[str, Any] | None:
    if spec.family != "dall-e-2" or "variation" not in spec.engine.capabilities.operations:
        return None
    sizes, custom = _sizes(spec)
    return {"sizes": [size for size in sizes if size != "auto"], "custom_sizes": custom,
            "n": {"min": 1, "max": MAX_N}, "response_formats": ["url", "b64_json"]}


def _extensions(spec: ModelSpec, prompt_limit: int) -> dict[str, Any]:
    engine = spec.engine.capabilities
    known: dict[str, Any] = {
        "seed": {"min": 0, "max": MAX_SEED},  # every engine (the service hands out the seeds)
        "steps": {"min": 1, "max": MAX_STEPS},
        "guidance_scale": {"min": 0, "max": MAX_GUIDANCE},
        "negative_prompt": {"max_length": prompt_limit},
        "scheduler": {"values": list(engine.schedulers)},
    }
    return {name: rule for name, rule in known.items() if name == "seed" or name in engine.extensions}


def _pixels(size: str) -> int:
    width, height = size.split("x")
    return int(width) * int(height)


# ---- intersections (routes) -----------------------------------------------------------------------

_LOWER_BOUNDS = {"min", "min_pixels"}  # the larger of two lower bounds is the common one
_EITHER = {"square_only"}  # a restriction: if either target has it, the route has it


def _common(a: Any, b: Any, key: str = "") -> Any:
    """What both values allow: lists keep the shared items (in `a`'s order), objects go key by key (a
    key one of them lacks is dropped), null (a thing one of them cannot do) wins, except for the
    bounds of a custom-size rule, where null means unbounded; numbers are upper bounds (the smaller
    wins) unless they are lower bounds or a size multiple."""
    if key in ("max_edge", "max_ratio"):
        return min((v for v in (a, b) if v is not None), default=None)
    if a is None or b is None:
        return None
    if isinstance(a, bool) or isinstance(b, bool):
        return (bool(a) or bool(b)) if key in _EITHER else (bool(a) and bool(b))
    if isinstance(a, list):
        return [item for item in a if item in b]
    if isinstance(a, dict):
        return {name: _common(a[name], b[name], name) for name in a if name in b}
    if key == "multiple":
        return math.lcm(a, b)
    if key in _LOWER_BOUNDS:
        return max(a, b)
    if isinstance(a, (int, float)):
        return min(a, b)
    return a if a == b else None
