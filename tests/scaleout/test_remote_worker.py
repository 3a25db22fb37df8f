"""`RemoteWorker` without a cluster: the Retry-After it gives and how Ray's errors become Darkroom's."""

from __future__ import annotations

import dataclasses

from darkroom.engines.sketch import SketchEngine
from darkroom.scaleout.board import ReplicaReport
from darkroom.scaleout.remote_worker import RETRY_AFTER_SECONDS, RemoteWorker, translate
from darkroom.scheduling.figures import WorkerFigures


class _Handle:
    def options(self, **_: object) -> "_Handle":
        return self


def test_retry_after_is_the_soonest_replica_to_drain():
    worker = RemoteWorker(SketchEngine(), _Handle(), "m")
    assert worker.retry_after() == RETRY_AFTER_SECONDS  # no report yet
    worker.replicas = {"a": ReplicaReport(WorkerFigures(), 50.0, 12), "b": ReplicaReport(WorkerFigures(), 9.0, 3)}
    assert worker.retry_after() == 3


def test_back_pressure_is_a_503_server_overloaded_with_the_estimate():
    from ray.serve.exceptions import BackPressureError

    error = translate(BackPressureError(num_queued_requests=4, max_queued_requests=4), retry_after=7)
    assert (error.status, error.code, error.headers["Retry-After"], error.no_work) == (503, "server_overloaded", "7",
                                                                                      True)


async def test_the_ingress_takes_the_loaded_engines_capabilities_from_a_replica():
    engine = SketchEngine()
    loaded = dataclasses.replace(engine.capabilities, extensions=frozenset({"steps"}), native_size=(256, 256))

    class Ready:
        async def remote(self):  # a Serve call to the replica's `ready`
            return loaded

    class Handle(_Handle):
        def options(self, **options: object):
            return Ready() if options.get("method_name") == "ready" else self

    await RemoteWorker(engine, Handle(), "m").run_in_engine_thread(engine.load)
    assert engine.capabilities == loaded  # this process never loads the engine: its rules use the replica's
