"""The engine interface: what the service asks of every engine, and what an engine declares it can do.

An engine turns one `GenerationJob` into pixel arrays. It knows nothing about HTTP, encodings or
OpenAI's request rules: the service resolves those first and hands over plain, validated values.

    engine.load()                 once at start (may be slow: weights, compilation, warm-up)
    engine.capabilities           what it can do; complete once `load` has returned
    engine.generate(job)          blocking; called from a worker thread, never the event loop
    engine.batch_key(job)         jobs with equal keys may share one call (None: never batched)
    engine.generate_batch(jobs, should_stop)
                                  one call for jobs of one key; stops early (EngineCancelled) when
                                  `should_stop()` turns true between steps
    engine.close()                once at shutdown

`generate` returns a `Generation`: one uint8 array per seed in `job.seeds`, shaped (height, width, 3)
for RGB, or (height, width, 4) for RGBA when `job.transparent` is true (the engine must then declare
`native_alpha`; the service refuses transparency before calling an engine that cannot make it), plus
a few facts about the run (steps, scheduler...) that the API reports in `x-darkroom-*` headers.

An engine may raise Darkroom's own errors (`errors.py`) for failures a client should see as such
(out of memory: 503; a value the model cannot take: 400); anything else becomes a sanitised 500.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
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
    # Darkroom extensions; None: the engine's preset for `quality`. Only engines that list them in
    # `Capabilities.extensions` ever receive them.
    steps: int | None = None
    guidance_scale: float | None = None
    negative_prompt: str | None = None
    scheduler: str | None = None

    @property
    def n(self) -> int:
        return len(self.seeds)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an engine can do natively; the service refuses anything beyond it with a 400."""

    native_alpha: bool
    max_pixels: int
    max_batch: int = 1
    size_multiple: int = 1  # width and height must be multiples of this (e.g. the VAE scale)
    native_size: tuple[int, int] = (1024, 1024)  # what `size=auto` means when the engine chooses
    extensions: frozenset[str] = frozenset()  # Darkroom request extensions it honours (steps, ...)
    schedulers: tuple[str, ...] = ()  # names the `scheduler` extension may take
    concurrency: int = 1  # engine calls that may run at once (1 for anything not thread-safe)


@dataclass(frozen=True, slots=True)
class Generation:
    """What `generate` returns: the images, and facts about the run for `x-darkroom-*` headers."""

    images: list[np.ndarray]
    info: dict[str, str | int | float] = field(default_factory=dict)


class EngineCancelled(Exception):
    """Raised by `generate_batch` when `should_stop()` turned true: every job's client has gone."""

    def __init__(self, steps_done: int | str = "?") -> None:
        super().__init__(f"stopped early after {steps_done} steps")
        self.steps_done = steps_done


class Engine(abc.ABC):
    """Base class of every engine. Subclasses set `name` and `capabilities`."""

    name: str
    capabilities: Capabilities
    loads_slowly: bool = False  # True: loaded in the background while the server already answers

    def load(self) -> None:  # noqa: B027 - optional hook
        """Prepare for work (load weights, warm up). Called once before the first `generate`."""

    @abc.abstractmethod
    def generate(self, job: GenerationJob) -> Generation:
        """Render `job`: one uint8 array per seed, (H, W, 3) or (H, W, 4) when `job.transparent`."""

    def batch_key(self, job: GenerationJob) -> Hashable | None:
        """Jobs with the same key can share one `generate_batch` call; None (the default): never."""
        return None

    def generate_batch(self, jobs: Sequence[GenerationJob],
                       should_stop: Callable[[], bool] = lambda: False) -> list[Generation]:
        """One Generation per job. The default runs them one by one, checking `should_stop` between."""
        results = []
        for job in jobs:
            if should_stop():
                raise EngineCancelled(len(results))
            results.append(self.generate(job))
        return results

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources. Called once at shutdown."""
