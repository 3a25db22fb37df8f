"""Engines turn validated jobs into pixels. See `base.py` for the interface.

`create_engine` is the one place that maps a configured engine name to its class; engine modules
with heavy dependencies are imported only when a model asks for them.
"""

from __future__ import annotations

from typing import Any

from ..config import ConfigError
from .base import Engine

_AVAILABLE = ("sketch", "diffusers")


def create_engine(engine: str, options: dict[str, Any], *, model: str) -> Engine:
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
    raise ConfigError(
        f"Invalid setting 'models.{model}.engine': engine '{engine}' is not available in this version "
        f"(available: {', '.join(_AVAILABLE)})"
    )
