"""A model deployment's replica: one engine instance behind Darkroom's own `EngineWorker`.

Each configured local model (and the default catalog's shared sketch engine) is one Ray Serve
deployment; each of its replicas builds the same catalog from the same settings and keeps only its
own model's engine and worker. Requests from every ingress replica meet in that worker's queue, so
batching across requests works as in one process (never `@serve.batch`, which groups by arrival,
not by size).

`run(job)` is a streaming method, for jobs whose client wants partial images; `call(job)` is one plain
call, for every other job (a streaming call costs Ray a generator and a message per item: 1-2 ms more
than a plain call on two cores, bench/_ray_floor.py). Both send plain tuples, never Darkroom objects that might not
survive pickling across processes:

    ("partial", image, index, pixels) a partial image (`run` only), as it is made
    ("done", generation, queue_s)     the result: the engine's pixel arrays (the ingress post-processes
                                      them exactly as in one process: paste-back, cut-out, moderation),
                                      and the seconds the job waited in this replica's queue
    ("error", kind, message, fields)  a DarkroomError, rebuilt on the ingress by `rebuild_error`

`run` yields partials as they come, then the last message; `call` returns the last message.

Cancellation: when the client goes away, the ingress cancels its call; Ray cancels the replica's task
(or the generator) at its next `await`, which is the await on the worker's ticket, so the ticket is
cancelled as in one process: a queued job leaves the queue, and a running engine call whose jobs are
all gone stops at its next step (`should_stop`).

`record_autoscaling_stats` reports the work queued and running here in megapixel-steps, for the
autoscaling policy (`autoscaling.py`). The same work, the worker's figures and its Retry-After estimate
are posted every second to the `figures` deployment (`board.py`), for `/health` and `/metrics`.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import Any

from .. import errors
from ..catalog import build_catalog
from ..config import load_settings
from ..engines.base import Capabilities, GenerationJob
from ..errors import DarkroomError, ServiceUnavailable
from ..logs import configure_replica
from ..scheduling.worker import EngineWorker, Ticket
from .board import ReplicaReport, every_report

log = logging.getLogger("darkroom.scaleout")
DEFAULT_STEPS = 25  # a job without `steps` (the engine's preset) counts as this many for the autoscaler


class ModelReplica:
    """The body of one model deployment (`application.py` wraps it with `serve.deployment`)."""

    async def __init__(self, config: str | None, model: str, board: Any = None) -> None:
        settings = load_settings(config)
        configure_replica(settings.log_level)
        spec = build_catalog(settings).find(model)
        if spec is None:
            raise ValueError(f"model {model!r} is not in the catalog of {config}")
        self.model = model
        self.engine = spec.engine
        self.worker = EngineWorker(spec.engine, spec.scheduling, spec.name)
        self.worker.start()
        await self.worker.run_in_engine_thread(self.engine.load)  # torch work stays on the worker's thread
        self._tickets: set[Ticket] = set()
        self._posting = asyncio.get_running_loop().create_task(self._post_figures(board)) if board else None
        log.info("replica of %s ready (engine %s)", model, self.engine.name)

    async def _post_figures(self, board: Any) -> None:
        """Post this replica's figures to the board every `REPORT_SECONDS`, for as long as it runs."""
        import ray
        from ray import serve

        context = serve.get_replica_context()
        node = ray.get_runtime_context().get_node_id()

        async def post() -> None:
            # a copy: Ray may pickle it on another thread while this loop goes on writing the figures
            report = ReplicaReport(copy.deepcopy(self.worker.figures), self.queued_work(), self.worker.retry_after(),
                                   node)
            await board.post.remote(context.deployment, context.replica_tag, report)

        await every_report(post, f"replica of {self.model}: posting its figures", log)

    async def call(self, job: GenerationJob) -> tuple:
        """The job without partial images, as one call: its ("done", ...) or ("error", ...) message."""
        try:
            ticket = self.worker.submit(job)
        except DarkroomError as exc:
            return error_message(exc)
        self._tickets.add(ticket)
        try:
            generation = await ticket.result()  # cancelled: the worker drops or stops the job
        except DarkroomError as exc:
            return error_message(exc)
        finally:
            self._tickets.discard(ticket)
        return done_message(ticket, generation)

    async def run(self, job: GenerationJob) -> AsyncIterator[tuple]:
        loop = asyncio.get_running_loop()
        made: asyncio.Queue[tuple] = asyncio.Queue()

        def on_partial(image: int, index: int, pixels: Any) -> None:  # in the engine's thread
            loop.call_soon_threadsafe(made.put_nowait, ("partial", image, index, pixels))

        try:
            ticket = self.worker.submit(dataclasses.replace(job, on_partial=on_partial))
        except DarkroomError as exc:
            yield error_message(exc)
            return
        self._tickets.add(ticket)
        result = asyncio.ensure_future(ticket.result())
        try:
            while True:
                getting = asyncio.ensure_future(made.get())
                done, _ = await asyncio.wait({result, getting}, return_when=asyncio.FIRST_COMPLETED)
                if getting not in done:
                    getting.cancel()
                    break
                yield getting.result()
            while not made.empty():
                yield made.get_nowait()
            try:
                generation = result.result()
            except DarkroomError as exc:
                yield error_message(exc)
                return
            yield done_message(ticket, generation)
        except BaseException:
            result.cancel()  # the client went away (or the replica stops): the worker drops or stops its job
            raise
        finally:
            self._tickets.discard(ticket)

    def queued_work(self) -> float:
        """Megapixel-steps of the jobs queued and running in this replica."""
        return sum(job_work(t.job) for t in self._tickets if not t.cancelled)

    def record_autoscaling_stats(self) -> dict[str, float]:
        return {"work": self.queued_work(), "jobs": sum(1 for t in self._tickets if not t.cancelled)}

    async def ready(self) -> Capabilities:
        """Called by each ingress once the replica is up: what its engine found when it loaded (a diffusers
        model's extensions, native size, operations and partial images come from the pipeline itself)."""
        return self.engine.capabilities

    def __del__(self) -> None:  # the replica is stopping: close the engine after its calls ended
        try:
            self.engine.close()
        except Exception:  # noqa: BLE001 - nothing left to report it to
            pass


def job_work(job: GenerationJob) -> float:
    """One job's work in megapixel-steps: pixels x images x denoising steps."""
    return job.width * job.height * job.n * (job.steps or DEFAULT_STEPS) / 1e6


def done_message(ticket: Ticket, generation: Any) -> tuple:
    started = ticket.started or ticket.enqueued
    return ("done", generation, started - ticket.enqueued)


def error_message(exc: DarkroomError) -> tuple:
    fields = {"param": exc.param, "code": exc.code, "headers": dict(exc.headers), "extra": dict(exc.extra),
              "no_work": exc.no_work}
    return ("error", type(exc).__name__, exc.message, fields)


def rebuild_error(kind: str, message: str, fields: dict[str, Any]) -> DarkroomError:
    """The DarkroomError a replica reported, as the same class (a 503 if the name is unknown)."""
    cls = getattr(errors, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, DarkroomError)):
        cls = ServiceUnavailable
    error = cls.__new__(cls)
    DarkroomError.__init__(error, message, param=fields["param"], code=fields["code"], headers=fields["headers"],
                           extra=fields["extra"])
    error.no_work = fields["no_work"]
    return error
