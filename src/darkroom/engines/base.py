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

Edits and variations are jobs too: `job.operation` says which, and `job.source` carries the input
images (already decoded and resized to the job's size) and, for edits, the area to repaint. The
service pastes the unmasked pixels of the first input back over an edit's output afterwards, so an
engine may repaint the whole frame. Engines declare the operations they take in `capabilities`.

Streaming: when `job.partial_images` > 0 the engine calls `job.on_partial(image, index, pixels)`
from its thread with up to that many intermediate pictures per image (index 0, 1, ... in order),
taken from real intermediate states of the work, never made up afterwards. It may send fewer (a
run too short to have that many states).

Forwarding engines (`forwards = True`: the upstream engine) take no jobs: the service checks the
request against its model's rules, then hands the request itself to the engine, which passes the
upstream's encoded images and usage through (`engines/upstream/`). Their `capabilities` still tell
the rules what the model takes.

An engine may raise Darkroom's own errors (`errors.py`) for failures a client should see as such
(out of memory: 503; a value the model cannot take: 400); anything else becomes a sanitised 500.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..postprocess.keying import KeyColour

Quality = Literal["low", "medium", "high"]
Style = Literal["vivid", "natural"]
Operation = Literal["generate", "edit", "variation"]
# Called from the engine's thread: (image index within the job, partial index, uint8 pixels shaped as
# the final image). It must return quickly; the service only hands the pixels over to the event loop.
PartialCallback = Callable[[int, int, np.ndarray], None]


@dataclass(frozen=True, slots=True, eq=False)
class SourceImages:
    """The inputs of an edit or a variation, decoded and resized to the job's width and height."""

    images: tuple[np.ndarray, ...]  # uint8, (height, width, 3) or (height, width, 4); images[0] is edited
    # Edits only: float32 (height, width) in [0, 1], 1 where the mask was transparent (repaint), 0 where
    # it was opaque (keep). None: no mask, the whole image may change (following the prompt).
    repaint: np.ndarray | None = None
    # How far the output may move from images[0]: 0 keeps it, 1 ignores it. Edits map
    # `input_fidelity` to it, variations use a fixed value (`rules`; docs/api.md lists the numbers).
    strength: float = 0.6


@dataclass(frozen=True, slots=True, eq=False)
class GenerationJob:
    """One request's worth of work, already validated and resolved (no `auto` left)."""

    prompt: str
    width: int
    height: int
    quality: Quality
    seeds: tuple[int, ...]  # one per image; image i of a request is reproducible from seeds[i] alone
    transparent: bool = False  # RGBA output with a transparent backdrop
    key: KeyColour | None = None  # draw the subject on this flat colour (see Capabilities.keyed_alpha)
    style: Style | None = None  # dall-e-3's `style`: vivid (saturated, dramatic) or natural (muted)
    # Darkroom extensions; None: the engine's preset for `quality`. Only engines that list them in
    # `Capabilities.extensions` ever receive them.
    steps: int | None = None
    guidance_scale: float | None = None
    negative_prompt: str | None = None
    scheduler: str | None = None
    operation: Operation = "generate"
    source: SourceImages | None = None  # edits and variations only
    partial_images: int = 0  # 0-3 intermediate pictures per image, through `on_partial`
    on_partial: PartialCallback | None = None

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
    operations: frozenset[Operation] = frozenset({"generate"})  # which jobs it takes
    max_source_images: int = 1  # input images an edit may carry
    partial_images: bool = False  # can send intermediate pictures (`job.on_partial`)
    # Without native alpha: draws the subject on a flat key colour when asked (`job.key`), so that the
    # service can cut it out (postprocess/matting.py) for `background=transparent` generations.
    keyed_alpha: bool = False
    # A procedural engine's own drawings score at most this on moderation's nudity detector (measured
    # over its whole range: tests/moderation/test_nudity.py). Below a threshold that could block, the
    # service does not run the detector on its generations (inputs, and outputs made from them, are
    # always checked). None: no such bound, every output is checked.
    detector_ceiling: float | None = None


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
    device: str = "cpu"  # where it computes once loaded: cpu, cuda, cuda:N, mps (moderation follows CUDA)
    forwards: bool = False  # True: takes requests, not jobs (engines/upstream/); `generate` is never called
    local_moderation: bool = True  # False: its provider moderates (Darkroom's own checks are skipped)

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
