"""A test engine whose pace the test decides, for the scheduler tests.

`GatedEngine` records every `generate_batch` call (its jobs, in order, and how many of its steps
ran), runs a fixed number of fake steps checking `should_stop` between them, and stops at step
`pause_at` until its `gate` lets the call through: `gate.open()` lets every call pass from then on,
`gate.release(k)` lets exactly k more calls pass. While a call waits at the gate it keeps asking
`should_stop`, as a real engine does between denoising steps, so a batch whose clients are all
gone stops there without the test opening anything.

Each image is one solid colour derived from (prompt, seed) (`colour`), so a test can tell which
job an image belongs to. Prompts listed in `invalid_prompts` make the whole call raise
InvalidRequest (a 400: the worker then retries job by job); prompts in `failing_prompts` make it
raise RuntimeError (every job of the batch gets it). With `stoppable=False` the engine never asks
`should_stop` (like an engine whose steps cannot be interrupted): a held call then outlives its
clients, which keeps the engine busy while a test lets queued jobs expire.

Every wait here is bounded: a gate nobody opens fails the call after `gate_timeout` seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

from darkroom.engines.base import (
    Capabilities,
    Engine,
    EngineCancelled,
    Generation,
    GenerationJob,
)
from darkroom.errors import InvalidRequest

DEFAULT_STEPS = 8
SIZE = 64  # pixels; a multiple of the engine's size_multiple (8)


def colour(prompt: str, seed: int) -> tuple[int, int, int]:
    """The solid colour of the image the engine draws for (prompt, seed)."""
    digest = hashlib.sha256(f"{prompt}\x00{seed}".encode()).digest()
    return digest[0], digest[1], digest[2]


def job(prompt: str, *, n: int = 1, seed: int = 1000, size: tuple[int, int] = (SIZE, SIZE),
        steps: int | None = None) -> GenerationJob:
    """A validated job as the service would build it."""
    width, height = size
    return GenerationJob(prompt=prompt, width=width, height=height, quality="low",
                         seeds=tuple(seed + i for i in range(n)), steps=steps)


class GateTimeout(RuntimeError):
    """The test never let a call through: fails the call instead of hanging the suite."""


class Gate:
    """Decides when engine calls proceed: closed at first; `open()` for all, `release(k)` for k calls."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._open = False
        self._permits = 0

    def open(self) -> None:
        with self._cond:
            self._open = True
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._open = False

    def release(self, calls: int = 1) -> None:
        with self._cond:
            self._permits += calls
            self._cond.notify_all()

    def pass_through(self, should_stop: Callable[[], bool], timeout: float) -> bool:
        """Wait to be let through (True), or until `should_stop()` turns true (False)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._open:
                    return True
                if self._permits:
                    self._permits -= 1
                    return True
                if should_stop():
                    return False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise GateTimeout(f"the gate stayed closed for {timeout} s")
                self._cond.wait(min(0.005, remaining))  # wake up to ask should_stop again


@dataclass
class Call:
    """One `generate_batch` call as the engine saw it."""

    jobs: list[GenerationJob]
    steps_asked: int
    steps_run: int = 0
    outcome: str = "running"  # running, done, stopped (EngineCancelled), invalid, failed
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def prompts(self) -> list[str]:
        return [j.prompt for j in self.jobs]


class GatedEngine(Engine):
    name = "gated"

    def __init__(self, *, max_batch: int = 8, concurrency: int = 1, steps: int = DEFAULT_STEPS,
                 pause_at: int = 0, invalid_prompts: Sequence[str] = (), failing_prompts: Sequence[str] = (),
                 stoppable: bool = True, gate_timeout: float = 15.0) -> None:
        self.capabilities = Capabilities(
            native_alpha=False, max_pixels=1024 * 1024, max_batch=max_batch, size_multiple=8,
            native_size=(SIZE, SIZE), extensions=frozenset({"steps"}), concurrency=concurrency,
        )
        self.steps = steps
        self.pause_at = pause_at  # the step at which each call waits for the gate
        self.invalid_prompts = set(invalid_prompts)
        self.failing_prompts = set(failing_prompts)
        self.stoppable = stoppable
        self.gate_timeout = gate_timeout
        self.gate = Gate()
        self.calls: list[Call] = []
        self.active = 0  # calls running now
        self.max_active = 0  # the most calls that ever ran at once
        self._cond = threading.Condition()

    # ---- what the worker calls ----------------------------------------------------------------

    def batch_key(self, job: GenerationJob) -> Hashable | None:
        return (job.width, job.height)

    def generate(self, job: GenerationJob) -> Generation:
        return self.generate_batch([job])[0]

    def generate_batch(self, jobs: Sequence[GenerationJob],
                       should_stop: Callable[[], bool] = lambda: False) -> list[Generation]:
        steps = max(j.steps or self.steps for j in jobs)
        if not self.stoppable:
            should_stop = _never
        call = Call(list(jobs), steps)
        with self._cond:
            self.calls.append(call)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self._cond.notify_all()
        try:
            if any(j.prompt in self.invalid_prompts for j in jobs):
                call.outcome = "invalid"
                raise InvalidRequest("Invalid value: this engine cannot draw that prompt.", param="prompt")
            if any(j.prompt in self.failing_prompts for j in jobs):
                call.outcome = "failed"
                raise RuntimeError("the engine fell over")
            for step in range(steps):
                if should_stop() or (step == self.pause_at and not self.gate.pass_through(should_stop,
                                                                                          self.gate_timeout)):
                    call.outcome = "stopped"
                    raise EngineCancelled(step)
                call.steps_run = step + 1
            call.outcome = "done"
            return [Generation([solid(j, seed) for seed in j.seeds], info={"batch_jobs": len(jobs)}) for j in jobs]
        finally:
            with self._cond:
                self.active -= 1
                call.finished.set()
                self._cond.notify_all()

    # ---- what the tests use -----------------------------------------------------------------------

    def wait_calls(self, count: int, timeout: float = 10.0) -> list[Call]:
        """Block until at least `count` calls have started; the calls so far."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.calls) >= count, timeout):
                raise AssertionError(f"expected {count} engine calls within {timeout} s, saw {self.prompts()}")
            return list(self.calls)

    async def started(self, count: int, timeout: float = 10.0) -> list[Call]:
        """`wait_calls` for coroutines (the wait runs in a thread; the event loop keeps going)."""
        return await asyncio.to_thread(self.wait_calls, count, timeout)

    def prompts(self) -> list[list[str]]:
        """The prompts of every call so far, call by call."""
        with self._cond:
            return [call.prompts for call in self.calls]


def _never() -> bool:
    return False


def solid(job: GenerationJob, seed: int) -> np.ndarray:
    image = np.empty((job.height, job.width, 3), np.uint8)
    image[:, :] = colour(job.prompt, seed)
    return image
