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

from ._common import HOST, REPO_ROOT, fmt, free_port, median, python, ratio, start_process, stop_process, table

MODEL = "tiny-sd"
PROMPT = "a photo of a red lighthouse on a hill at sunset"
SEED = 7
STEPS = 2
GUIDANCE = 7.5
SIZES = ((256, 256), (512, 512))


@dataclass(frozen=True)
class Plan:
    rounds: int  # per size; each round runs `per_round` of each side
    per_round: dict[int, int]  # width -> requests per side per round
    warmup: int  # discarded runs of each side before the first round
    seconds: float  # time bound per size (both sides together); rounds stop early past it


FULL = Plan(rounds=10, per_round={256: 5, 512: 3}, warmup=3, seconds=150.0)
QUICK = Plan(rounds=3, per_round={256: 3, 512: 2}, warmup=1, seconds=30.0)


def config_text(model_path: Path, data_dir: Path, device: str = "cpu", dtype: str | None = None) -> str:
    """The Darkroom config serving `model_path` as `tiny-sd` (quality presets match STEPS/GUIDANCE)."""
    lines = [
        f'data_dir = "{data_dir.as_posix()}"',
        "",
        "[[models]]",
        f'name = "{MODEL}"',
        'engine = "diffusers"',
        'family = "gpt-image"',
        f'path = "{model_path.as_posix()}"',
        "local_files_only = true",
        f'device = "{device}"',
    ]
    if dtype:
        lines.append(f'dtype = "{dtype}"')
    lines.append(f"presets = {{ low = {{ steps = {STEPS}, guidance_scale = {GUIDANCE} }}, "
                 f"medium = {{ steps = {STEPS}, guidance_scale = {GUIDANCE} }}, "
                 f"high = {{ steps = {2 * STEPS}, guidance_scale = {GUIDANCE} }} }}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# The two sides


class Direct:
    """The baseline: the pipeline called in this process, then what any server must add (uint8, PNG, base64)."""

    def __init__(self, folder: Path) -> None:
        import torch
        from diffusers import AutoPipelineForText2Image

        self.torch = torch
        self.pipe = AutoPipelineForText2Image.from_pretrained(folder, local_files_only=True, dtype=torch.float32)
        self.pipe.set_progress_bar_config(disable=True)

    def pixels(self, width: int, height: int, steps: int, guidance: float, seed: int) -> np.ndarray:
        out = self.pipe(PROMPT, height=height, width=width, num_inference_steps=steps, guidance_scale=guidance,
                        generator=self.torch.Generator("cpu").manual_seed(seed), output_type="np")
        return (np.clip(out.images[0], 0.0, 1.0) * 255).round().astype(np.uint8)

    def __call__(self, width: int, height: int, steps: int, guidance: float, seed: int) -> tuple[float, str]:
        from darkroom.postprocess.encode import encode

        started = time.perf_counter()
        pixels = self.pixels(width, height, steps, guidance, seed)
        b64_json = base64.b64encode(encode(pixels, "png")).decode("ascii")
        return time.perf_counter() - started, b64_json


class OverHttp:
    """Darkroom: one POST /v1/images/generations at a time, timed from sending to the last byte read."""

    def __init__(self, port: int) -> None:
        self.client = httpx.Client(base_url=f"http://{HOST}:{port}", timeout=300)

    def body(self, width: int, height: int, steps: int, guidance: float, seed: int) -> bytes:
        return json.dumps({"model": MODEL, "prompt": PROMPT, "size": f"{width}x{height}", "quality": "low",
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


@dataclass
class SizeResult:
    direct_ms: list[list[float]] = field(default_factory=list)  # per round
    darkroom_ms: list[list[float]] = field(default_factory=list)
    engine_ms: list[float] = field(default_factory=list)  # server's x-darkroom-engine-ms
    encode_ms: list[float] = field(default_factory=list)  # server's x-darkroom-encode-ms
    same_pixels: str = "-"
    elapsed_s: float = 0.0


def _header(resp: httpx.Response, name: str) -> float:
    value = resp.headers.get(name)
    return float(value) if value is not None else float("nan")


def _decode(b64_json: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64_json))).convert("RGB"))


def measure_size(direct: Direct, http: OverHttp, width: int, height: int, plan: Plan, *,
                 steps: int = STEPS, guidance: float = GUIDANCE) -> SizeResult:
    result = SizeResult()
    started = time.perf_counter()
    # Warm-up (discarded), and the check that both sides make the very same image from the same seed.
    for _ in range(plan.warmup):
        _, mine = direct(width, height, steps, guidance, SEED)
        _, resp = http(width, height, steps, guidance, SEED)
    theirs = resp.json()["data"][0]["b64_json"]
    a, b = _decode(mine), _decode(theirs)
    if a.shape != b.shape:
        result.same_pixels = f"no: shapes {a.shape} vs {b.shape}"
    else:
        diff = int(np.abs(a.astype(int) - b.astype(int)).max())
        result.same_pixels = "yes (identical)" if diff == 0 else f"no: max |diff| {diff}/255"
    deadline = time.perf_counter() + plan.seconds
    count = plan.per_round[width]
    for r in range(plan.rounds):
        if time.perf_counter() > deadline:
            break
        sides = ("direct", "darkroom") if r % 2 == 0 else ("darkroom", "direct")
        round_ms: dict[str, list[float]] = {"direct": [], "darkroom": []}
        for side in sides:
            for i in range(count):
                seed = SEED + 1 + r * count + i  # a fresh image each time, the same seeds on both sides
                if side == "direct":
                    elapsed, _ = direct(width, height, steps, guidance, seed)
                else:
                    elapsed, resp = http(width, height, steps, guidance, seed)
                    result.engine_ms.append(_header(resp, "x-darkroom-engine-ms"))
                    result.encode_ms.append(_header(resp, "x-darkroom-encode-ms"))
                round_ms[side].append(elapsed * 1000)
        result.direct_ms.append(round_ms["direct"])
        result.darkroom_ms.append(round_ms["darkroom"])
    result.elapsed_s = time.perf_counter() - started
    return result


def size_table(width: int, height: int, res: SizeResult) -> str:
    flat_d = [v for rnd in res.direct_ms for v in rnd]
    flat_k = [v for rnd in res.darkroom_ms for v in rnd]
    med_d, med_k = median(flat_d), median(flat_k)
    per_round = [median(k) / median(d) for d, k in zip(res.direct_ms, res.darkroom_ms, strict=True)]
    engine, encode = median(res.engine_ms), median(res.encode_ms)
    rows = [
        ["median ms (all runs)", fmt(med_d), fmt(med_k), ratio(med_k, med_d)],
        ["median of round medians ms", fmt(median([median(r) for r in res.direct_ms])),
         fmt(median([median(r) for r in res.darkroom_ms])),
         ratio(median([median(r) for r in res.darkroom_ms]), median([median(r) for r in res.direct_ms]))],
        ["min ms", fmt(min(flat_d, default=float("nan"))), fmt(min(flat_k, default=float("nan"))),
         ratio(min(flat_k, default=float("nan")), min(flat_d, default=float("nan")))],
        ["server engine ms p50 (header)", "-", fmt(engine), "-"],
        ["server encode ms p50 (header)", "-", fmt(encode), "-"],
        ["latency - engine - encode p50 ms", "-", fmt(med_k - engine - encode), "-"],
    ]
    verdict = "met" if med_k / med_d <= 1.05 else "NOT met"
    spread = f"{min(per_round):.2f}-{max(per_round):.2f}" if per_round else "-"
    return "\n".join([
        f"== {width}x{height}, {STEPS} steps, guidance {GUIDANCE}, png b64_json; "
        f"{len(res.direct_ms)} rounds x {len(res.direct_ms[0]) if res.direct_ms else 0} runs per side "
        f"({len(flat_d)} + {len(flat_k)} measured) in {res.elapsed_s:.0f} s",
        table(["", "direct", "darkroom", "ratio"], rows),
        f"   ratio per round (median darkroom / median direct): {spread}; same pixels as direct for seed "
        f"{SEED}: {res.same_pixels}",
        f"   aim: darkroom / direct <= 1.05 on the median: {verdict}",
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
    os.environ.update(env)
    with tempfile.TemporaryDirectory(prefix="darkroom-bench-engine-") as tmp:
        work = Path(tmp)
        try:
            folder = build_tiny_sd(work / "tiny-sd")
            config = work / "darkroom.toml"
            config.write_text(config_text(folder, work / "data"))
            port = free_port()
            server = start_process(
                [python(), "-m", "darkroom", "serve", "--port", str(port), "--config", str(config),
                 "--log-level", "warning"],
                work / "darkroom.log", f"http://{HOST}:{port}/health", timeout=240, env=env)
            direct = Direct(folder)
            http = OverHttp(port)
            tables = []
            for width, height in SIZES:
                tables.append(size_table(width, height, measure_size(direct, http, width, height, plan)))
                if server.poll() is not None:
                    raise RuntimeError(f"the darkroom server died (exit {server.returncode})")
            legend = (
                f"engine_overhead: tiny SD pipeline ({folder_bytes(folder) / 1e6:.1f} MB, random weights) called "
                f"directly in this process (pipe + uint8 + PNG + base64) vs through `darkroom serve` over HTTP "
                f"(one request at a time, httpx keep-alive)\n"
                f"{_torch_threads()}; the server uses its own default\n"
                f"each round runs the sides one after the other (order flips every round), each after "
                f"{plan.warmup} discarded warm-up run(s); time limit {plan.seconds:g} s per size"
            )
            return "\n\n".join([legend, *tables])
        finally:
            if http is not None:
                http.close()
            stop_process(server)
