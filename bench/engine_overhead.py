"""What Darkroom adds on top of a diffusers pipeline: the same tiny SD pipeline, the same parameters, two ways.

    direct     in this process: pipe(prompt, height, width, num_inference_steps, guidance_scale,
               generator=torch.Generator("cpu").manual_seed(seed), output_type="np"), uint8 conversion,
               PNG with darkroom.postprocess.encode.encode and base64: the least any server must do
    darkroom   a real `darkroom serve` with the same pipeline folder as a `diffusers` model, one request
               at a time over HTTP (httpx, keep-alive), same prompt, size, steps, guidance and seed, b64_json

Rounds alternate (the order flips every round), warm-ups are discarded, every loop is bounded in count
and time. Both sides use torch's default thread count (this process does not change it, nor does the
server unless its engine does): compare like with like.

The pipeline is tests/tiny_pipelines.py's `build_tiny_sd` (random weights, a few MB), built in a
temporary folder. It is tiny on purpose: a real model's seconds of compute would hide any overhead, so
this is the hardest case for the ratio.
"""

from __future__ import annotations

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
import numpy as np
from PIL import Image

from ._common import (
    HOST,
    REPO_ROOT,
    fmt,
    free_port,
    median,
    process_cpu_seconds,
    python,
    ratio,
    start_process,
    stop_process,
    table,
)

MODEL = "tiny-sd"
PROMPT = "a photo of a red lighthouse on a hill at sunset"
SEED = 7
STEPS = 2
GUIDANCE = 7.5
SIZES = ((256, 256), (512, 512))


@dataclass(frozen=True)
class Plan:
    rounds: int  # undisturbed rounds wanted per size; each round runs `per_round` of each side
    per_round: dict[int, int]  # width -> requests per side per round
    warmup: int  # discarded runs of each side before the first round
    seconds: float  # time bound per size (both sides together): no round starts past it


FULL = Plan(rounds=10, per_round={256: 5, 512: 3}, warmup=3, seconds=150.0)
QUICK = Plan(rounds=3, per_round={256: 3, 512: 2}, warmup=1, seconds=30.0)


def model_toml(name: str, model_path: Path, *, device: str = "cpu", dtype: str | None = None,
               steps: int = STEPS, guidance: float = GUIDANCE) -> str:
    """One `[[models]]` entry serving the diffusers folder `model_path` (quality presets: low and
    medium = `steps`, high = twice that, all at `guidance`)."""
    lines = [
        "[[models]]",
        f'name = "{name}"',
        'engine = "diffusers"',
        'family = "gpt-image"',
        f'path = "{model_path.as_posix()}"',
        "local_files_only = true",
        f'device = "{device}"',
    ]
    if dtype:
        lines.append(f'dtype = "{dtype}"')
    lines.append(f"presets = {{ low = {{ steps = {steps}, guidance_scale = {guidance} }}, "
                 f"medium = {{ steps = {steps}, guidance_scale = {guidance} }}, "
                 f"high = {{ steps = {2 * steps}, guidance_scale = {guidance} }} }}")
    return "\n".join(lines) + "\n"


def config_text(data_dir: Path, *models: str) -> str:
    """A whole Darkroom config: a temporary data dir and the given `model_toml` entries."""
    return f'data_dir = "{data_dir.as_posix()}"\n\n' + "\n".join(models)


# ---------------------------------------------------------------------------------------------
# The two sides


class Direct:
    """The baseline: the pipeline called in this process, then what any server must add (uint8, PNG, base64)."""

    def __init__(self, folder: Path, device: str = "cpu", dtype: str = "float32") -> None:
        import torch
        from diffusers import AutoPipelineForText2Image

        self.torch = torch
        self.pipe = AutoPipelineForText2Image.from_pretrained(folder, local_files_only=True,
                                                              dtype=getattr(torch, dtype)).to(device)
        self.pipe.set_progress_bar_config(disable=True)

    def close(self) -> None:
        del self.pipe

    def pixels(self, width: int, height: int, steps: int, guidance: float, seed: int) -> np.ndarray:
        out = self.pipe(PROMPT, height=height, width=width, num_inference_steps=steps, guidance_scale=guidance,
                        generator=self.torch.Generator("cpu").manual_seed(seed), output_type="np")
        # Round half up (+0.5, truncate), as Darkroom does; numpy's round() (half to even) differs by 1/255
        # on a few exact ties. nan_to_num: random fp16 weights (bench/gpu_engine.py) may overflow.
        return (np.clip(np.nan_to_num(out.images[0]), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)

    def __call__(self, width: int, height: int, steps: int, guidance: float,
                 seed: int) -> tuple[float, str, float, float]:
        """One image: (total s, b64_json, pipeline s, png + base64 s)."""
        from darkroom.postprocess.encode import encode

        started = time.perf_counter()
        pixels = self.pixels(width, height, steps, guidance, seed)
        piped = time.perf_counter()
        b64_json = base64.b64encode(encode(pixels, "png")).decode("ascii")
        done = time.perf_counter()
        return done - started, b64_json, piped - started, done - piped


class OverHttp:
    """Darkroom: one POST /v1/images/generations at a time, timed from sending to the last byte read."""

    def __init__(self, port: int, model: str = MODEL, server_pid: int | None = None) -> None:
        self.client = httpx.Client(base_url=f"http://{HOST}:{port}", timeout=300)
        self.model = model
        self.server_pid = server_pid  # to tell the server's CPU time from other processes'

    def body(self, width: int, height: int, steps: int, guidance: float, seed: int) -> bytes:
        return json.dumps({"model": self.model, "prompt": PROMPT, "size": f"{width}x{height}", "quality": "low",
                           "seed": seed, "steps": steps, "guidance_scale": guidance}).encode()

    def __call__(self, width: int, height: int, steps: int, guidance: float, seed: int) -> tuple[float, httpx.Response]:
        content = self.body(width, height, steps, guidance, seed)
        started = time.perf_counter()
        resp = self.client.post("/v1/images/generations", content=content,
                                headers={"content-type": "application/json"})
        elapsed = time.perf_counter() - started
        if resp.status_code != 200:
            raise RuntimeError(f"darkroom answered {resp.status_code}: {resp.text[:500]}")
        return elapsed, resp

    def close(self) -> None:
        self.client.close()


# ---------------------------------------------------------------------------------------------
# Measuring


DISTURBED_PCT = 10.0  # a round during which other processes used more than this % of the machine is left out


def _machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy (all cores; steal counted as busy), from /proc/stat."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


class ForeignCpu:
    """How much of the machine other processes used while a round ran: machine busy time minus this
    process's and the server's CPU time, as a % of wall time x cores. NaN where /proc is missing."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid
        self.cores = os.cpu_count() or 1
        self.start = self._sample()

    def _sample(self) -> tuple[float, float, float]:
        ours = time.process_time() + (process_cpu_seconds(self.server_pid) if self.server_pid else 0.0)
        return time.perf_counter(), _machine_busy_s(), ours

    def percent(self) -> float:
        end = self._sample()
        wall = end[0] - self.start[0]
        foreign = (end[1] - self.start[1]) - (end[2] - self.start[2])
        return max(0.0, 100 * foreign / (wall * self.cores)) if wall > 0 else float("nan")


@dataclass
class Round:
    """One round: both sides, `per_round` runs each (ms), and other processes' CPU meanwhile."""

    direct_ms: list[float] = field(default_factory=list)  # whole direct call
    darkroom_ms: list[float] = field(default_factory=list)  # whole HTTP request
    pipe_ms: list[float] = field(default_factory=list)  # direct: the pipeline call and uint8 conversion
    png_ms: list[float] = field(default_factory=list)  # direct: PNG + base64
    engine_ms: list[float] = field(default_factory=list)  # darkroom: the server's x-darkroom-engine-ms
    encode_ms: list[float] = field(default_factory=list)  # darkroom: the server's x-darkroom-encode-ms
    foreign_pct: float = float("nan")  # other processes' CPU, % of the machine

    @property
    def disturbed(self) -> bool:
        return self.foreign_pct > DISTURBED_PCT


@dataclass
class SizeResult:
    width: int
    height: int
    steps: int
    guidance: float
    rounds: list[Round] = field(default_factory=list)
    same_pixels: str = "-"
    elapsed_s: float = 0.0

    def kept(self) -> list[Round]:
        """The undisturbed rounds; all of them where every round was disturbed (the table says so)."""
        return [r for r in self.rounds if not r.disturbed] or self.rounds


def _header(resp: httpx.Response, name: str) -> float:
    value = resp.headers.get(name)
    return float(value) if value is not None else float("nan")


def _decode(b64_json: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64_json))).convert("RGB"))


def compare_pixels(mine: str, theirs: str) -> str:
    a, b = _decode(mine), _decode(theirs)
    if a.shape != b.shape:
        return f"no: shapes {a.shape} vs {b.shape}"
    diff = int(np.abs(a.astype(int) - b.astype(int)).max())
    return "yes (identical)" if diff == 0 else f"no: max |diff| {diff}/255"


def measure_size(direct: Direct, http: OverHttp, width: int, height: int, *, rounds: int, per_round: int,
                 warmup: int, seconds: float, steps: int = STEPS, guidance: float = GUIDANCE) -> SizeResult:
    """`warmup` discarded runs of each side, then rounds (order flipping) of `per_round` runs of each side
    until `rounds` undisturbed ones are in, at most 2 x `rounds` rounds and no new round after `seconds`."""
    result = SizeResult(width, height, steps, guidance)
    started = time.perf_counter()
    # Warm-up (discarded), and the check that both sides make the very same image from the same seed.
    for _ in range(max(1, warmup)):
        _, mine, _, _ = direct(width, height, steps, guidance, SEED)
        _, resp = http(width, height, steps, guidance, SEED)
    result.same_pixels = compare_pixels(mine, resp.json()["data"][0]["b64_json"])
    deadline = time.perf_counter() + seconds
    r = 0
    while (sum(not x.disturbed for x in result.rounds) < rounds and r < 2 * rounds
           and time.perf_counter() < deadline):
        sides = ("direct", "darkroom") if r % 2 == 0 else ("darkroom", "direct")
        rnd = Round()
        watch = ForeignCpu(http.server_pid)
        for side in sides:
            for i in range(per_round):
                seed = SEED + 1 + r * per_round + i  # a fresh image each time, the same seeds on both sides
                if side == "direct":
                    elapsed, _, pipe_s, png_s = direct(width, height, steps, guidance, seed)
                    rnd.direct_ms.append(elapsed * 1000)
                    rnd.pipe_ms.append(pipe_s * 1000)
                    rnd.png_ms.append(png_s * 1000)
                else:
                    elapsed, resp = http(width, height, steps, guidance, seed)
                    rnd.darkroom_ms.append(elapsed * 1000)
                    rnd.engine_ms.append(_header(resp, "x-darkroom-engine-ms"))
                    rnd.encode_ms.append(_header(resp, "x-darkroom-encode-ms"))
        rnd.foreign_pct = watch.percent()
        result.rounds.append(rnd)
        r += 1
    result.elapsed_s = time.perf_counter() - started
    return result


def size_table(res: SizeResult, aim: float = 1.05) -> str:
    kept = res.kept()

    def flat(name: str) -> list[float]:
        return [v for rnd in kept for v in getattr(rnd, name)]

    flat_d, flat_k = flat("direct_ms"), flat("darkroom_ms")
    med_d, med_k = median(flat_d), median(flat_k)
    rmed_d = median([median(r.direct_ms) for r in kept])
    rmed_k = median([median(r.darkroom_ms) for r in kept])
    min_d, min_k = min(flat_d, default=float("nan")), min(flat_k, default=float("nan"))
    per_round = [median(r.darkroom_ms) / median(r.direct_ms) for r in kept]
    pipe, png = median(flat("pipe_ms")), median(flat("png_ms"))
    engine, encode = median(flat("engine_ms")), median(flat("encode_ms"))
    rows = [
        ["median ms (all runs)", fmt(med_d), fmt(med_k), ratio(med_k, med_d)],
        ["median of round medians ms", fmt(rmed_d), fmt(rmed_k), ratio(rmed_k, rmed_d)],
        ["min ms", fmt(min_d), fmt(min_k), ratio(min_k, min_d)],
        ["pipeline ms p50 (darkroom: x-darkroom-engine-ms)", fmt(pipe), fmt(engine), ratio(engine, pipe)],
        ["png + base64 ms p50 (darkroom: x-darkroom-encode-ms)", fmt(png), fmt(encode), ratio(encode, png)],
        ["rest p50 ms (median total - pipeline - png)", fmt(med_d - pipe - png), fmt(med_k - engine - encode), "-"],
    ]
    disturbed = [r for r in res.rounds if r.disturbed]
    all_disturbed = bool(res.rounds) and len(disturbed) == len(res.rounds)
    if not flat_d or not flat_k:
        verdict = "unknown: nothing measured"
    else:
        verdict = "met" if med_k / med_d <= aim else "NOT met"
        if all_disturbed:
            verdict += " (but every round was disturbed: run again on a quiet machine)"
    foreign = [r.foreign_pct for r in kept if r.foreign_pct == r.foreign_pct]
    if all_disturbed:
        used = ", ".join(f"{r.foreign_pct:.0f}%" for r in disturbed)
        noise = (f"EVERY round was disturbed (other processes used {used} of the machine; limit "
                 f"{DISTURBED_PCT:g}%): the figures above are from those rounds")
    else:
        left_out = (f"{len(disturbed)} disturbed round(s) left out (other processes used "
                    f"{', '.join(f'{r.foreign_pct:.0f}%' for r in disturbed)} of the machine)" if disturbed
                    else "no round left out")
        noise = (f"other processes' CPU during kept rounds: at most "
                 f"{f'{max(foreign):.1f}%' if foreign else '-'} of the machine (limit {DISTURBED_PCT:g}%); {left_out}")
    spread = f"{min(per_round):.2f}-{max(per_round):.2f}" if per_round else "-"
    per_side = len(kept[0].direct_ms) if kept else 0
    return "\n".join([
        f"== {res.width}x{res.height}, {res.steps} steps, guidance {res.guidance:g}, png b64_json; "
        f"{len(kept)} rounds x {per_side} runs per side ({len(flat_d)} + {len(flat_k)} measured) "
        f"in {res.elapsed_s:.0f} s",
        table(["", "direct", "darkroom", "ratio"], rows),
        f"   ratio per round (median darkroom / median direct): {spread}; same pixels as direct for seed "
        f"{SEED}: {res.same_pixels}",
        f"   {noise}",
        f"   aim: darkroom / direct <= {aim:g} on the median: {verdict}",
    ])


def _torch_threads() -> str:
    import torch

    return f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads in the bench process (default)"


def run(quick: bool) -> str:
    plan = QUICK if quick else FULL
    sys.path.insert(0, str(REPO_ROOT))
    from tests.tiny_pipelines import build_tiny_sd, folder_bytes

    server = http = None
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    for name, value in env.items():
        os.environ.setdefault(name, value)
    with tempfile.TemporaryDirectory(prefix="darkroom-bench-engine-") as tmp:
        work = Path(tmp)
        try:
            folder = build_tiny_sd(work / "tiny-sd")
            config = work / "darkroom.toml"
            config.write_text(config_text(work / "data", model_toml(MODEL, folder)))
            port = free_port()
            server = start_process(
                [python(), "-m", "darkroom", "serve", "--port", str(port), "--config", str(config),
                 "--log-level", "warning"],
                work / "darkroom.log", f"http://{HOST}:{port}/health", timeout=240, env=env)
            direct = Direct(folder)
            http = OverHttp(port, server_pid=server.pid)
            tables = []
            for width, height in SIZES:
                tables.append(size_table(measure_size(
                    direct, http, width, height, rounds=plan.rounds, per_round=plan.per_round[width],
                    warmup=plan.warmup, seconds=plan.seconds)))
                if server.poll() is not None:
                    raise RuntimeError(f"the darkroom server died (exit {server.returncode})")
            legend = (
                f"engine_overhead: tiny SD pipeline ({folder_bytes(folder) / 1e6:.1f} MB, random weights) called "
                f"directly in this process (pipe + uint8 + PNG + base64) vs through `darkroom serve` over HTTP "
                f"(one request at a time, httpx keep-alive)\n"
                f"{_torch_threads()}; the server uses its own default\n"
                f"each round runs the sides one after the other (order flips every round), after "
                f"{plan.warmup} discarded warm-up run(s) per side; a round during which other processes used "
                f"more than {DISTURBED_PCT:g}% of the machine is left out and run again (at most "
                f"{2 * plan.rounds} rounds, {plan.seconds:g} s per size)"
            )
            return "\n\n".join([legend, *tables])
        finally:
            if http is not None:
                http.close()
            stop_process(server)
