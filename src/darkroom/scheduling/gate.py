"""The admission of a forwarding engine's calls (the upstream engine): what `EngineWorker` is to local
engines, without a queue of jobs or threads, since the work happens elsewhere.

    async with gate.slot() as waited:     at most `max_concurrency` calls in flight; up to `max_queue`
        ...                                more wait for a slot; beyond that, 503 server_overloaded
                                           (`no_work`: a route may try its next target)

It keeps the same `WorkerFigures` as a worker (queue depth, calls, rejections, waits, call times), so
`/health`, `/metrics` and the routes' least-busy strategy read both alike (`load`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from ..engines.base import Engine
from ..errors import ServiceUnavailable
from .figures import WorkerFigures

RETRY_AFTER_SECONDS = 2


class ForwardingGate:
    def __init__(self, engine: Engine, max_concurrency: int, max_queue: int, name: str) -> None:
        self.engine = engine
        self.name = name
        self.max_queue = max_queue
        self.figures = WorkerFigures()
        self._slots = asyncio.Semaphore(max_concurrency)
        self._waiting = 0
        self._running = 0

    def start(self) -> None:
        """Nothing runs in the background (the worker's interface)."""

    async def stop(self) -> None:
        """Nothing to stop: calls in flight end with their requests."""

    @property
    def load(self) -> int:
        """Calls waiting plus calls in flight."""
        return self._waiting + self._running

    @property
    def busy(self) -> bool:
        return self.load > 0

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Hold one of the engine's call slots; yields the seconds waited for it."""
        if self._slots.locked() and self._waiting >= self.max_queue:
            self.figures.rejected += 1
            refused = ServiceUnavailable(
                f"The server is busy: {self._waiting} requests are already waiting for this model's upstream. "
                "Retry shortly.", code="server_overloaded", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
            refused.no_work = True
            raise refused
        queued = time.monotonic()
        self._waiting += 1
        self.figures.queue_depth = self._waiting
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
            self.figures.queue_depth = self._waiting
        started = time.monotonic()
        self.figures.queue_wait.add(started - queued)
        self.figures.engine_calls += 1
        self._running += 1
        try:
            yield started - queued
        finally:
            self._running -= 1
            self._slots.release()
            self.figures.engine_seconds.add(time.monotonic() - started)
