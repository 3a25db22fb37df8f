"""Memory of the server: resident set (VmRSS) and its peak (VmHWM) of a real `darkroom serve`.

Two servers, one after the other (open, temporary data dir, log level warning):
    sketch     the default catalog; 1024x1024 = gpt-image-1 quality medium png b64_json;
               load = dall-e-2 256x256 b64_json
    tiny-sd    tests/tiny_pipelines.py's build_tiny_sd as a `diffusers` model; 1024x1024 = steps 2 (the
               `steps` extension) png b64_json; load = 256x256

Phases, each read from /proc/PID/status: idle after start; one 1024x1024 request (cold: the first
one); the same again (warm, repeated); a 1024x1024 n=4 request; 32 concurrent clients (bench/load.py's
raw client) for a bounded number of 256x256 requests. Before every phase the kernel's peak (VmHWM) is
reset (`echo 5 > /proc/PID/clear_refs`), so each phase's peak is its own; VmRSS is also sampled every
50 ms during the phase (the fallback where the reset is refused).

The minimum a request must hold is one copy of each form of its images: pixels (uint8, H x W x 3),
PNG bytes, base64, and the JSON body (sizes from the actual response); for the load phase, that for
32 requests in flight. growth / minimum says how many copies the path holds at its peak.

A second table measures, in this process with tracemalloc, the peak of each stage of the engine ->
base64 -> JSON path for one 1024x1024 image, as Darkroom does it and with the copies removed.
"""

from __future__ import annotations

import base64
import json
import sys
import tempfile
import threading
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from ._common import (
    HOST,
    REPO_ROOT,
    fmt,
    free_port,
    median,
    python,
    start_process,
    stop_process,
    table,
)
from .load import DARKROOM_PATH, PROMPTS, Target, drive

MB = 1e6
CONCURRENCY = 32


@dataclass(frozen=True)
class Plan:
    repeats: int  # warm 1024x1024 n=1 requests (each with its own peak reset); the median is shown
    load_requests: dict[str, int]  # engine -> requests at c=32
    load_seconds: float


FULL = Plan(repeats=3, load_requests={"sketch": 2000, "tiny-sd": 128}, load_seconds=60.0)
QUICK = Plan(repeats=1, load_requests={"sketch": 300, "tiny-sd": 48}, load_seconds=20.0)


# ---------------------------------------------------------------------------------------------
# /proc


def status_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB (1e6 bytes)."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024 / MB
    return values["VmRSS"], values["VmHWM"]


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current VmRSS (Linux >= 4.0); False where refused."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class Sampler:
    """VmRSS every `interval` s in a thread, while the phase runs."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval, self.peak = pid, interval, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, status_mb(self.pid)[0])
            except (OSError, KeyError):
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.peak = max(self.peak, status_mb(self.pid)[0])


@dataclass
class Phase:
    label: str
    before: float = float("nan")  # VmRSS at the start
    after: float = float("nan")  # VmRSS at the end
    peak: float = float("nan")  # VmHWM (reset at the start) or, if that was refused, the sampled peak
    sampled: float = float("nan")  # highest VmRSS sampled every 50 ms
    minimum: float = float("nan")  # MB the requests must hold: pixels + png + base64 + JSON
    detail: str = ""


def measure(pid: int, label: str, work) -> Phase:
    phase = Phase(label)
    reset = reset_peak(pid)
    phase.before = status_mb(pid)[0]
    with Sampler(pid) as sampler:
        work(phase)
    phase.after, hwm = status_mb(pid)
    phase.sampled = sampler.peak
    phase.peak = hwm if reset else sampler.peak
    return phase


# ---------------------------------------------------------------------------------------------
# Requests


def response_minimum(body: bytes, width: int, height: int) -> tuple[float, str]:
    """Bytes one copy of each form needs (pixels, png, base64, JSON), from a real response."""
    data = json.loads(body)["data"]
    b64_total = sum(len(d["b64_json"]) for d in data)
    png_total = sum(len(base64.b64decode(d["b64_json"])) for d in data)
    pixels = len(data) * width * height * 3
    total = pixels + png_total + b64_total + len(body)
    return total / MB, (f"pixels {pixels / MB:.2f} + png {png_total / MB:.2f} + base64 {b64_total / MB:.2f} "
                        f"+ JSON {len(body) / MB:.2f} MB")


def one_request(port: int, payload: dict, width: int, height: int):
    def work(phase: Phase) -> None:
        resp = httpx.post(f"http://{HOST}:{port}{DARKROOM_PATH}", json=payload, timeout=600)
        if resp.status_code != 200:
            raise RuntimeError(f"darkroom answered {resp.status_code}: {resp.text[:500]}")
        phase.minimum, phase.detail = response_minimum(resp.content, width, height)
    return work


def load_phase(port: int, pid: int, fields: dict, requests: int, seconds: float, width: int, height: int):
    payloads = [json.dumps({"prompt": p, **fields}, separators=(",", ":")).encode() for p in PROMPTS]

    def work(phase: Phase) -> None:
        resp = httpx.post(f"http://{HOST}:{port}{DARKROOM_PATH}", content=payloads[0],
                          headers={"content-type": "application/json"}, timeout=600)
        one, _ = response_minimum(resp.content, width, height)
        result = drive(Target("darkroom", port, pid, DARKROOM_PATH), payloads, CONCURRENCY, requests, seconds,
                       0, "raw")
        ok = sum(s.status == 200 for s in result.samples)
        phase.minimum = CONCURRENCY * one
        phase.detail = (f"{ok} x 200 of {len(result.samples)} in {result.wall_s:.1f} s; minimum = {CONCURRENCY} "
                        f"in flight x {one:.3f} MB")
    return work


@dataclass
class EngineCase:
    name: str
    one: dict  # the 1024x1024 request (n added)
    load: dict  # the 256x256 request of the load phase
    phases: list[Phase] = field(default_factory=list)
    idle: float = float("nan")
    reset_ok: bool = True


def run_case(case: EngineCase, port: int, pid: int, plan: Plan) -> None:
    time.sleep(1.0)
    case.idle = status_mb(pid)[0]
    case.reset_ok = reset_peak(pid)
    one = {**case.one, "n": 1}
    four = {**case.one, "n": 4}
    case.phases.append(measure(pid, "1024x1024 n=1, first request", one_request(port, one, 1024, 1024)))
    warm = [measure(pid, "1024x1024 n=1, again", one_request(port, {**one, "seed": 100 + i}, 1024, 1024))
            for i in range(plan.repeats)]
    case.phases.append(_median_phase(f"1024x1024 n=1, again (median of {len(warm)})", warm))
    case.phases.append(measure(pid, "1024x1024 n=4", one_request(port, four, 1024, 1024)))
    case.phases.append(measure(pid, f"load: c={CONCURRENCY}, 256x256",
                               load_phase(port, pid, case.load, plan.load_requests[case.name], plan.load_seconds,
                                          256, 256)))


def _median_phase(label: str, phases: list[Phase]) -> Phase:
    out = Phase(label)
    for name in ("before", "after", "peak", "sampled", "minimum"):
        setattr(out, name, median([getattr(p, name) for p in phases]))
    out.detail = phases[-1].detail
    return out


def case_table(case: EngineCase) -> str:
    rows = [["idle after start", fmt(case.idle, 1), "-", fmt(case.idle, 1), "-", "-", "-", "-", "-", "-"]]
    for p in case.phases:
        growth_idle, growth_before = p.peak - case.idle, p.peak - p.before
        rows.append([p.label, fmt(p.before, 1), fmt(p.peak, 1), fmt(p.after, 1), fmt(p.sampled, 1),
                     fmt(growth_idle, 1), fmt(growth_before, 1), fmt(p.minimum, 2),
                     f"{growth_idle / p.minimum:.1f}x" if p.minimum else "-",
                     f"{growth_before / p.minimum:.1f}x" if p.minimum else "-"])
    lines = [f"== {case.name}: MB (1e6 bytes); peak = VmHWM "
             f"{'reset before each phase' if case.reset_ok else '(reset refused: sampled VmRSS)'}",
             table(["", "RSS before", "peak", "RSS after", "sampled peak", "peak - idle", "peak - before",
                    "minimum", "(peak-idle)/min", "(peak-before)/min"], rows)]
    lines += [f"   {p.label}: minimum = {p.detail}" for p in case.phases]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# In process: the copies on the path engine -> base64 -> JSON, per stage (tracemalloc)


def _traced(fn):
    """(result, MB still held by the result, peak MB above the start) of one call; numpy and Python
    objects are traced, Pillow's own image memory is not."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    start, _ = tracemalloc.get_traced_memory()
    result = fn()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, (current - start) / MB, (peak - start) / MB


def copies_table() -> str:
    """Memory each stage of the engine-to-JSON path holds and peaks at, for one 1024x1024 image, as the
    code is now (the copies this table once revealed were removed: see bench/README.md)."""
    from PIL import Image as PILImage

    from darkroom.engines import sketch
    from darkroom.engines.diffusers import _to_uint8
    from darkroom.postprocess import png
    from darkroom.postprocess.encode import b64, encode
    from darkroom.protocol.images import Image, ImagesResponse

    rows = []
    prompt = "a red fox sitting in fresh snow at dawn, soft light"
    pixels, held, peak = _traced(lambda: sketch.render(prompt, 1024, 1024, seed=3, quality="medium"))
    rows.append(["sketch render 1024x1024 medium", fmt(held, 2), fmt(peak, 2), "float32 planes, in place"])

    # diffusers returns a float32 NHWC view of an NCHW buffer (pt_to_numpy: permute().numpy()).
    rng = np.random.default_rng(0)
    for n in (1, 4):
        floats = (rng.random((n, 3, 1024, 1024), dtype=np.float32) * 1.2 - 0.1).transpose(0, 2, 3, 1)
        images, held, peak = _traced(lambda f=floats: _to_uint8(f))
        rows.append([f"diffusers float32 -> uint8, n={n}", fmt(held, 2), fmt(peak, 2),
                     f"C-contiguous: {images[0].flags['C_CONTIGUOUS']}"])
        del floats
    packed = images[0]
    _, held, peak = _traced(lambda: PILImage.fromarray(packed))
    rows.append(["Image.fromarray(uint8 image)", fmt(held, 2), fmt(peak, 2), "(Pillow's own copy untraced)"])

    for what, img in (("noise (tiny-sd-like)", packed), ("sketch", pixels)):
        blob, held, peak = _traced(lambda: encode(img, "png"))
        rows.append([f"encode png, {what}: {len(blob) / MB:.2f} MB", fmt(held, 2), fmt(peak, 2),
                     f"peak = {peak / (len(blob) / MB):.1f} x png" if len(blob) > MB else ""])
        if png.available():
            _, held, peak = _traced(lambda: png.average_filtered(img))
            rows.append(["  png.average_filtered", fmt(held, 2), fmt(peak, 2), "uint16 'total' = 2 x pixels"])
        text, held, peak = _traced(lambda: b64(blob))
        rows.append(["  b64(): -> str", fmt(held, 2), fmt(peak, 2), f"{peak / max(held, 1e-9):.1f} x the result"])
        response = ImagesResponse(created=1, data=[Image(b64_json=text)])
        _, held, peak = _traced(response.to_json)
        rows.append(["  ImagesResponse.to_json -> bytes", fmt(held, 2), fmt(peak, 2),
                     f"{peak / max(held, 1e-9):.1f} x the JSON"])
    return "\n".join([
        "== in process, tracemalloc, one 1024x1024 image: MB held by the result and peak above the start "
        "(numpy + Python objects; Pillow's own buffers untraced)",
        table(["stage", "held", "peak", ""], rows),
    ])


# ---------------------------------------------------------------------------------------------


def run(quick: bool) -> str:
    plan = QUICK if quick else FULL
    sys.path.insert(0, str(REPO_ROOT))
    from tests.tiny_pipelines import build_tiny_sd

    from .engine_overhead import config_text, model_toml

    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    tables = [
        f"memory: real `darkroom serve` (open, log level warning); VmRSS/VmHWM from /proc/PID/status; "
        f"{plan.repeats} warm 1024x1024 repeat(s); load: {CONCURRENCY} clients, sketch "
        f"{plan.load_requests['sketch']} / tiny-sd {plan.load_requests['tiny-sd']} requests, at most "
        f"{plan.load_seconds:g} s"]
    with tempfile.TemporaryDirectory(prefix="darkroom-bench-memory-") as tmp:
        work = Path(tmp)
        folder = build_tiny_sd(work / "tiny-sd")
        cases = [
            (EngineCase("sketch", {"model": "gpt-image-1", "prompt": PROMPTS[0], "size": "1024x1024",
                                   "quality": "medium", "output_format": "png"},
                        {"model": "dall-e-2", "size": "256x256", "response_format": "b64_json"}),
             f'data_dir = "{(work / "data-sketch").as_posix()}"\n'),
            (EngineCase("tiny-sd", {"model": "tiny-sd", "prompt": PROMPTS[0], "size": "1024x1024", "steps": 2,
                                    "output_format": "png"},
                        {"model": "tiny-sd", "size": "256x256", "steps": 2}),
             config_text(work / "data-sd", model_toml("tiny-sd", folder))),
        ]
        for case, config_body in cases:
            config = work / f"{case.name}.toml"
            config.write_text(config_body)
            port = free_port()
            server = None
            try:
                server = start_process(
                    [python(), "-m", "darkroom", "serve", "--port", str(port), "--config", str(config),
                     "--log-level", "warning"],
                    work / f"{case.name}.log", f"http://{HOST}:{port}/health", timeout=240, env=env)
                run_case(case, port, server.pid, plan)
                if server.poll() is not None:
                    raise RuntimeError(f"the {case.name} server died (exit {server.returncode})")
            finally:
                stop_process(server)
            tables.append(case_table(case))
    tables.append(copies_table())
    return "\n\n".join(tables)


if __name__ == "__main__":
    print(run("--quick" in sys.argv))
