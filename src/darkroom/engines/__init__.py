"""Engines turn validated jobs into pixels. See `base.py` for the interface.

    sketch/      the built-in procedural illustrator (no weights; not an AI model)
    diffusers/   local models through Hugging Face diffusers (torch imported when a model loads)
    upstream/    an OpenAI-compatible host (OpenAI, Azure OpenAI, another Darkroom): a forwarding
                 engine, which takes the request itself instead of a job (`Engine.forwards`)

`create_engine` is the one place that maps a configured engine name to its class; engine modules
with heavy dependencies are imported only when a model asks for them.
"""

from __future__ import annotations

from typing import Any

from ..config import ConfigError
from .base import Engine

_AVAILABLE = ("sketch", "diffusers", "upstream")


def create_engine(engine: str, options: dict[str, Any], *, model: str, family: str = "gpt-image") -> Engine:
    """Build the engine for one configured model, refusing options the engine does not know."""
    if engine == "sketch":
        from .sketch import SketchEngine

        if options:
            names = ", ".join(sorted(options))
            raise ConfigError(f"Invalid setting 'models.{model}': the sketch engine takes no options (got {names})")
        return SketchEngine()
    if engine == "diffusers":
        from .diffusers import DiffusersEngine  # torch itself is imported by `load`
        from .diffusers.options import check_options

        return DiffusersEngine(model, check_options(model, options))
    if engine == "upstream":
        from .upstream import UpstreamEngine
        from .upstream.options import check_options as check_upstream

        return UpstreamEngine(model, family, check_upstream(model, options))
    raise ConfigError(
        f"Invalid setting 'models.{model}.engine': engine '{engine}' is not available in this version "
        f"(available: {', '.join(_AVAILABLE)})"
    )
