"""The engine interface: what the service asks of every engine, and what an engine declares it can do.

An engine turns one `GenerationJob` into pixel arrays. It knows nothing about HTTP, encodings or
OpenAI's request rules: the service resolves those first and hands over plain, validated values.

    engine.load()                 once at start (may be slow: weights, compilation, warm-up)
    engine.generate(job)          blocking; the service calls it from a worker thread
    engine.close()                once at shutdown

`generate` returns one uint8 array per seed in `job.seeds`, shaped (height, width, 3) for RGB, or
(height, width, 4) for RGBA when `job.transparent` is true (the engine must then declare
`native_alpha`; the service refuses transparency before calling an engine that cannot make it).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Literal

import numpy as np

Quality = Literal["low", "medium", "high"]
Style = Literal["vivid", "natural"]


@dataclass(frozen=True, slots=True)
class GenerationJob:
    """One request's worth of work, already validated and resolved (no `auto` left)."""

    prompt: str
    width: int
    height: int
    quality: Quality
    seeds: tuple[int, ...]  # one per image; image i of a request is reproducible from seeds[i] alone
    transparent: bool = False  # RGBA output with a transparent backdrop
    style: Style | None = None  # dall-e-3's `style`: vivid (saturated, dramatic) or natural (muted)

    @property
    def n(self) -> int:
        return len(self.seeds)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an engine can do natively; the service refuses anything beyond it with a 400."""

    native_alpha: bool
    max_pixels: int
    max_batch: int = 1


class Engine(abc.ABC):
    """Base class of every engine. Subclasses set `name` and `capabilities`."""

    name: str
    capabilities: Capabilities

    def load(self) -> None:  # noqa: B027 - optional hook
        """Prepare for work (load weights, warm up). Called once before the first `generate`."""

    @abc.abstractmethod
    def generate(self, job: GenerationJob) -> list[np.ndarray]:
        """Render `job`: one uint8 array per seed, (H, W, 3) or (H, W, 4) when `job.transparent`."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources. Called once at shutdown."""
