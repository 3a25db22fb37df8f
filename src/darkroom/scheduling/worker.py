"""One worker per engine instance: a bounded FIFO queue, cross-request batching, cancellation.

    submit(job) -> Ticket          refused at once (503 server_overloaded + Retry-After) when full
    await ticket.result()          the job's Generation; cancelling the awaiting task cancels the job

The worker's loop takes the oldest job, then gathers compatible jobs (same `engine.batch_key`)
from the queue, oldest first, for up to `batch_window_ms`, until the batch holds `max_batch_images`
images, and hands the batch to the engine in a thread of its own (engine calls never run on the
event loop). Up to `capabilities.concurrency` batches run at once (1 for diffusers pipelines, which
are not thread-safe; the cores for sketch). Jobs that are not compatible with the batch being
formed keep their place in the queue.

Cancellation: a job whose client went away (or whose deadline passed) leaves the queue and never
runs; if it is running, its result is discarded, and when every job of a batch is gone the engine
is asked to stop at its next step (`should_stop`). Failures: if a batch of several jobs fails
with a 400-type error, each job is retried alone so that only the job at fault fails; any other
error reaches every job of the batch.

A stuck engine: an engine call that is still running `stuck_after_seconds` after every one of its
jobs was gone (its clients left or got their 504, and it did not stop at a step as asked: a hung
kernel, a deadlock, a step that never ends) holds its slot. A thread cannot be killed, so when every
slot is held so, the worker says so instead of letting requests wait out their deadlines behind it:
it logs a warning, `/health` reports the worker `stuck` (status `degraded`, 503, so that an
orchestrator can restart the process), and new and queued jobs get 503 `engine_stuck` at once
(`no_work`: a route tries its next target). When the call returns after all, the worker recovers.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..engines.base import Engine, EngineCancelled, Generation, GenerationJob
from ..errors import InvalidRequest, ServerError, ServiceUnavailable
from .figures import WorkerFigures

log = logging.getLogger("darkroom.scheduling")
_NOT_RUN = EngineCancelled(0)  # the result of a job that was not rerun alone because its client had left
RETRY_AFTER_MIN, RETRY_AFTER_MAX = 1, 60  # seconds; the Node SDK honours at most 60
STOP_WAIT_SECONDS = 10.0  # at shutdown, how long running engine calls get to notice they should stop
WATCH_SECONDS = 0.5  # how often a running engine call is checked for being stuck


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    max_queue: int = 64  # jobs waiting (not counting those running)
    max_batch_images: int = 4  # images per engine call; 1 turns batching off
    batch_window_ms: float = 0.0  # how long to wait for more compatible jobs once one is taken
    stuck_after_seconds: float = 120.0  # a call running this long after all its jobs left is stuck


@dataclass(eq=False)
class Ticket:
    """A queued job and the future its request awaits."""

    job: GenerationJob
    key: Hashable
    future: asyncio.Future[Generation]
    enqueued: float = field(default_factory=time.monotonic)
    started: float | None = None
    cancelled: bool = False
    gone_at: float | None = None  # when it was cancelled (monotonic)

    async def result(self) -> Generation:
        try:
            return await asyncio.shield(self.future)
        except asyncio.CancelledError:
            self.cancelled = True  # the worker drops it from the queue, or discards its result
            self.gone_at = time.monotonic()
            raise


class EngineWorker:
    def __init__(self, engine: Engine, settings: WorkerSettings, name: str) -> None:
        self.engine = engine
        self.settings = settings
        self.name = name
        self.figures = WorkerFigures()
        self._queue: collections.deque[Ticket] = collections.deque()
        self._arrived = asyncio.Event()
        self._slots = max(1, engine.capabilities.concurrency)
        self._running = 0  # batches in the engine now
        self._running_jobs = 0  # jobs in those batches
        self._threads = ThreadPoolExecutor(max_workers=self._slots, thread_name_prefix=f"darkroom-{name}")
        self._finished: collections.deque[float] = collections.deque(maxlen=64)  # completion times
        self._loop_task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._stuck: set[int] = set()  # ids of the batches whose engine calls are stuck

    # ---- the request side ---------------------------------------------------------------------

    def submit(self, job: GenerationJob) -> Ticket:
        """Queue `job`, or refuse it at once when the queue is full."""
        if self.stuck:
            raise self._stuck_error()
        live = self._live()
        if live >= self.settings.max_queue:
            self.figures.rejected += 1
            refused = ServiceUnavailable(
                f"The server is busy: {live} requests are already queued for this model's engine. Retry shortly.",
                code="server_overloaded", headers={"Retry-After": str(self.retry_after())},
            )
            refused.no_work = True  # nothing ran: a route may try its next target
            raise refused
        ticket = Ticket(job, self.engine.batch_key(job), asyncio.get_running_loop().create_future())
        self._queue.append(ticket)
        self.figures.queue_depth = live + 1
        self._arrived.set()
        return ticket

    def _live(self) -> int:
        return sum(1 for t in self._queue if not t.cancelled)

    def retry_after(self) -> int:
        """Seconds until the queue has likely drained, from the recent rate of finished jobs."""
        depth = self._live() + self._running_jobs
        if len(self._finished) >= 2 and self._finished[-1] > self._finished[0]:
            rate = (len(self._finished) - 1) / (self._finished[-1] - self._finished[0])
            return int(min(RETRY_AFTER_MAX, max(RETRY_AFTER_MIN, math.ceil(depth / rate))))
        return RETRY_AFTER_MIN * 5

    async def run_in_engine_thread(self, work: Callable[[], None]) -> None:
        """Run `work` (the engine's load) on the thread(s) that will run its calls."""
        await asyncio.get_running_loop().run_in_executor(self._threads, work)

    @property
    def stuck(self) -> bool:
        """Is every slot held by a stuck engine call?"""
        return len(self._stuck) >= self._slots

    def _stuck_error(self) -> ServiceUnavailable:
        error = ServiceUnavailable(
            f"This model's engine is stuck: an earlier engine call has not stopped "
            f"{self.settings.stuck_after_seconds:.0f} s after its clients left. Retry later or use another model.",
            code="engine_stuck", headers={"Retry-After": str(RETRY_AFTER_MAX)})
        error.no_work = True
        return error

    @property
    def computing(self) -> bool:
        """Is a batch in the engine right now?"""
        return self._running > 0

    @property
    def busy(self) -> bool:
        return bool(self._running or any(not t.cancelled for t in self._queue))

    @property
    def load(self) -> int:
        """Jobs waiting plus jobs running (routes' least-busy strategy compares it)."""
        return self._live() + self._running_jobs

    # ---- the worker side ----------------------------------------------------------------------

    def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(self._run(), name=f"worker-{self.name}")

    async def stop(self, wait: float = STOP_WAIT_SECONDS) -> None:
        """Stop taking jobs, then give the engine calls still running up to `wait` seconds to end (at
        shutdown their clients are gone, so they stop at their next step) before abandoning them: an
        engine must not be closed under a call that is still using it."""
        if self._loop_task is not None:
            self._loop_task.cancel()
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=wait)
        for task in list(self._inflight):
            task.cancel()
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def _run(self) -> None:
        while True:
            while self._running >= self._slots or not self._next_live():
                self._arrived.clear()
                await self._arrived.wait()
            batch = await self._gather(self._queue.popleft())
            self._running += 1
            task = asyncio.get_running_loop().create_task(self._execute(batch))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    def _next_live(self) -> bool:
        """Drop cancelled jobs from the head of the queue; is there a live one?"""
        while self._queue and self._queue[0].cancelled:
            self._dropped(self._queue.popleft())
        self.figures.queue_depth = self._live()
        return bool(self._queue)

    def _dropped(self, ticket: Ticket) -> None:
        self.figures.cancelled_queued += 1
        log.info("worker %s: a cancelled job left the queue before running (%s)", self.name, self.figures.brief())

    async def _gather(self, first: Ticket) -> list[Ticket]:
        batch, images = [first], first.job.n
        limit = self.settings.max_batch_images
        if limit <= 1 or first.key is None:
            return batch
        deadline = time.monotonic() + self.settings.batch_window_ms / 1000
        while images < limit:
            for ticket in list(self._queue):
                if ticket.cancelled or ticket.key != first.key or images + ticket.job.n > limit:
                    continue
                self._queue.remove(ticket)
                batch.append(ticket)
                images += ticket.job.n
                if images >= limit:
                    break
            remaining = deadline - time.monotonic()
            if images >= limit or remaining <= 0:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                pass
        self.figures.queue_depth = self._live()
        return batch

    async def _execute(self, batch: list[Ticket]) -> None:
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        for ticket in batch:
            ticket.started = now
            self.figures.queue_wait.add(now - ticket.enqueued)
        self.figures.batch_images.add(sum(t.job.n for t in batch))
        self._running_jobs += len(batch)
        self.figures.engine_calls += 1  # figures are written on the loop only, never from engine threads
        call = loop.run_in_executor(self._threads, self._call, batch)
        try:
            while not (await asyncio.wait({call}, timeout=WATCH_SECONDS))[0]:
                self._watch(batch)
            results, calls = call.result()
        except Exception as exc:
            results, calls = [exc] * len(batch), 1
        finally:
            if id(batch) in self._stuck:
                self._stuck.discard(id(batch))
                log.warning("worker %s: the stuck engine call returned; serving again", self.name)
            self.figures.stuck = self.stuck
            self._running -= 1
            self._running_jobs -= len(batch)
            self._arrived.set()
        self.figures.engine_calls += calls - 1  # the jobs rerun alone after a 400
        for stop in {id(r): r for r in results if isinstance(r, EngineCancelled) and r is not _NOT_RUN}.values():
            self.figures.stopped_early += 1
            log.info("worker %s: stopped an engine call whose clients all left, after %s steps (%s)",
                     self.name, stop.steps_done, self.figures.brief())
        done = time.monotonic()
        self.figures.engine_seconds.add(done - now)
        for ticket, result in zip(batch, results):
            self._finished.append(done)
            if ticket.cancelled:
                self.figures.cancelled_running += 1
                continue
            if ticket.future.done():
                continue
            if isinstance(result, BaseException):
                ticket.future.set_exception(result)
            else:
                ticket.future.set_result(result)

    def _watch(self, batch: list[Ticket]) -> None:
        """Mark the batch's call stuck once it has outlived all its jobs by `stuck_after_seconds`; when
        every slot is stuck, answer the queued jobs at once rather than at their deadlines."""
        if id(batch) in self._stuck or not all(t.cancelled for t in batch):
            return
        gone = max(t.gone_at or time.monotonic() for t in batch)
        if time.monotonic() - gone < self.settings.stuck_after_seconds:
            return
        self._stuck.add(id(batch))
        self.figures.stuck_calls += 1
        log.warning("worker %s: an engine call has not stopped %.0f s after its clients left: it is stuck%s",
                    self.name, self.settings.stuck_after_seconds,
                    "; refusing jobs until it returns" if self.stuck else "")
        if not self.stuck:
            return
        self.figures.stuck = True
        while self._queue:
            ticket = self._queue.popleft()
            if ticket.cancelled:
                self._dropped(ticket)
            elif not ticket.future.done():
                ticket.future.set_exception(self._stuck_error())
        self.figures.queue_depth = 0

    def _call(self, batch: list[Ticket]) -> tuple[list[Generation | BaseException], int]:
        """In the worker's thread: one engine call for the batch (each job alone after a 400).
        Returns one result or error per job, and how many engine calls that took."""
        try:
            return self._checked(batch, self.engine.generate_batch([t.job for t in batch], _all_gone(batch))), 1
        except EngineCancelled as exc:
            return [exc] * len(batch), 1
        except InvalidRequest as exc:
            if len(batch) == 1:
                return [exc], 1
        alone = [t for t in batch if not t.cancelled]  # nobody waits for the others: never rerun them
        results: dict[int, Generation | BaseException] = {id(t): _NOT_RUN for t in batch}
        for ticket in alone:
            try:
                results[id(ticket)] = self._checked([ticket], self.engine.generate_batch([ticket.job],
                                                                                        _all_gone([ticket])))[0]
            except Exception as exc:
                results[id(ticket)] = exc
        return [results[id(t)] for t in batch], 1 + len(alone)

    def _checked(self, batch: list[Ticket], results: list[Generation]) -> list[Generation | BaseException]:
        """One result per job, or an error for every job (a broken engine must not leave a job unanswered)."""
        if len(results) == len(batch):
            return list(results)
        log.error("engine %s returned %d results for a batch of %d jobs", self.engine.name, len(results), len(batch))
        return [ServerError("The image engine returned the wrong number of results.")] * len(batch)


def _all_gone(batch: list[Ticket]) -> Callable[[], bool]:
    """`should_stop` for an engine call: true once every job's client has gone."""
    return lambda: all(t.cancelled for t in batch)
