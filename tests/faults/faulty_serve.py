"""`darkroom serve` with faults planted in its diffusers pipelines, for tests/faults/test_engine_faults.py.

    python -m tests.faults.faulty_serve serve --port P --config FILE     (the same arguments as darkroom)

It runs the real command (`darkroom.cli.main`) in this process after wrapping `DiffusersEngine.load`
so that each loaded text-to-image pipeline is a `FaultyPipeline`: the real pipeline, whose step
callback misbehaves at step `FAULT_STEP` when the request's prompt starts with a fault's name.
Every other prompt is served untouched, so the next request shows whether the server recovered.

    "fault:raise ..."        RuntimeError, like a kernel that fails mid-generation
    "fault:oom-cuda ..."     torch.OutOfMemoryError, what torch raises when a GPU allocation fails
    "fault:oom-host ..."     a real failed host allocation (torch asks the allocator for 100 TB)
    "fault:memoryerror ..."  MemoryError, what Python and numpy raise when malloc fails
    "fault:hang ..."         blocks inside the step, deaf to cancellation, until the file named by
                             $DARKROOM_FAULT_RELEASE exists (bounded: HANG_LIMIT_SECONDS), then
                             goes on to the engine's own step callback

Nothing in src/ knows about this: the faults happen inside the pipeline call, where real ones do.

Under `darkroom serve --ray` the pipelines load in Ray's worker processes, which this wrapper does not
reach: `planted_env` gives an environment whose PYTHONPATH makes every Python process plant the faults
at start (planted/sitecustomize.py), Ray's workers included.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

FAULT_STEP = 2
HANG_LIMIT_SECONDS = 120.0
PLANTED = Path(__file__).resolve().with_name("planted")  # sitecustomize.py
ROOT = PLANTED.parent.parent.parent  # the repository: `tests.faults` importable from any folder


class FaultyPipeline:
    """Stands in for a loaded pipeline: the same object for everything but `__call__`."""

    def __init__(self, pipe) -> None:
        self.__dict__["pipe"] = pipe

    def __getattr__(self, name):
        return getattr(self.__dict__["pipe"], name)

    def __setattr__(self, name, value) -> None:
        setattr(self.__dict__["pipe"], name, value)

    def __call__(self, **kwargs):
        prompts = kwargs.get("prompt") or [""]
        fault = next((p.split()[0].removeprefix("fault:") for p in prompts if p.startswith("fault:")), None)
        engine_callback = kwargs.get("callback_on_step_end")
        if fault is not None and engine_callback is not None:
            def on_step(pipe, step, timestep, tensors):
                if step + 1 == FAULT_STEP:
                    misbehave(fault)
                return engine_callback(pipe, step, timestep, tensors)

            kwargs["callback_on_step_end"] = on_step
        return self.__dict__["pipe"](**kwargs)


def misbehave(fault: str) -> None:
    import torch

    if fault == "raise":
        raise RuntimeError("CUBLAS_STATUS_EXECUTION_FAILED at /opt/secret/build/gemm.cu:77")
    if fault == "oom-cuda":
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 23.65 GiB total)")
    if fault == "oom-host":
        torch.empty(100 * 10**12, dtype=torch.uint8)  # 100 TB: the allocator refuses it
        raise AssertionError("the allocator granted 100 TB")
    if fault == "memoryerror":
        raise MemoryError()
    if fault == "hang":
        release = Path(os.environ["DARKROOM_FAULT_RELEASE"])
        print(f"faulty_serve: hanging until {release} exists", file=sys.stderr, flush=True)
        deadline = time.monotonic() + HANG_LIMIT_SECONDS
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return
    raise AssertionError(f"unknown fault {fault!r}")


def plant() -> None:
    from darkroom.engines.diffusers import DiffusersEngine

    load = DiffusersEngine.load

    def faulty_load(self) -> None:
        load(self)
        self._pipe = FaultyPipeline(self._pipe)

    DiffusersEngine.load = faulty_load


def planted_env(env: dict[str, str], release: Path) -> dict[str, str]:
    """`env` for a process whose Python processes, and theirs, plant the faults; "fault:hang" ends when
    `release` exists."""
    path = [str(PLANTED), str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    return {**env, "PYTHONPATH": os.pathsep.join(path), "DARKROOM_FAULT_RELEASE": str(release)}


if __name__ == "__main__":
    from darkroom.cli import main

    plant()
    sys.exit(main(sys.argv[1:]))
