"""Batching across requests: the same diffusers pipeline served with batching on and off, under 8 and 32
concurrent clients, in one `darkroom serve`.

    on    model `sd-batched`: max_batch_images = 8, batch_window_ms = 5 (the worker gathers compatible
          queued requests, up to 8 images, into one pipeline call)
    off   model `sd-single`:  max_batch_images = 1 (one pipeline call per request)

Both models point at the same pipeline folder; each configured model gets its own engine instance and
worker, so the two sides never share a queue. Only one side is driven at a time. Each round runs, for
8 then 32 clients, the two sides one after the other (the order flips every round); the table shows
medians over rounds and the ratio on / off.

Every request is the same shape (size, steps, guidance, scheduler: one batch key) with its own prompt
and seed, b64_json png. Clients are closed-loop (each sends its next request when its last one is
answered) on bench/load.py's raw HTTP/1.1 client (keep-alive, one connection per client), in this
process, on the same cores as the server.

    CPU (default)   tests/tiny_pipelines.py's tiny SD at 256x256, 4 steps. Aim: >= 1.2x images/s at 8
                    clients, with p99 latency no worse than 1.5x.
    BENCH_GPU=1     a full-size random-weight SD 1.5 (bench/gpu_engine.py's builder) at 512x512, 20 steps,
                    device cuda, dtype auto. Aim: >= 1.5x images/s at 8 clients. Without CUDA this mode
                    prints that it was skipped.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from PIL import Image

from ._common import (
    HOST,
    REPO_ROOT,
    fmt,
    free_port,
    median,
    percentile,
    python,
    ratio,
    start_process,
    stop_process,
    table,
)
from .load import RawConnection, raw_request

PATH = "/v1/images/generations"
PROMPTS = (
    "a photo of a red lighthouse on a hill at sunset",
    "a painting of a blue house in the city at night",
    "a green tree on a mountain by the sea",
    "a photo of a cat and a dog in the house",
)
SIDES = {"on": "sd-batched", "off": "sd-single"}
CLIENTS = (8, 32)
MAX_BATCH = 8
WINDOW_MS = 5
PHASE_GRACE_S = 120.0  # requests in flight at a phase's time limit may take this long to come back


@dataclass(frozen=True)
class Workload:
    label: str
    device: str
    dtype: str | None
    size: int
    steps: int
    guidance: float
    aim: float  # images/s on / off at 8 clients
    p99_aim: float | None  # p99 on / off at 8 clients, at most


@dataclass(frozen=True)
class Plan:
    rounds: int
    requests: int  # measured requests per phase, at most
    seconds: float  # per phase: no request is issued past this
    warmup_seconds: float  # discarded requests before each phase, for this long


CPU = Workload("tiny SD (random weights)", "cpu", None, 256, 4, 7.5, aim=1.2, p99_aim=1.5)
GPU = Workload("SD 1.5 (full size, random weights)", "cuda", "auto", 512, 20, 7.5, aim=1.5, p99_aim=None)
FULL = {"cpu": Plan(rounds=3, requests=600, seconds=12.0, warmup_seconds=2.0),
        "cuda": Plan(rounds=3, requests=1000, seconds=20.0, warmup_seconds=4.0)}
QUICK = {"cpu": Plan(rounds=2, requests=100, seconds=3.0, warmup_seconds=0.5),
         "cuda": Plan(rounds=2, requests=300, seconds=8.0, warmup_seconds=3.0)}


# ---------------------------------------------------------------------------------------------
# Server


def model_entry(name: str, folder: Path, work: Workload, max_batch: int) -> str:
    lines = ["[[models]]", f'name = "{name}"', 'engine = "diffusers"', 'family = "gpt-image"',
             f'path = "{folder.as_posix()}"', "local_files_only = true", f'device = "{work.device}"',
             "max_queue = 256", f"max_batch_images = {max_batch}", f"batch_window_ms = {WINDOW_MS}"]
    if work.dtype:
        lines.append(f'dtype = "{work.dtype}"')
    return "\n".join(lines) + "\n"


def payloads(model: str, work: Workload, count: int = 32) -> list[bytes]:
    """`count` requests of one batch key (size, steps, guidance), each with its own prompt and seed."""
    return [json.dumps({"model": model, "prompt": PROMPTS[i % len(PROMPTS)], "size": f"{work.size}x{work.size}",
                        "steps": work.steps, "guidance_scale": work.guidance, "seed": 1000 + i},
                       separators=(",", ":")).encode() for i in range(count)]


def engine_figures(port: int, model: str) -> tuple[int, float]:
    """(engine calls, images generated) so far by `model`'s worker, from /health."""
    stat = httpx.get(f"http://{HOST}:{port}/health", timeout=10).json()["workers"][model]["batch_images"]
    return stat["count"], stat.get("mean", 0.0) * stat["count"]


# ---------------------------------------------------------------------------------------------
# Clients


@dataclass
class Phase:
    latencies_ms: list[float] = field(default_factory=list)  # successful requests
    batches: list[int] = field(default_factory=list)  # x-darkroom-batch of each successful request
    errors: int = 0
    wall_s: float = 0.0
    engine_calls: int = 0
    images: float = 0.0
    sample: bytes = b""  # one response body, checked after the phase
    error_sample: str = ""  # the first non-200, for the error message


async def _closed_loop(connections: list[RawConnection], requests: list[bytes], count: int, seconds: float,
                       phase: Phase | None) -> None:
    issued = 0
    deadline = time.perf_counter() + seconds

    async def client(conn: RawConnection) -> None:
        nonlocal issued
        while issued < count and time.perf_counter() < deadline:
            raw = requests[issued % len(requests)]
            issued += 1
            started = time.perf_counter()
            status, headers, body = await conn.request(raw)
            elapsed_ms = (time.perf_counter() - started) * 1000
            if phase is None:
                continue
            if status != 200:
                phase.errors += 1
                phase.error_sample = phase.error_sample or f"{status} {body[:300]!r}"
                continue
            phase.latencies_ms.append(elapsed_ms)
            phase.batches.append(int(headers.get(b"x-darkroom-batch", b"0")))
            if not phase.sample:
                phase.sample = body

    await asyncio.wait_for(asyncio.gather(*(client(c) for c in connections)), timeout=seconds + PHASE_GRACE_S)


async def _phase(port: int, model: str, work: Workload, clients: int, plan: Plan) -> Phase:
    requests = [raw_request(port, PATH, p) for p in payloads(model, work)]
    connections = [RawConnection(port) for _ in range(clients)]
    phase = Phase()
    try:
        await _closed_loop(connections, requests, 10 ** 6, plan.warmup_seconds, None)
        calls, images = engine_figures(port, model)
        started = time.perf_counter()
        await _closed_loop(connections, requests, plan.requests, plan.seconds, phase)
        phase.wall_s = time.perf_counter() - started
        calls_after, images_after = engine_figures(port, model)
        phase.engine_calls, phase.images = calls_after - calls, images_after - images
    finally:
        for conn in connections:
            await conn.close()
    return phase


def run_phase(port: int, model: str, work: Workload, clients: int, plan: Plan) -> Phase:
    phase = asyncio.run(_phase(port, model, work, clients, plan))
    if not phase.sample:
        raise RuntimeError(f"{model} at {clients} clients: no successful response ({phase.errors} errors, "
                           f"first: {phase.error_sample})")
    image = Image.open(io.BytesIO(base64.b64decode(json.loads(phase.sample)["data"][0]["b64_json"])))
    if (image.format, image.size) != ("PNG", (work.size, work.size)):
        raise RuntimeError(f"{model}: got a {image.format} {image.size}")
    return phase


# ---------------------------------------------------------------------------------------------
# Figures


@dataclass
class Reduced:
    ips: float  # images/s
    p50: float
    p99: float
    per_call: float  # images per engine call (server)
    count: int
    errors: int


def reduce(phase: Phase) -> Reduced:
    ok = len(phase.latencies_ms)
    return Reduced(ips=ok / phase.wall_s if phase.wall_s else float("nan"),
                   p50=percentile(phase.latencies_ms, 50), p99=percentile(phase.latencies_ms, 99),
                   per_call=phase.images / phase.engine_calls if phase.engine_calls else float("nan"),
                   count=ok + phase.errors, errors=phase.errors)


def results_table(work: Workload, plan: Plan, results: dict[tuple[int, str], list[Reduced]]) -> str:
    rows = []

    def med(clients: int, side: str, name: str) -> float:
        return median([getattr(r, name) for r in results[(clients, side)]])

    for clients in CLIENTS:
        for label, name, digits in (("images/s", "ips", 2), ("latency p50 ms", "p50", 0),
                                    ("latency p99 ms", "p99", 0), ("images per engine call", "per_call", 2)):
            on, off = med(clients, "on", name), med(clients, "off", name)
            rows.append([f"c={clients:<3} {label}", fmt(on, digits), fmt(off, digits), ratio(on, off)])
    lines = [table(["", "batching on", "off", "on / off"], rows)]
    for clients in CLIENTS:
        spread = " | ".join(f"{side} " + " ".join(fmt(r.ips, 2) for r in results[(clients, side)])
                            for side in ("on", "off"))
        lines.append(f"   c={clients} images/s per round: {spread}")
    measured = {k: sum(r.count for r in v) for k, v in results.items()}
    errors = sum(r.errors for v in results.values() for r in v)
    lines.append("   requests measured: " + ", ".join(
        f"c={c} {s} {measured[(c, s)]}" for c in CLIENTS for s in ("on", "off")) + f"; non-200: {errors}")
    gain = med(8, "on", "ips") / med(8, "off", "ips")
    p99 = med(8, "on", "p99") / med(8, "off", "p99")
    verdict = "met" if gain >= work.aim and (work.p99_aim is None or p99 <= work.p99_aim) else "NOT met"
    p99_aim = f", p99 on / off <= {work.p99_aim:g}x (got {p99:.2f}x)" if work.p99_aim else f" (p99 ratio {p99:.2f}x)"
    lines.append(f"   aim at c=8: images/s on / off >= {work.aim:g}x (got {gain:.2f}x){p99_aim}: {verdict}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Running


def _build(work: Workload, folder: Path) -> Path:
    sys.path.insert(0, str(REPO_ROOT))
    if work.device == "cpu":
        from tests.tiny_pipelines import build_tiny_sd

        return build_tiny_sd(folder)
    from .gpu_engine import build_sd15

    return build_sd15(folder, device="cuda")


def _load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "-"


def measure(work: Workload, plan: Plan) -> str:
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    for key, value in env.items():
        os.environ.setdefault(key, value)
    server = None
    with tempfile.TemporaryDirectory(prefix="darkroom-bench-batching-") as tmp:
        work_dir = Path(tmp)
        try:
            started = time.perf_counter()
            folder = _build(work, work_dir / "pipeline")
            built_s = time.perf_counter() - started
            config = work_dir / "darkroom.toml"
            config.write_text(f'data_dir = "{(work_dir / "data").as_posix()}"\n\n'
                              + model_entry(SIDES["on"], folder, work, MAX_BATCH) + "\n"
                              + model_entry(SIDES["off"], folder, work, 1))
            port = free_port()
            server = start_process(
                [python(), "-m", "darkroom", "serve", "--port", str(port), "--config", str(config),
                 "--log-level", "warning"],
                work_dir / "darkroom.log", f"http://{HOST}:{port}/health", timeout=600, env=env)
            results: dict[tuple[int, str], list[Reduced]] = {(c, s): [] for c in CLIENTS for s in SIDES}
            load_before = _load_average()
            for r in range(plan.rounds):
                order = ("on", "off") if r % 2 == 0 else ("off", "on")
                for clients in CLIENTS:
                    for side in order:
                        results[(clients, side)].append(reduce(run_phase(port, SIDES[side], work, clients, plan)))
                if server.poll() is not None:
                    raise RuntimeError(f"the darkroom server died (exit {server.returncode})")
            legend = (
                f"batching: {work.label}, {work.size}x{work.size}, {work.steps} steps, guidance {work.guidance:g}, "
                f"png b64_json, device {work.device}; one `darkroom serve` (log level warning) with two models on "
                f"the same folder: on = max_batch_images {MAX_BATCH}, batch_window_ms {WINDOW_MS}; off = "
                f"max_batch_images 1\n"
                f"closed-loop clients (raw HTTP/1.1, keep-alive) in this process; {plan.rounds} rounds, order "
                f"flipping; per phase {plan.warmup_seconds:g} s discarded warm-up, then up to {plan.requests} "
                f"requests / {plan.seconds:g} s; medians over rounds (pipeline built in {built_s:.0f} s)\n"
                f"1-minute load average before / after the rounds: {load_before} / {_load_average()} "
                f"(this benchmark's own load included; much more means other work on the machine)"
            )
            return legend + "\n\n" + results_table(work, plan, results)
        finally:
            stop_process(server)


def run(quick: bool) -> str:
    if os.environ.get("BENCH_GPU") == "1":
        try:
            import torch
        except ImportError:
            return "batching (BENCH_GPU=1): skipped: needs torch with CUDA and a GPU (torch is not installed)"
        if not torch.cuda.is_available():
            return "batching (BENCH_GPU=1): skipped: needs a CUDA GPU (torch.cuda.is_available() is False here)"
        work = GPU
    else:
        work = CPU
    return measure(work, (QUICK if quick else FULL)[work.device])


if __name__ == "__main__":
    print(run("--quick" in sys.argv[1:]))
