"""EngineWorker on the event loop, with no HTTP: batching, FIFO order, the bounded queue,
cancellation (queued and running) and failures, driven by an engine whose pace the test decides.

A "client" here is a task awaiting `ticket.result()`, as the service's request task does; cancelling
that task is what a disconnect or a deadline does to a request. Nothing waits on a clock: the tests
synchronise on the engine's call log and gate, and every wait is bounded by GUARD seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from darkroom.engines.base import Generation, GenerationJob
from darkroom.errors import InvalidRequest, ServiceUnavailable
from darkroom.scheduling.worker import (
    RETRY_AFTER_MAX,
    RETRY_AFTER_MIN,
    EngineWorker,
    Ticket,
    WorkerSettings,
)

from .engines import GatedEngine, colour, job

GUARD = 10.0  # seconds: the longest any wait may take before the test fails rather than hangs


@pytest.fixture()
async def make_worker():
    """make_worker(engine, **WorkerSettings fields) -> a started worker; stopped (gate opened) at teardown."""
    made: list[EngineWorker] = []

    def make(engine: GatedEngine, **settings) -> EngineWorker:
        worker = EngineWorker(engine, WorkerSettings(**settings), "gated")
        worker.start()
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.engine.gate.open()  # let any call still waiting finish, so no thread is left behind
        await worker.stop()


def submit(worker: EngineWorker, job_: GenerationJob) -> tuple[Ticket, asyncio.Task[Generation]]:
    """Queue a job and start its client, a task awaiting the ticket's result."""
    ticket = worker.submit(job_)
    return ticket, asyncio.create_task(ticket.result())


async def leave(client: tuple[Ticket, asyncio.Task[Generation]]) -> None:
    """The client goes away: its task is cancelled, as a disconnect or a passed deadline does."""
    ticket, task = client
    await asyncio.sleep(0)  # let a just-created task reach its `await` first (else its body never runs)
    task.cancel()
    await asyncio.wait([task], timeout=GUARD)
    assert task.cancelled() and ticket.cancelled, "the client could not be cancelled (test set-up)"


async def outcomes(*clients: tuple[Ticket, asyncio.Task[Generation]]) -> list[Generation | BaseException]:
    async with asyncio.timeout(GUARD):
        return await asyncio.gather(*(task for _, task in clients), return_exceptions=True)


async def eventually(predicate: Callable[[], bool], what: str) -> None:
    """Poll `predicate` (bounded): for figures the worker updates after a result is delivered."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + GUARD
    while not predicate():
        if loop.time() > deadline:
            pytest.fail(f"never happened: {what}")
        await asyncio.sleep(0.005)


def assert_images_of(result: Generation | BaseException, job_: GenerationJob) -> None:
    """`result` is the job's own: one solid image per seed, in the colour of (its prompt, that seed)."""
    assert isinstance(result, Generation), f"{job_.prompt}: {result!r}"
    assert len(result.images) == job_.n
    for seed, image in zip(job_.seeds, result.images):
        assert image.shape == (job_.height, job_.width, 3)
        assert (image == colour(job_.prompt, seed)).all(), f"{job_.prompt} got another job's image"


# ---- batching --------------------------------------------------------------------------------------


async def test_jobs_queued_behind_a_running_call_form_batches_of_max_images(make_worker):
    engine = GatedEngine(max_batch=8)
    worker = make_worker(engine, max_batch_images=4)
    first = job("first")
    running = submit(worker, first)
    await engine.started(1)  # the first job runs alone; the gate holds it while the others queue
    queued = [job("b", seed=1), job("c", n=2, seed=2), job("d", seed=3), job("e", seed=4), job("f", n=2, seed=5)]
    clients = [submit(worker, j) for j in queued]
    engine.gate.open()
    results = await outcomes(running, *clients)

    # n counts as images: b + c(2) + d fill the 4 images; e + f(2) make the next call.
    assert engine.prompts() == [["first"], ["b", "c", "d"], ["e", "f"]]
    for j, result in zip([first, *queued], results):
        assert_images_of(result, j)
        assert result.info == {"batch_jobs": {"first": 1, "b": 3, "c": 3, "d": 3, "e": 2, "f": 2}[j.prompt]}
    assert list(worker.figures.batch_images.recent) == [1, 4, 3]
    assert worker.figures.engine_calls == 3
    assert engine.max_active == 1  # concurrency 1: never two calls at once


async def test_incompatible_jobs_are_not_mixed_and_keep_their_place(make_worker):
    engine = GatedEngine()
    worker = make_worker(engine, max_batch_images=8)
    running = submit(worker, job("first"))
    await engine.started(1)
    queued = [job("b"), job("c", size=(32, 32)), job("d"), job("e", size=(32, 32)), job("f", size=(64, 32))]
    clients = [submit(worker, j) for j in queued]
    engine.gate.open()
    results = await outcomes(running, *clients)

    assert engine.prompts() == [["first"], ["b", "d"], ["c", "e"], ["f"]]
    for call in engine.calls:
        assert len({(j.width, j.height) for j in call.jobs}) == 1, f"mixed sizes in one call: {call.prompts}"
    for j, result in zip(queued, results[1:]):
        assert_images_of(result, j)


async def test_fifo_order_with_batching_off(make_worker):
    engine = GatedEngine()
    worker = make_worker(engine, max_batch_images=1)
    running = submit(worker, job("j0"))
    await engine.started(1)
    queued = [job(f"j{i}", size=(64, 64) if i % 2 else (32, 32)) for i in range(1, 7)]
    clients = [submit(worker, j) for j in queued]
    engine.gate.open()
    results = await outcomes(running, *clients)

    assert engine.prompts() == [[f"j{i}"] for i in range(7)]
    for j, result in zip(queued, results[1:]):
        assert_images_of(result, j)
    assert engine.max_active == 1


async def test_batch_window_waits_for_late_arrivals(make_worker):
    """With a window the first job waits for compatible jobs that arrive after it was taken; a full
    batch ends the window at once (the window is a minute: waiting it out would trip the guard)."""
    engine = GatedEngine()
    worker = make_worker(engine, max_batch_images=4, batch_window_ms=60_000)
    clients = [submit(worker, job("a"))]
    # No public figure says "taken, batch still forming": read the queue itself.
    await eventually(lambda: not worker._queue, "the worker took the first job off the queue")
    for prompt in ("b", "c", "d"):  # each arrives on its own, after the first was taken
        clients.append(submit(worker, job(prompt)))
        await asyncio.sleep(0)
    await engine.started(1)
    engine.gate.open()
    results = await outcomes(*clients)

    assert engine.prompts() == [["a", "b", "c", "d"]]
    assert all(isinstance(r, Generation) for r in results)


async def test_without_a_window_late_arrivals_wait_for_the_next_call(make_worker):
    """The control for the test above: the same arrivals with batch_window_ms=0."""
    engine = GatedEngine()
    worker = make_worker(engine, max_batch_images=4, batch_window_ms=0)
    clients = [submit(worker, job("a"))]
    await eventually(lambda: not worker._queue, "the worker took the first job off the queue")
    for prompt in ("b", "c", "d"):
        clients.append(submit(worker, job(prompt)))
        await asyncio.sleep(0)
    await engine.started(1)
    engine.gate.open()
    await outcomes(*clients)

    assert engine.prompts() == [["a"], ["b", "c", "d"]]


async def test_batch_window_that_expires_runs_a_partial_batch(make_worker):
    engine = GatedEngine()
    worker = make_worker(engine, max_batch_images=4, batch_window_ms=20)
    engine.gate.open()
    [result] = await outcomes(submit(worker, job("alone")))
    assert_images_of(result, job("alone"))
    assert engine.prompts() == [["alone"]]


async def test_concurrency_lets_that_many_calls_run_at_once(make_worker):
    engine = GatedEngine(concurrency=2)
    worker = make_worker(engine, max_batch_images=4)
    clients = [submit(worker, job("a"))]
    await engine.started(1)
    clients.append(submit(worker, job("b", size=(32, 32))))
    await engine.started(2)  # a second call starts while the first is still held at the gate
    engine.gate.open()
    await outcomes(*clients)
    assert engine.max_active == 2


# ---- the bounded queue -------------------------------------------------------------------------------


async def test_full_queue_refuses_with_503_server_overloaded_and_retry_after(make_worker):
    engine = GatedEngine()
    worker = make_worker(engine, max_queue=2, max_batch_images=4)
    running = submit(worker, job("first"))
    await engine.started(1)  # running jobs do not count against the queue
    b, c = submit(worker, job("b")), submit(worker, job("c"))

    with pytest.raises(ServiceUnavailable) as refused:
        worker.submit(job("refused"))
    error = refused.value
    assert (error.status, error.type, error.code) == (503, "server_error", "server_overloaded")
    assert RETRY_AFTER_MIN <= int(error.headers["Retry-After"]) <= RETRY_AFTER_MAX
    assert worker.figures.rejected == 1

    await leave(b)  # a cancelled job no longer holds a place in the queue
    d = submit(worker, job("d"))
    engine.gate.open()
    results = await outcomes(running, c, d)
    assert all(isinstance(r, Generation) for r in results)
    assert engine.prompts() == [["first"], ["c", "d"]]  # neither the refused job nor the cancelled one ran


async def test_retry_after_follows_the_completion_rate_within_bounds(make_worker):
    engine = GatedEngine()
    worker = make_worker(engine, max_queue=1, max_batch_images=1)
    engine.gate.open()
    for i in range(3):  # some history: completions at distinct times
        await outcomes(submit(worker, job(f"warm{i}")))
    engine.gate.close()
    running = submit(worker, job("first"))
    await engine.started(4)
    queued = submit(worker, job("queued"))
    with pytest.raises(ServiceUnavailable) as refused:
        worker.submit(job("refused"))
    assert RETRY_AFTER_MIN <= int(refused.value.headers["Retry-After"]) <= RETRY_AFTER_MAX

    # The bounds hold for any rate: a very slow history is capped at 60 s (what the Node SDK honours),
    # a very fast one is at least 1 s.
    worker._finished.clear()
    worker._finished.extend([0.0, 10_000.0])
    assert worker.retry_after() == RETRY_AFTER_MAX
    worker._finished.clear()
    worker._finished.extend([0.0, 1e-6, 2e-6])
    assert worker.retry_after() == RETRY_AFTER_MIN
    engine.gate.open()
    await outcomes(running, queued)


# ---- cancellation --------------------------------------------------------------------------------------


@pytest.mark.parametrize("max_batch_images", [1, 4])
async def test_cancelled_queued_job_never_reaches_the_engine(make_worker, max_batch_images):
    engine = GatedEngine()
    worker = make_worker(engine, max_batch_images=max_batch_images)
    running = submit(worker, job("first"))
    await engine.started(1)
    kept1, gone, kept2 = submit(worker, job("kept1")), submit(worker, job("gone")), submit(worker, job("kept2"))
    await leave(gone)  # between two live jobs: batching must skip it, not only the queue's head
    engine.gate.open()
    results = await outcomes(running, kept1, kept2)

    assert_images_of(results[1], job("kept1"))
    assert_images_of(results[2], job("kept2"))
    await eventually(lambda: worker.figures.cancelled_queued == 1, "cancelled_queued counted the job")
    expected = [["first"], ["kept1"], ["kept2"]] if max_batch_images == 1 else [["first"], ["kept1", "kept2"]]
    assert engine.prompts() == expected
    assert worker.figures.queue_depth == 0 and not worker.busy
    assert worker.figures.cancelled_running == 0 and worker.figures.stopped_early == 0


async def test_running_batch_whose_clients_all_left_stops_early(make_worker):
    engine = GatedEngine(steps=8, pause_at=3)
    worker = make_worker(engine, max_batch_images=4)
    a, b = submit(worker, job("a")), submit(worker, job("b"))  # no yield between: one batch
    [call] = await engine.started(1)
    assert call.prompts == ["a", "b"]
    await eventually(lambda: call.steps_run == 3, "the call reached the gate at step 3")
    await leave(a)
    await leave(b)
    assert await asyncio.to_thread(call.finished.wait, GUARD), "the engine was never told to stop"

    assert call.outcome == "stopped" and call.steps_run == 3 < call.steps_asked
    await eventually(lambda: worker.figures.stopped_early == 1, "stopped_early counted the call")
    await eventually(lambda: worker.figures.cancelled_running == 2, "cancelled_running counted both jobs")
    # The worker serves on afterwards.
    engine.gate.open()
    [result] = await outcomes(submit(worker, job("next")))
    assert_images_of(result, job("next"))


async def test_running_batch_with_one_client_left_completes_for_the_other(make_worker):
    engine = GatedEngine(steps=8, pause_at=3)
    worker = make_worker(engine, max_batch_images=4)
    a, b = submit(worker, job("a")), submit(worker, job("b", seed=7))
    [call] = await engine.started(1)
    await eventually(lambda: call.steps_run == 3, "the call reached the gate at step 3")
    await leave(a)
    engine.gate.open()
    [result] = await outcomes(b)

    assert_images_of(result, job("b", seed=7))
    assert call.prompts == ["a", "b"] and call.outcome == "done" and call.steps_run == call.steps_asked
    await eventually(lambda: worker.figures.cancelled_running == 1, "cancelled_running counted the job")
    assert worker.figures.stopped_early == 0


# ---- failures ----------------------------------------------------------------------------------------


async def test_invalid_job_in_a_batch_fails_alone(make_worker):
    engine = GatedEngine(invalid_prompts=["bad"])
    worker = make_worker(engine, max_batch_images=4)
    engine.gate.open()
    jobs = [job("a"), job("bad"), job("c")]
    clients = [submit(worker, j) for j in jobs]  # no yield between: one batch
    good_a, bad, good_c = await outcomes(*clients)

    assert engine.prompts() == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]  # the batch, then each alone
    assert isinstance(bad, InvalidRequest) and bad.param == "prompt"
    assert_images_of(good_a, jobs[0])
    assert_images_of(good_c, jobs[2])


async def test_engine_error_reaches_every_job_of_the_batch(make_worker):
    engine = GatedEngine(failing_prompts=["boom"])
    worker = make_worker(engine, max_batch_images=4)
    engine.gate.open()
    results = await outcomes(*[submit(worker, job(p)) for p in ("a", "boom", "c")])

    assert all(isinstance(r, RuntimeError) for r in results), results
    assert engine.prompts() == [["a", "boom", "c"]]  # not retried job by job: only 400s are
    [result] = await outcomes(submit(worker, job("after")))  # and the worker serves on
    assert_images_of(result, job("after"))


# ---- a broken engine, and jobs gone before a rerun ------------------------------------------------------


class ShortEngine(GatedEngine):
    """Breaks the engine contract: one Generation too few for the batch."""

    def generate_batch(self, jobs, should_stop=lambda: False):
        return super().generate_batch(jobs, should_stop)[:-1]


async def test_every_job_is_answered_even_when_the_engine_returns_too_few_results(make_worker):
    engine = ShortEngine()
    worker = make_worker(engine, max_batch_images=4)
    engine.gate.open()
    clients = [submit(worker, job("a")), submit(worker, job("b"))]  # one batch
    # engine_seconds is recorded in the same synchronous step that delivers the results.
    await eventually(lambda: worker.figures.engine_seconds.count == 1, "the batch finished")
    assert engine.prompts() == [["a", "b"]]
    unanswered = [ticket.job.prompt for ticket, _ in clients if not ticket.future.done()]
    for _, task in clients:
        task.cancel()  # no client task is left pending on the session's loop
    assert not unanswered, f"never answered: {unanswered}"


class LateInvalidEngine(GatedEngine):
    """Refuses a prompt only once the call has passed the gate (like a pipeline's own input checks)."""

    def generate_batch(self, jobs, should_stop=lambda: False):
        if not self.gate.pass_through(lambda: False, self.gate_timeout):
            raise AssertionError("unreachable")
        return super().generate_batch(jobs, should_stop)


async def test_job_whose_client_left_is_not_retried_alone_after_a_400(make_worker):
    engine = LateInvalidEngine(invalid_prompts=["bad"])
    worker = make_worker(engine, max_batch_images=4)
    a, bad, gone = submit(worker, job("a")), submit(worker, job("bad")), submit(worker, job("gone"))
    await eventually(lambda: worker.figures.engine_calls == 1, "the batch call started")
    await leave(gone)  # its client leaves while the batch waits at the gate
    engine.gate.open()
    result_a, result_bad = await outcomes(a, bad)

    assert_images_of(result_a, job("a"))
    assert isinstance(result_bad, InvalidRequest)
    assert engine.prompts() == [["a", "bad", "gone"], ["a"], ["bad"]]


# ---- a stuck engine ----------------------------------------------------------------------------------


async def test_a_call_that_outlives_its_clients_makes_the_worker_stuck_until_it_returns(make_worker):
    """An engine call deaf to `should_stop` holds the only slot after its client left: `stuck_after_seconds`
    later the worker refuses new jobs and answers queued ones at once (503 engine_stuck, no_work), and
    serves again once the call returns."""
    engine = GatedEngine(stoppable=False, pause_at=1)
    worker = make_worker(engine, max_batch_images=1, stuck_after_seconds=0.05)
    hung = submit(worker, job("hung"))
    [call] = await engine.started(1)
    queued = submit(worker, job("queued"))
    await leave(hung)
    await eventually(lambda: worker.stuck, "the worker to call itself stuck")
    assert worker.figures.stuck and worker.figures.stuck_calls == 1
    with pytest.raises(ServiceUnavailable) as refused:
        worker.submit(job("refused"))
    assert refused.value.code == "engine_stuck" and refused.value.no_work
    assert int(refused.value.headers["Retry-After"]) >= 1
    [answer] = await outcomes(queued)
    assert isinstance(answer, ServiceUnavailable) and answer.code == "engine_stuck"
    assert [c.prompts for c in engine.calls] == [["hung"]]  # the queued job never reached the engine
    engine.gate.open()  # the call returns after all
    await eventually(lambda: not worker.stuck and not worker.figures.stuck, "the worker to recover")
    [result] = await outcomes(submit(worker, job("after")))
    assert_images_of(result, job("after"))
    assert call.outcome == "done" and worker.figures.stuck_calls == 1


async def test_a_slow_call_with_a_client_still_waiting_is_never_stuck(make_worker):
    engine = GatedEngine(stoppable=False, pause_at=1)
    worker = make_worker(engine, max_batch_images=1, stuck_after_seconds=0.05)
    waiting = submit(worker, job("slow"))
    await engine.started(1)
    await asyncio.sleep(0.7)  # past stuck_after_seconds and a watch round: still not stuck, someone waits
    assert not worker.stuck and worker.figures.stuck_calls == 0
    engine.gate.open()
    [result] = await outcomes(waiting)
    assert_images_of(result, job("slow"))
