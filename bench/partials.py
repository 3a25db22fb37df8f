"""What partial images cost: the same tiny SD image with `partial_images` 0 and 3, two ways.

    end to end   a real `darkroom serve` with tests/tiny_pipelines.py's tiny SD as a `diffusers` model,
                 one streaming POST /v1/images/generations at a time (httpx, keep-alive), `stream: true`,
                 read as server-sent events: timed from sending to the response headers, to the first
                 byte of the body, to the first `image_generation.partial_image` event and to the
                 `image_generation.completed` event (the total)
    engine       in this process: `DiffusersEngine.generate` on a `GenerationJob` with the same
                 parameters, `partial_images` 0 (no callback, as the service sends it) or 3 with an
                 `on_partial` callback that notes when it is called

Both ways make a 256x256 PNG in 8 steps (guidance 7.5) from one fixed seed, so the partials are taken
after steps 2, 4 and 6 and decoded by the VAE at half size (`engines/diffusers/previews.py`). The engine
figure is what decoding the latents costs; the end-to-end one adds what the server does with each
partial (PNG + base64 in its encode pool, the JSON event, sending it) while the engine goes on with
the next steps on the same cores.

Every stream is parsed as SSE (lines, events dispatched at a blank line, `:` comments skipped) and
checked: `partial_images=3` must give exactly 3 partial events (indexes 0, 1, 2) then 1 completed,
`partial_images=0` exactly 1 completed; anything else stops the benchmark. The warm-up also checks
that partials leave the final image unchanged (same pixels with 0 and 3).

Each round makes `per_round` images per way and count (end to end 0 then 3, engine 0 then 3; the whole
order reversed every other round, ~2 s a round), warm-ups are discarded, every loop is bounded in count
and time; rounds during which other processes used the machine are left out and run again, as in
`engine_overhead`. Neither side sets torch's thread count.

The cost is read round by round: each round's median total with 3 partials over the same round's median
without, then the median over rounds. This machine's speed wanders by 20-30% over seconds to minutes
without any process of its own being busy (a shared VM), and medians pooled over the whole run can then
fall in different speed regimes for the two counts (one run read 1.37x pooled, 1.16x paired). The
tables still show pooled medians and p90s, to see the spread.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
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
    percentile,
    python,
    ratio,
    start_process,
    stop_process,
    table,
)
from .engine_overhead import DISTURBED_PCT, ForeignCpu, config_text, model_toml

MODEL = "tiny-sd"
PROMPT = "a photo of a red lighthouse on a hill at sunset"
SEED = 7
STEPS = 8
GUIDANCE = 7.5
WIDTH = HEIGHT = 256
COUNTS = (0, 3)  # partial_images of the baseline and of the measured side
AIM_PCT = 15.0  # the aim: 3 partials add under 15% to the total


@dataclass(frozen=True)
class Plan:
    rounds: int  # undisturbed rounds wanted; each runs `per_round` images per side and count
    per_round: int
    warmup: int  # discarded images of each count before the first round
    seconds: float  # time bound of the rounds: no round starts past it


FULL = Plan(rounds=24, per_round=2, warmup=2, seconds=150.0)
QUICK = Plan(rounds=5, per_round=1, warmup=1, seconds=20.0)


# ---------------------------------------------------------------------------------------------
# Server-sent events


class SseReader:
    """Incremental SSE parser over raw bytes. Lines end with LF (a CR before it is dropped; Darkroom
    sends LF only); a blank line dispatches the event; `:` lines are comments (heartbeats)."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.name: str | None = None
        self.data: list[str] = []
        self.comments = 0

    def feed(self, chunk: bytes) -> list[tuple[str | None, dict]]:
        self.buffer += chunk
        events = []
        start = 0
        while (end := self.buffer.find(b"\n", start)) >= 0:
            line = bytes(self.buffer[start:end]).removesuffix(b"\r").decode()
            start = end + 1
            if line == "":
                if self.data:
                    events.append((self.name, json.loads("\n".join(self.data))))
                self.name, self.data = None, []
            elif line.startswith(":"):
                self.comments += 1
            else:
                key, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if key == "event":
                    self.name = value
                elif key == "data":
                    self.data.append(value)
                else:
                    raise RuntimeError(f"unexpected SSE field {key!r} in the stream")
        del self.buffer[:start]
        return events

    def close(self) -> None:
        if self.buffer or self.data or self.name is not None:
            raise RuntimeError(f"the stream ended in the middle of an event: {bytes(self.buffer[:200])!r}")


def check_events(events: list[tuple[str | None, dict]], k: int) -> None:
    """Exactly k partial events (indexes 0..k-1) then one completed event; each named after its type."""
    types = [data.get("type") for _, data in events]
    wanted = ["image_generation.partial_image"] * k + ["image_generation.completed"]
    if types != wanted:
        errors = [data.get("error") for _, data in events if "error" in data]
        raise RuntimeError(f"partial_images={k}: expected events {wanted}, got {types}"
                           + (f"; error: {errors[0]}" if errors else ""))
    for name, data in events:
        if name != data["type"]:
            raise RuntimeError(f"event named {name!r} carries type {data['type']!r}")
        if not data.get("b64_json") or data.get("size") != f"{WIDTH}x{HEIGHT}":
            raise RuntimeError(f"{data['type']}: no image, or size {data.get('size')!r}")
    indexes = [data["partial_image_index"] for _, data in events[:k]]
    if indexes != list(range(k)):
        raise RuntimeError(f"partial_image_index {indexes}, expected {list(range(k))}")


# ---------------------------------------------------------------------------------------------
# The two ways


Sample = dict[str, float]  # metric -> ms (or bytes)


class OverHttp:
    """One streaming request at a time; times in ms from sending the request."""

    def __init__(self, port: int) -> None:
        self.client = httpx.Client(base_url=f"http://{HOST}:{port}", timeout=300)

    def body(self, k: int) -> bytes:
        return json.dumps({"model": MODEL, "prompt": PROMPT, "size": f"{WIDTH}x{HEIGHT}", "quality": "low",
                           "output_format": "png", "seed": SEED, "steps": STEPS, "guidance_scale": GUIDANCE,
                           "stream": True, "partial_images": k}).encode()

    def __call__(self, k: int) -> tuple[Sample, list[tuple[str | None, dict]]]:
        content, reader, events = self.body(k), SseReader(), []
        sample: Sample = {"first partial event ms": float("nan"), "stream bytes": 0}
        started = time.perf_counter()
        with self.client.stream("POST", "/v1/images/generations", content=content,
                                headers={"content-type": "application/json"}) as resp:
            sample["response headers ms"] = (time.perf_counter() - started) * 1000
            if resp.status_code != 200:
                raise RuntimeError(f"darkroom answered {resp.status_code}: {resp.read()[:500]!r}")
            for chunk in resp.iter_bytes():
                now = (time.perf_counter() - started) * 1000
                sample.setdefault("first event byte ms", now)
                sample["stream bytes"] += len(chunk)
                for name, data in reader.feed(chunk):
                    events.append((name, data))
                    if data.get("type") == "image_generation.partial_image":
                        sample.setdefault("first partial event", now)
                    elif data.get("type") == "image_generation.completed":
                        sample["completed event ms (total)"] = now
        reader.close()
        check_events(events, k)
        sample["first partial event ms"] = sample.pop("first partial event", float("nan"))
        return sample, events

    def close(self) -> None:
        self.client.close()


class InProcess:
    """The engine alone, called on this process's main thread (loading included: one torch thread team)."""

    def __init__(self, folder: Path) -> None:
        from darkroom.engines.diffusers import DiffusersEngine
        from darkroom.engines.diffusers.options import check_options

        preset = {"steps": STEPS, "guidance_scale": GUIDANCE}
        self.engine = DiffusersEngine(MODEL, check_options(MODEL, {
            "path": str(folder), "local_files_only": True, "device": "cpu",
            "presets": {"low": preset, "medium": preset, "high": preset}}))
        self.engine.load()

    def __call__(self, k: int) -> tuple[Sample, np.ndarray]:
        from darkroom.engines.base import GenerationJob

        calls: list[tuple[float, int, int, np.ndarray]] = []

        def on_partial(image: int, index: int, pixels: np.ndarray) -> None:
            calls.append(((time.perf_counter() - started) * 1000, image, index, pixels))

        job = GenerationJob(prompt=PROMPT, width=WIDTH, height=HEIGHT, quality="low", seeds=(SEED,), steps=STEPS,
                            guidance_scale=GUIDANCE, partial_images=k, on_partial=on_partial if k else None)
        started = time.perf_counter()
        final = self.engine.generate(job).images[0]
        total = (time.perf_counter() - started) * 1000
        if [(image, index) for _, image, index, _ in calls] != [(0, i) for i in range(k)]:
            raise RuntimeError(f"partial_images={k}: on_partial got (image, index) "
                               f"{[(image, index) for _, image, index, _ in calls]}")
        if any(p.shape != (HEIGHT, WIDTH, 3) or p.dtype != np.uint8 for *_, p in calls):
            raise RuntimeError(f"partials shaped {[(p.shape, p.dtype) for *_, p in calls]}")
        return {"first on_partial ms": calls[0][0] if calls else float("nan"), "generate ms (total)": total}, final

    def close(self) -> None:
        self.engine.close()


# ---------------------------------------------------------------------------------------------
# Measuring


@dataclass
class Side:
    """One way of making the image: how to make one with k partials, and which metrics are the totals."""

    key: str
    title: str
    measure: Callable[[int], Sample]
    total: str  # the metric that is the whole image
    first: str  # the metric that is the first partial
    metrics: tuple[str, ...]
    check: str = "-"  # what the warm-up found


@dataclass
class Round:
    runs: dict[tuple[str, int], list[Sample]] = field(default_factory=dict)  # (side, k) -> samples
    foreign_pct: float = float("nan")

    @property
    def disturbed(self) -> bool:
        return self.foreign_pct > DISTURBED_PCT


@dataclass
class Results:
    rounds: list[Round] = field(default_factory=list)
    elapsed_s: float = 0.0

    def kept(self) -> list[Round]:
        """The undisturbed rounds; all of them where every round was disturbed (the report says so)."""
        return [r for r in self.rounds if not r.disturbed] or self.rounds

    def values(self, side: Side, k: int, metric: str) -> list[float]:
        return [s[metric] for r in self.kept() for s in r.runs.get((side.key, k), [])]

    def total(self, side: Side, k: int) -> float:
        return median(self.values(side, k, side.total))


def alternate(sides: list[Side], plan: Plan, server_pid: int | None) -> Results:
    """Rounds of `per_round` images per side and count: both sides, each count, the whole order reversed
    every other round; until `rounds` undisturbed rounds are in (at most 2 x `rounds`, none started
    after `seconds`)."""
    order = [(side, k) for side in sides for k in COUNTS]
    results = Results()
    started = time.perf_counter()
    deadline = started + plan.seconds
    r = 0
    while (sum(not x.disturbed for x in results.rounds) < plan.rounds and r < 2 * plan.rounds
           and time.perf_counter() < deadline):
        rnd, watch = Round(), ForeignCpu(server_pid)
        for side, k in (order if r % 2 == 0 else order[::-1]):
            rnd.runs[(side.key, k)] = [side.measure(k) for _ in range(plan.per_round)]
        rnd.foreign_pct = watch.percent()
        results.rounds.append(rnd)
        r += 1
    results.elapsed_s = time.perf_counter() - started
    return results


def _pixels(b64_json: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64_json))).convert("RGB"))


def same_final(a: np.ndarray, b: np.ndarray) -> str:
    if a.shape != b.shape:
        return f"NO: shapes {a.shape} vs {b.shape}"
    diff = int(np.abs(a.astype(int) - b.astype(int)).max())
    return "same final pixels with 0 and 3" if diff == 0 else f"final pixels DIFFER: max |diff| {diff}/255"


def warm_http(http: OverHttp, plan: Plan) -> str:
    """Discarded requests; also checks that the partials decode to full-size images and change nothing."""
    finals = {}
    for _ in range(max(1, plan.warmup)):
        for k in COUNTS:
            _, events = http(k)
            finals[k] = _pixels(events[-1][1]["b64_json"])
            shapes = {_pixels(data["b64_json"]).shape for _, data in events[:k]}
            if k and shapes != {(HEIGHT, WIDTH, 3)}:
                raise RuntimeError(f"partial images decode to shapes {shapes}")
    return same_final(finals[0], finals[3])


def warm_engine(engine: InProcess, plan: Plan) -> str:
    finals = {}
    for _ in range(max(1, plan.warmup)):
        for k in COUNTS:
            finals[k] = engine(k)[1]
    return same_final(finals[0], finals[3])


# ---------------------------------------------------------------------------------------------
# Reporting


def _signed(value: float, unit: str) -> str:
    return "-" if math.isnan(value) else f"{value:+,.1f}{unit}"


def _numbers(values: list[float]) -> list[float]:
    return [v for v in values if not math.isnan(v)]


@dataclass(frozen=True)
class Paired:
    """A side's cost of 3 partials, round by round: each round's k=3 median against its own k=0 median."""

    ratios: list[float]  # median total k=3 / median total k=0, per kept round
    added_ms: list[float]  # median total k=3 - median total k=0, per kept round

    @classmethod
    def of(cls, results: Results, side: Side) -> Paired:
        ratios, added = [], []
        for rnd in results.kept():
            t0, t3 = (median([s[side.total] for s in rnd.runs[(side.key, k)]]) for k in COUNTS)
            ratios.append(t3 / t0)
            added.append(t3 - t0)
        return cls(ratios, added)

    @property
    def pct(self) -> float:
        return (median(self.ratios) - 1) * 100

    def spread(self) -> str:
        if not self.ratios:
            return "-"
        return (f"{median(self.ratios):.2f}x ({_signed(median(self.added_ms), ' ms')}, {_signed(self.pct, '%')}); "
                f"rounds {percentile(self.ratios, 10):.2f}-{percentile(self.ratios, 90):.2f} (p10-p90), "
                f"{min(self.ratios):.2f}-{max(self.ratios):.2f} (all)")


def side_table(results: Results, side: Side) -> str:
    rows = []
    for metric in side.metrics:
        digits = 0 if metric == "stream bytes" else 1
        v0, v3 = _numbers(results.values(side, 0, metric)), _numbers(results.values(side, 3, metric))
        m0, m3 = median(v0), median(v3)
        rows.append([metric, fmt(m0, digits), fmt(percentile(v0, 90), digits), fmt(m3, digits),
                     fmt(percentile(v3, 90), digits), ratio(m3, m0)])
    n0, n3 = len(results.values(side, 0, side.total)), len(results.values(side, 3, side.total))
    return "\n".join([
        f"== {side.title}: n = {n0} (k=0) + {n3} (k=3); warm-up: {side.check}",
        table(["", "k=0 p50", "k=0 p90", "k=3 p50", "k=3 p90", "ratio of p50s"], rows),
        f"   total, k=3 / k=0 within each round, median over rounds: {Paired.of(results, side).spread()}",
    ])


def noise_line(results: Results) -> str:
    disturbed = [r for r in results.rounds if r.disturbed]
    kept = results.kept()
    head = f"{len(kept)} rounds kept of {len(results.rounds)}, {results.elapsed_s:.0f} s"
    used = ", ".join(f"{r.foreign_pct:.0f}%" for r in disturbed)
    if disturbed and len(disturbed) == len(results.rounds):
        return (f"{head}; EVERY round was disturbed (other processes used {used} of the machine, limit "
                f"{DISTURBED_PCT:g}%): the figures are from those rounds; run again on a quiet machine")
    foreign = _numbers([r.foreign_pct for r in kept])
    most = f"{max(foreign):.1f}%" if foreign else "-"
    left_out = f"{len(disturbed)} disturbed round(s) left out (other processes used {used})" if disturbed \
        else "no round left out"
    return (f"{head}; other processes' CPU during kept rounds: at most {most} of the machine "
            f"(limit {DISTURBED_PCT:g}%); {left_out}")


def summary(results: Results, http: Side, engine: Side) -> str:
    h, e = Paired.of(results, http), Paired.of(results, engine)
    # What the server adds on top of the engine, round by round (both sides ran seconds apart).
    rest = median([a - b for a, b in zip(h.added_ms, e.added_ms)])
    first_h = median(results.values(http, 3, http.first))
    first_e = median(results.values(engine, 3, engine.first))
    share = 100 * first_h / results.total(http, 3)
    verdict = "-" if math.isnan(h.pct) else ("met" if h.pct < AIM_PCT else "NOT met")
    return "\n".join([
        (f"3 partials add {_signed(median(h.added_ms), ' ms')} ({_signed(h.pct, '%')}) end to end and "
         f"{_signed(median(e.added_ms), ' ms')} ({_signed(e.pct, '%')}) to the engine call (decoding the "
         f"latents); the server's own part, {_signed(rest, ' ms')} ({_signed(rest / 3, ' ms')} per partial), is "
         f"PNG + base64, the JSON event and sending it, on the cores the engine uses (medians over rounds)"),
        (f"first partial: {fmt(first_h, 1)} ms after sending, end to end ({fmt(share, 0)}% of the total); "
         f"{fmt(first_e, 1)} ms into the engine call"),
        (f"aim: 3 partials add under {AIM_PCT:g}% to the total: measured {h.pct:+.2f}% end to end "
         f"(engine alone {_signed(e.pct, '%')}): {verdict}"),
    ])


def _torch_threads() -> str:
    import torch

    return f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads in the bench process (default)"


def run(quick: bool) -> str:
    plan = QUICK if quick else FULL
    sys.path.insert(0, str(REPO_ROOT))
    from tests.tiny_pipelines import build_tiny_sd, folder_bytes

    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    for name, value in env.items():
        os.environ.setdefault(name, value)
    server = http = engine = None
    with tempfile.TemporaryDirectory(prefix="darkroom-bench-partials-") as tmp:
        work = Path(tmp)
        try:
            # 1. The pipeline, a server serving it, and the same pipeline as an engine in this process.
            folder = build_tiny_sd(work / "tiny-sd")
            config = work / "darkroom.toml"
            config.write_text(config_text(work / "data", model_toml(MODEL, folder, steps=STEPS, guidance=GUIDANCE)))
            port = free_port()
            server = start_process(
                [python(), "-m", "darkroom", "serve", "--port", str(port), "--config", str(config),
                 "--log-level", "warning"],
                work / "darkroom.log", f"http://{HOST}:{port}/health", timeout=240, env=env)
            http, engine = OverHttp(port), InProcess(folder)
            # 2. Warm-ups (discarded), which also check the images.
            over_http = Side("http", "end to end (darkroom serve, streaming over HTTP)", lambda k: http(k)[0],
                             "completed event ms (total)", "first partial event ms",
                             ("response headers ms", "first event byte ms", "first partial event ms",
                              "completed event ms (total)", "stream bytes"), check=warm_http(http, plan))
            in_process = Side("engine", "engine alone (DiffusersEngine.generate in this process)",
                              lambda k: engine(k)[0], "generate ms (total)", "first on_partial ms",
                              ("first on_partial ms", "generate ms (total)"), check=warm_engine(engine, plan))
            # 3. The rounds.
            results = alternate([over_http, in_process], plan, server.pid)
            if server.poll() is not None:
                raise RuntimeError(f"the darkroom server died (exit {server.returncode})")
            legend = (
                f"partials: tiny SD pipeline ({folder_bytes(folder) / 1e6:.1f} MB, random weights), {WIDTH}x{HEIGHT} "
                f"png, {STEPS} steps, guidance {GUIDANCE:g}, seed {SEED}; partial_images=0 (k=0, the baseline) vs 3 "
                f"(k=3: after steps 2, 4, 6, VAE at half size)\n"
                f"{_torch_threads()}; the server uses its own default\n"
                f"{plan.warmup} discarded warm-up image(s) per side and count, then rounds of {plan.per_round} image(s) "
                f"per side and count (end to end k=0, k=3, engine k=0, k=3; reversed every other round); a round "
                f"during which other processes used more than {DISTURBED_PCT:g}% of the machine is left out and "
                f"run again (at most {2 * plan.rounds} rounds, {plan.seconds:g} s)\n"
                f"{noise_line(results)}"
            )
            return "\n\n".join([legend, side_table(results, over_http), side_table(results, in_process),
                                summary(results, over_http, in_process)])
        finally:
            if http is not None:
                http.close()
            if engine is not None:
                engine.close()
            stop_process(server)
