"""What a request costs, priced from its `usage`, with a price table kept as data (`prices.toml`).

    PriceTable.load()                     the packaged table (or a file of the same format)
    table.get(name) -> ModelPrice | None  one model's prices
    cost_usd(price, usage, images=, quality=, size=) -> float | None

Token prices are USD per 1M tokens, per kind as OpenAI publishes them: text input, cached text
input, image input, cached image input, text output, image output. `usage` is priced whenever a
response has one: input text tokens at the text price, input image tokens at the image price, output
image and text tokens at theirs (no `output_tokens_details`: all output tokens are image tokens; no
`input_tokens_details`: all input tokens are text tokens). Cached input tokens are part of those
counts and are priced at the cached price of their kind: split as `cached_tokens_details` says
(`text_tokens`, `image_tokens`, OpenAI's shape elsewhere), else text first and any remainder as image.
A per-image price is used only for a response without `usage` (dall-e models), or for a model that
has no token price at all (`prices = { per_image = 0.002 }` on a local model), by quality (`auto` or
none: the model's default, `medium`, or `standard` for dall-e-3) and size.

A price of $X per 1M tokens is X micro-dollars per token, so costs are summed exactly (as Decimals)
and rounded to the micro-dollar (half-even). `None` means "cannot be priced": no price at all, or
tokens of a kind the model has no price for. Such a cost is unknown, never $0.
"""

from __future__ import annotations

import tomllib
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .config import ConfigError

PRICES_FILE = Path(__file__).with_name("prices.toml")
MICRO = Decimal("0.000001")
Money = float


class ModelPrice(BaseModel):
    """One model's prices (a `[models."NAME"]` table of `prices.toml`, or a model's `prices` setting)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text_input: Money | None = Field(default=None, ge=0)  # USD per 1M tokens
    cached_text_input: Money | None = Field(default=None, ge=0)
    image_input: Money | None = Field(default=None, ge=0)
    cached_image_input: Money | None = Field(default=None, ge=0)
    text_output: Money | None = Field(default=None, ge=0)
    image_output: Money | None = Field(default=None, ge=0)
    # Only for responses without usage (or models with no token price): flat, {size: usd} or {quality: {size: usd}}.
    per_image: Money | dict[str, Money] | dict[str, dict[str, Money]] | None = None

    @property
    def by_tokens(self) -> bool:
        """Whether a response's usage is priced by its tokens (any token price set), not per image."""
        return any(value is not None for name, value in self if name != "per_image")


class PriceTable:
    def __init__(self, prices: dict[str, ModelPrice]) -> None:
        self._prices = prices

    @classmethod
    def load(cls, path: str | Path | None = None) -> PriceTable:
        path = Path(path) if path is not None else PRICES_FILE
        try:
            with path.open("rb") as f:
                data = tomllib.load(f)
            models = data.get("models", {})
            return cls({name: ModelPrice(**entry) for name, entry in models.items()})
        except (OSError, tomllib.TOMLDecodeError, TypeError, AttributeError) as exc:
            raise ConfigError(f"Price table {path} cannot be read: {exc}") from None
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ConfigError(f"Price table {path}: invalid price '{where}': {err['msg']}") from None

    def get(self, name: str) -> ModelPrice | None:
        return self._prices.get(name)

    def __iter__(self):  # noqa: ANN204 - the names
        return iter(self._prices)


def cost_usd(price: ModelPrice | None, usage: dict[str, Any] | None, *, images: int, quality: str | None,
             size: str | None) -> float | None:
    """The cost in USD, to the micro-dollar; None when it cannot be priced (see the module docstring)."""
    if price is None:
        return None
    by_tokens = usage is not None and price.by_tokens
    total = _tokens_cost(price, usage) if by_tokens else _images_cost(price, images, quality, size)
    return None if total is None else float(total.quantize(MICRO, rounding=ROUND_HALF_EVEN))


def _tokens_cost(price: ModelPrice, usage: dict[str, Any]) -> Decimal | None:
    text_in, image_in, cached_text, cached_image = _input_tokens(usage)
    outputs = usage.get("output_tokens_details")
    if outputs:
        image_out, text_out = _count(outputs.get("image_tokens")), _count(outputs.get("text_tokens"))
    else:
        image_out, text_out = _count(usage.get("output_tokens")), 0
    parts = ((text_in - cached_text, price.text_input), (cached_text, price.cached_text_input),
             (image_in - cached_image, price.image_input), (cached_image, price.cached_image_input),
             (image_out, price.image_output), (text_out, price.text_output))
    total = Decimal(0)
    for tokens, per_million in parts:
        if not tokens:
            continue
        if per_million is None:
            return None  # tokens of a kind this model has no price for
        total += Decimal(tokens) * Decimal(str(per_million)) * MICRO
    return total


def _input_tokens(usage: dict[str, Any]) -> tuple[int, int, int, int]:
    """(text, image, cached text, cached image) input tokens; the cached ones are part of the first two."""
    details = usage.get("input_tokens_details") or {}
    image = _count(details.get("image_tokens"))
    if "text_tokens" in details:
        text = _count(details["text_tokens"])
    else:
        text = max(0, _count(usage.get("input_tokens")) - image)
    split = details.get("cached_tokens_details")
    if isinstance(split, dict):
        return text, image, min(text, _count(split.get("text_tokens"))), min(image, _count(split.get("image_tokens")))
    cached = _count(details.get("cached_tokens"))
    return text, image, min(text, cached), min(image, max(0, cached - text))


def _images_cost(price: ModelPrice, images: int, quality: str | None, size: str | None) -> Decimal | None:
    table = price.per_image
    if isinstance(table, dict) and table and isinstance(next(iter(table.values())), dict):
        if quality in (None, "auto"):  # the model's default: gpt-image's medium, dall-e-3's standard
            quality = "medium" if "medium" in table else "standard"
        table = table.get(quality)  # type: ignore[assignment]
    if isinstance(table, dict):
        table = table.get(size or "")  # type: ignore[assignment]
    if table is None or isinstance(table, dict):
        return None
    return Decimal(str(table)) * images


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
