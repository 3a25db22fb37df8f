"""`ModelReplica` in this process, without Ray: a tiny diffusers model behind the replica's streaming `run`
(partial images) and its plain `call`.

When the client goes away, Ray cancels the replica's `run` generator (or its `call` task) at its next
`await`; here the task that iterates or awaits it is cancelled the same way. The running pipeline call
must stop within one denoising step: the engine's step callback asks `should_stop` after each step, and
the test counts those calls (one per step) at the moment of the cancel and when the call stops.
"""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from darkroom.engines.base import GenerationJob
from darkroom.scaleout.replica import ModelReplica

STEPS = 200  # far more than the cancel needs; the call is cut short at about step 25
PARTIAL_AT = 8  # partial_images = 24 over 200 steps: the first one comes after step 8


def _config(tmp_path, pipeline) -> str:
    path = tmp_path / "darkroom.toml"
    path.write_text(f'data_dir = "{(tmp_path / "data").as_posix()}"\n[[models]]\nname = "tiny"\n'
                    f'engine = "diffusers"\nfamily = "gpt-image"\npath = "{pipeline.as_posix()}"\n'
                    'local_files_only = true\ndevice = "cpu"\n')
    return str(path)


async def _replica(config: str) -> ModelReplica:
    replica = ModelReplica.__new__(ModelReplica)  # Serve awaits the async __init__ itself
    await replica.__init__(config, "tiny")
    return replica


def _job(steps: int, partials: int) -> GenerationJob:
    return GenerationJob(prompt="a harbour at dawn", width=256, height=256, quality="high", seeds=(7,), steps=steps,
                         partial_images=partials)


def _count_steps(replica: ModelReplica) -> tuple[list[int], threading.Lock]:
    """Counts the engine's should_stop calls: one per denoising step."""
    steps_seen, lock = [0], threading.Lock()
    generate_batch = replica.engine.generate_batch

    def counting(jobs, should_stop=lambda: False):
        def asked() -> bool:
            with lock:
                steps_seen[0] += 1
            return should_stop()
        return generate_batch(jobs, asked)

    replica.engine.generate_batch = counting
    return steps_seen, lock


@pytest.mark.parametrize("method", ["run", "call"])
def test_a_cancelled_job_stops_the_pipeline_within_one_step(tmp_path, tiny_pipelines, method):
    async def scenario() -> tuple[int, int, dict]:
        replica = await _replica(_config(tmp_path, tiny_pipelines["sd"]))
        steps_seen, lock = _count_steps(replica)
        messages: list[tuple] = []
        first_partial = asyncio.Event()

        async def consume() -> None:
            if method == "call":
                messages.append(await replica.call(_job(STEPS, 0)))
                return
            async for message in replica.run(_job(STEPS, 24)):
                messages.append(message)
                if message[0] == "partial":
                    first_partial.set()

        task = asyncio.create_task(consume())
        if method == "run":
            await asyncio.wait_for(first_partial.wait(), 120)
        for _ in range(2400):  # well into the run (past the first partial)
            if steps_seen[0] >= 2 * PARTIAL_AT:
                break
            await asyncio.sleep(0.05)
        with lock:
            at_cancel = steps_seen[0]
            task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(600):  # the engine thread finishes its current step, asks, and stops
            if replica.worker.figures.stopped_early:
                break
            await asyncio.sleep(0.05)
        figures = replica.worker.figures.as_dict()
        await replica.worker.stop()
        return at_cancel, steps_seen[0], {"figures": figures, "kinds": {m[0] for m in messages}}

    at_cancel, at_stop, seen = asyncio.run(scenario())
    assert seen["kinds"] == ({"partial"} if method == "run" else set())  # partials streamed, never a result
    assert seen["figures"]["stopped_early"] == 1 and seen["figures"]["cancelled_running"] == 1
    assert PARTIAL_AT <= at_cancel < STEPS
    # the step running at the cancel ends and asks (stops there), or, if the cancel reached the
    # worker's ticket after that step's question, the next one does: at most one more step runs
    assert at_stop - at_cancel <= 2, (at_cancel, at_stop)


def test_a_finished_job_ends_with_the_result_and_its_queue_wait_streamed_or_not(tmp_path, tiny_pipelines):
    async def scenario() -> tuple[list[tuple], tuple]:
        replica = await _replica(_config(tmp_path, tiny_pipelines["sd"]))
        try:
            capabilities = await replica.ready()  # what each ingress takes for its rules
            assert {"steps", "guidance_scale", "negative_prompt"} <= capabilities.extensions
            assert capabilities.native_size == (256, 256) and capabilities.partial_images
            return [message async for message in replica.run(_job(4, 1))], await replica.call(_job(4, 1))
        finally:
            await replica.worker.stop()

    messages, called = asyncio.run(scenario())
    assert [m[0] for m in messages] == ["partial", "done"]
    generation, queue_s = messages[-1][1], messages[-1][2]
    assert generation.images[0].shape == (256, 256, 3) and generation.info["steps"] == 4
    assert queue_s >= 0
    assert called[0] == "done" and called[2] >= 0  # the same job as one call: the same pixels, no partials
    assert np.array_equal(called[1].images[0], generation.images[0])

