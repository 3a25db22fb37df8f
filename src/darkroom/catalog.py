"""Served model names -> ModelSpec: which engine draws for a name and which family's rules apply.

The default catalog serves every OpenAI image model name with the built-in sketch engine, so code
written for OpenAI runs unmodified; `[[models]]` entries in the config file add names or replace
defaults (same name: the file wins). An entry with `targets` is a `Route`: a name that stands for
other served models, tried in the order its strategy picks (`routing.py`).

Each model has its prices (`pricing.py`): its own `prices`, else, for upstream models, the price
table's entry for the name sent upstream; local models cost nothing unless priced.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

from .config import ConfigError, Family, ModelConfig, Settings
from .engines import create_engine
from .engines.base import Engine
from .errors import InvalidRequest
from .pricing import ModelPrice, PriceTable
from .scheduling.worker import WorkerSettings

log = logging.getLogger("darkroom.catalog")
FREE = ModelPrice(text_input=0, cached_text_input=0, image_input=0, cached_image_input=0, text_output=0,
                  image_output=0, per_image=0)

# OpenAI's image model names and the family rules each follows (spec section 1, model matrix).
OPENAI_MODELS: dict[str, Family] = {
    "dall-e-2": "dall-e-2",
    "dall-e-3": "dall-e-3",
    "gpt-image-1": "gpt-image",
    "gpt-image-1-mini": "gpt-image",
    "gpt-image-1.5": "gpt-image",
    "chatgpt-image-latest": "gpt-image",
    "gpt-image-2": "gpt-image-2",
    "gpt-image-2-2026-04-21": "gpt-image-2",
}
SKETCH_DESCRIPTION = (
    "Darkroom sketch: a deterministic procedural illustrator (flat shapes and palettes drawn from the "
    "prompt). It is not an AI model; it serves this name so the whole API works offline."
)
_FAMILY_TRANSPARENCY = {"dall-e-2": False, "dall-e-3": False, "gpt-image": True, "gpt-image-2": False}


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """Everything the service needs to know about one served model name."""

    name: str
    family: Family
    engine: Engine
    engine_name: str
    transparent_background: bool  # may `background=transparent` be asked of this model?
    # For engines without native alpha: the key colour its cut-outs are drawn on ("auto": per prompt).
    transparent_key: str
    max_pixels: int  # the smallest of the engine's cap, the server's `max_pixels` and the model's own
    any_size: bool  # sizes follow the engine (multiples of its size_multiple), not the family's list
    scheduling: WorkerSettings  # queue and batching of this model's engine worker
    description: str
    created: int
    price: ModelPrice | None = None  # None: no price known (its costs are unknown, never $0)
    breaker: tuple[int, float] = (5, 30.0)  # as a route's target: failures in a row, cooldown seconds

    @property
    def moderated(self) -> bool:
        """Does Darkroom moderate this model's requests itself? (Upstream models: only if configured.)"""
        return self.engine.local_moderation

    @property
    def is_gpt(self) -> bool:
        return self.family.startswith("gpt-image")

    @property
    def cuts_out(self) -> bool:
        """Are this model's transparent images cut out of a key colour (an engine without alpha of its own)?"""
        capabilities = self.engine.capabilities
        return self.transparent_background and capabilities.keyed_alpha and not capabilities.native_alpha


@dataclass(frozen=True, slots=True)
class Route:
    """A served name that stands for other served models (`targets`), tried by `strategy`."""

    name: str
    family: Family
    targets: tuple[str, ...]
    strategy: str  # fallback | round-robin | least-busy
    description: str
    created: int


class Catalog:
    """The served models and routes, looked up by the name clients pass as `model`."""

    def __init__(self, specs: dict[str, ModelSpec], routes: dict[str, Route] | None = None) -> None:
        self._specs = specs
        self.routes = routes or {}

    def get(self, name: str) -> ModelSpec:
        """The spec for `name`, or OpenAI's 400 for an unknown model."""
        try:
            return self._specs[name]
        except KeyError:
            supported = ", ".join(f"'{n}'" for n in self.names())
            raise InvalidRequest(f"Invalid value: '{name}'. Supported values are: {supported}.", param="model") from None

    def find(self, name: str) -> ModelSpec | None:
        return self._specs.get(name)

    def route(self, name: str) -> Route | None:
        return self.routes.get(name)

    def names(self) -> list[str]:
        """Every name clients may ask for: models and routes."""
        return [*self._specs, *self.routes]

    def served(self, name: str) -> bool:
        return name in self._specs or name in self.routes

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._specs.values())

    def engines(self) -> list[Engine]:
        """Each distinct engine instance once (several names may share one)."""
        return list({id(spec.engine): spec.engine for spec in self}.values())


def build_catalog(settings: Settings, prices: PriceTable | None = None) -> Catalog:
    """The default catalog plus the models and routes of the config file. Raises ConfigError on a bad entry."""
    created = int(time.time())
    prices = prices or PriceTable.load()
    shared_sketch = create_engine("sketch", {}, model="sketch")
    defaults = {name: ModelConfig(name=name, family=family, description=SKETCH_DESCRIPTION)
                for name, family in OPENAI_MODELS.items()}
    configured = {config.name: config for config in settings.models}
    specs, routes = {}, {}
    for config in {**defaults, **configured}.values():
        if config.is_route:
            routes[config.name] = _route(config, created)
            continue
        if config.name in configured:  # its own engine instance, so its own worker and settings
            engine = create_engine(config.engine, config.engine_options, model=config.name, family=config.family)
        else:
            engine = shared_sketch
        specs[config.name] = _spec(config, engine, created, settings.max_pixels, _price(config, engine, prices))
    for route in routes.values():
        for target in route.targets:
            if target not in specs:
                what = "another route" if target in routes else "not a served model"
                raise ConfigError(f"Invalid setting 'models.{route.name}.targets': '{target}' is {what}; a route's "
                                  "targets are served models (local or upstream)")
    return Catalog(specs, routes)


def _route(config: ModelConfig, created: int) -> Route:
    assert config.targets is not None
    if len(set(config.targets)) != len(config.targets):
        raise ConfigError(f"Invalid setting 'models.{config.name}.targets': a target is named twice")
    return Route(config.name, config.family, tuple(config.targets), config.strategy,
                 config.description or f"Routes to {', '.join(config.targets)} ({config.strategy}).", created)


def _price(config: ModelConfig, engine: Engine, table: PriceTable) -> ModelPrice | None:
    """A model's prices: its own, or a named entry of the table; upstream models default to the table's
    entry for the name they send upstream; local models to nothing at all ($0)."""
    if isinstance(config.prices, ModelPrice):
        return config.prices
    if isinstance(config.prices, str):
        price = table.get(config.prices)
        if price is None:
            raise ConfigError(f"Invalid setting 'models.{config.name}.prices': '{config.prices}' is not in the price "
                              "table")
        return price
    if not engine.forwards:
        return FREE
    upstream = getattr(engine, "upstream_model", config.name)
    price = table.get(upstream) or table.get(config.name)
    if price is None:
        log.warning("model %s (upstream %s) has no price: its costs are recorded as unknown; set `prices` for it",
                    config.name, upstream)
    return price


def _spec(config: ModelConfig, engine: Engine, created: int, server_cap: int,
          price: ModelPrice | None = FREE) -> ModelSpec:
    transparent = config.transparent_background
    if transparent is None:
        transparent = _FAMILY_TRANSPARENCY[config.family]
    cap = min(engine.capabilities.max_pixels, server_cap)
    return ModelSpec(
        name=config.name,
        family=config.family,
        engine=engine,
        engine_name=config.engine,
        transparent_background=transparent and config.family.startswith("gpt-image"),
        transparent_key=config.transparent_key,
        max_pixels=min(cap, config.max_pixels or cap),
        any_size=config.any_size if config.any_size is not None else config.engine == "diffusers",
        scheduling=WorkerSettings(
            max_queue=config.max_queue, batch_window_ms=config.batch_window_ms,
            stuck_after_seconds=config.stuck_after_seconds,
            max_batch_images=config.max_batch_images or min(4, engine.capabilities.max_batch),
        ),
        description=config.description or (SKETCH_DESCRIPTION if config.engine == "sketch" else ""),
        created=created,
        price=price,
        breaker=(config.breaker_failures, config.breaker_cooldown_seconds),
    )
