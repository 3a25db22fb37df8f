"""The ingress's stand-in for an engine worker: the same interface, the work done in a model deployment.

`ImageService` submits jobs to `service.workers[id(engine)]`; in an ingress replica that worker is a
`RemoteWorker`, which sends each job to its model deployment: as one plain call (`ModelReplica.call`), or,
when the client wants partial images, through a Ray Serve streaming handle (`ModelReplica.run`), handing
the partials to the request's `on_partial` as they arrive (`replica.py` describes the messages).
Everything before and after the engine (rules, moderation, limits, encoding, storage, ledger) stays in
the ingress, unchanged.

Ray's errors become Darkroom's at this boundary:

    BackPressureError (every replica and its queue full)   503 server_overloaded + Retry-After
    a replica that died, or none available                 503 service_unavailable + Retry-After
                                                           (tried once more first, on another replica,
                                                           when nothing was streamed yet)
    anything else from the replica                         500 (the engine failed)

Cancelling the task that awaits `ticket.result()` (the client went away, or its deadline passed)
cancels the remote call (explicitly: cancelling the task that awaits or iterates a Serve response does
not reach the replica by itself), which cancels the job in the replica's worker (`replica.py`).

Figures: this worker's own `figures` count what happens here (back-pressure refusals, timeouts,
encoding); what happens in the model replicas (their queues, engine calls, batches, cancellations) comes
from the `figures` deployment (`board.py`), read every `REPORT_SECONDS` into `replicas`, one
`ReplicaReport` per live replica. `/health` and `/metrics` show both (`scheduling.figures.figures_of`).
A refusal's Retry-After is the soonest any replica expects its queue to drain.

Images come back as the engine's pixel arrays (pickled by Ray), so the ingress's post-processing is
the single process's own; they are copied once here, since Ray's arrays are read-only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from ..engines.base import Engine, Generation, GenerationJob
from ..errors import DarkroomError, ServerError, ServiceUnavailable
from ..scheduling.figures import WorkerFigures
from ..scheduling.worker import Ticket
from .board import ReplicaReport, every_report
from .replica import rebuild_error

log = logging.getLogger("darkroom.scaleout")
RETRY_AFTER_SECONDS = 5


@dataclasses.dataclass(eq=False)
class RemoteTicket(Ticket):
    """A job sent to a model deployment; `future` is the task that streams its messages."""

    async def result(self) -> Generation:
        try:
            return await self.future
        except asyncio.CancelledError:
            self.cancelled = True
            self.future.cancel()  # cancels the remote call: the replica's worker drops or stops the job
            raise


class RemoteWorker:
    """Submits an engine's jobs to its model deployment (`handle`: a Serve DeploymentHandle)."""

    def __init__(self, engine: Engine, handle: Any, name: str, board: Any = None, deployment: str = "") -> None:
        self.engine = engine
        self.name = name
        self.deployment = deployment
        self.figures = WorkerFigures()
        self.replicas: dict[str, ReplicaReport] = {}  # by replica id, from the board
        self._call_handle = handle.options(method_name="call")
        self._run_handle = handle.options(method_name="run", stream=True)
        self._ready = handle.options(method_name="ready")
        self._board = board
        self._reading: asyncio.Task | None = None
        self._pending = 0

    def submit(self, job: GenerationJob) -> Ticket:
        task = asyncio.get_running_loop().create_task(self._call(job))
        ticket = RemoteTicket(job, None, task)
        self._pending += 1
        task.add_done_callback(lambda _: self._finished())
        return ticket

    def _finished(self) -> None:
        self._pending -= 1

    async def _call(self, job: GenerationJob) -> Generation:
        on_partial = job.on_partial
        job = dataclasses.replace(job, on_partial=None)  # callbacks stay here; partials come back as messages
        for attempt in (1, 2):
            streamed = False
            response = (self._call_handle if on_partial is None else self._run_handle).remote(job)
            try:
                if on_partial is None:
                    return _last(await response)
                async for message in response:
                    if message[0] != "partial":
                        return _last(message)
                    streamed = True
                    image, index, pixels = message[1:]
                    on_partial(image, index, np.array(pixels))
                raise ServerError("The model replica ended the request without a result.")
            except asyncio.CancelledError:
                response.cancel()  # the replica's task (or generator) is cancelled at its next await
                raise
            except DarkroomError:
                raise
            except Exception as exc:
                mapped = translate(exc, self.retry_after())
                if mapped.code == "server_overloaded":
                    self.figures.rejected += 1
                if attempt == 1 and not streamed and _replica_lost(exc):
                    log.warning("worker %s: a model replica failed before streaming (%s); retrying once", self.name,
                                type(exc).__name__)
                    continue
                if isinstance(mapped, ServerError):
                    log.error("worker %s: the model replica failed", self.name, exc_info=exc)
                raise mapped from exc
        raise AssertionError("unreachable")

    @property
    def load(self) -> int:
        """Jobs this ingress replica has sent and not yet had back (a route's least-busy strategy)."""
        return self._pending

    @property
    def busy(self) -> bool:
        return self._pending > 0

    @property
    def computing(self) -> bool:
        return False  # the engine runs in another process: it never competes with this one's cores

    @property
    def stuck(self) -> bool:
        return False

    def retry_after(self) -> int:
        """The soonest any replica expects its queue to drain (`RETRY_AFTER_SECONDS` before any report)."""
        return min((r.retry_after for r in self.replicas.values()), default=RETRY_AFTER_SECONDS)

    def start(self) -> None:
        if self._board is not None:
            self._reading = asyncio.get_running_loop().create_task(self._read_board())

    async def stop(self, wait: float = 0) -> None:
        if self._reading is not None:
            self._reading.cancel()

    async def _read_board(self) -> None:
        async def read() -> None:  # on failure the last figures stay
            self.replicas = await self._board.read.remote(self.deployment)

        await every_report(read, f"worker {self.name}: reading the replicas' figures", log)

    async def run_in_engine_thread(self, work: Callable[[], None]) -> None:
        """The loader's "load": the engine loads in the model's replicas, not here. Wait until one is up and
        take its engine's capabilities, so that this process's rules check requests against what the loaded
        model really takes, as the single process does (this engine object never loads)."""
        self.engine.capabilities = await self._ready.remote()


def _last(message: tuple) -> Generation:
    """A call's last message: the result ("done"), or the replica's DarkroomError raised here."""
    if message[0] == "done":
        return _writable(message[1])
    raise rebuild_error(*message[1:])


def _writable(generation: Generation) -> Generation:
    """The images as arrays of this process: Ray hands them over read-only (zero-copy), and the
    post-processing (an edit's paste-back, a cut-out) works in place, as on the engine's own arrays."""
    return Generation([np.array(image) for image in generation.images], generation.info)


def _replica_lost(exc: Exception) -> bool:
    from ray import exceptions

    return isinstance(exc, (exceptions.RayActorError, exceptions.ActorUnavailableError))


def translate(exc: Exception, retry_after: int = RETRY_AFTER_SECONDS) -> DarkroomError:
    """A Ray error from a model deployment's call, as the Darkroom error the client gets."""
    from ray import exceptions
    from ray.serve import exceptions as serve_exceptions

    retry = {"Retry-After": str(retry_after)}
    if isinstance(exc, serve_exceptions.BackPressureError):
        error = ServiceUnavailable("The server is busy: every replica of this model is full. Retry shortly.",
                                   code="server_overloaded", headers=retry)
        error.no_work = True
        return error
    if isinstance(exc, (exceptions.RayActorError, exceptions.ActorUnavailableError,
                        serve_exceptions.DeploymentUnavailableError)):
        return ServiceUnavailable("The model replica serving this request stopped. Retry shortly.", headers=retry)
    return ServerError("The image engine failed while generating this request.")
