"""Gateway benchmark: Darkroom as a gateway (`engine = "upstream"`) in front of a Darkroom upstream, against
the same upstream asked directly, in the same run.

Two `darkroom serve` processes (open, temporary data dirs, log level warning):
    upstream   the default catalog (gpt-image-1 on the sketch engine), moderation_enabled = false
    gateway    defaults, plus `gpt-image-1` as an upstream model pointing at the upstream (its defaults:
               max_concurrency 16, max_queue 64, no local moderation for upstream models)

Cases, each the same bytes sent to both:
    png      POST /v1/images/generations gpt-image-1 1024x1024 png, quality low, b64_json
    stream   the same with stream: true, partial_images: 3 (3 partial events, then completed)

Rounds: for each case, c=1 (sequential) then c=32 (concurrent clients, one keep-alive connection each),
each phase bounded by count and time after discarded warm-ups; direct and via gateway back to back, the
order flipping every round (ABAB... across rounds, so drift hits both). Figures paired within a round:
added latency = gateway p50 - direct p50 of the same round, throughput ratio = gateway / direct of the
same round; the table gives medians over rounds.

Memory: the gateway's VmRSS / VmHWM (/proc/PID/status, bench/memory.py's helpers; VmHWM reset before
each c=32 phase). Idle = VmRSS after the warm-up requests (c=1), before any c=32 phase; per request =
(peak during a c=32 phase - idle) / 32, against the response's size. The upstream asked directly is
measured the same way, for scale.

The client is bench/load.py's raw HTTP/1.1 client, here also reading chunked bodies (the streams), in
this process, on the same cores as both servers.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from PIL import Image

from ._common import (
    HOST,
    fmt,
    free_port,
    median,
    percentile,
    process_cpu_seconds,
    python,
    ratio,
    start_process,
    stop_process,
    table,
)
from .load import DARKROOM_PATH, PHASE_TIMEOUT_GRACE_S, PROMPTS, RawConnection, _event_loop_runner, raw_request
from .memory import measure, status_mb
from .partials import SseReader

CONCURRENCY = 32
AIM_ADDED_MS = 2.0  # the aims
AIM_THROUGHPUT = 0.95
AIM_MEMORY = 2.0
SIDES = ("direct", "gateway")


@dataclass(frozen=True)
class Case:
    name: str
    label: str
    fields: dict
    partials: int | None  # None: a JSON answer; k: a stream with k partial events
    replayed: bool = False  # the upstream is bench/baseline_server.py replaying one captured answer

    def payloads(self) -> list[bytes]:
        return [json.dumps({"prompt": p, **self.fields}, separators=(",", ":")).encode() for p in PROMPTS]


PNG_FIELDS = {"model": "gpt-image-1", "size": "1024x1024", "quality": "low", "output_format": "png"}
CASES = (
    Case("png", "gpt-image-1 1024x1024 png, quality low", PNG_FIELDS, None),
    Case("stream", "the same, stream: true, partial_images: 3", {**PNG_FIELDS, "stream": True, "partial_images": 3}, 3),
)
# The gateway's own costs, the upstream out of the way: a large answer (a real one of the upstream, captured
# at start) replayed by bench/baseline_server.py in no time, so 32 answers can be in the gateway at once.
REPLAY_MODEL = "gpt-image-1-replay"
REPLAY = Case("replay", "the gateway alone: gpt-image-1 n=10 1536x1024 png, quality high, replayed by "
              "bench/baseline_server.py (no engine upstream)",
              {"model": REPLAY_MODEL, "n": 10, "size": "1536x1024", "quality": "high", "output_format": "png"},
              None, replayed=True)


@dataclass(frozen=True)
class Plan:
    rounds: int
    seq_requests: int  # c=1, per phase, bounded also by seq_seconds
    seq_seconds: float
    load_requests: int  # c=32, per phase, bounded also by load_seconds
    load_seconds: float
    warmup: int  # discarded requests at the start of every c=32 phase (c=1: a quarter, at least 4)
    replay_rounds: int  # rounds of the replay case


FULL = Plan(rounds=6, seq_requests=200, seq_seconds=1.5, load_requests=600, load_seconds=3.0, warmup=32,
            replay_rounds=2)
QUICK = Plan(rounds=2, seq_requests=40, seq_seconds=0.75, load_requests=120, load_seconds=1.0, warmup=32,
             replay_rounds=1)


# ---------------------------------------------------------------------------------------------
# The client


class Connection(RawConnection):
    """bench/load.py's keep-alive connection, also reading `Transfer-Encoding: chunked` bodies (streams)."""

    async def exchange(self, raw: bytes) -> tuple[int, bytes, float]:
        """(status, body, seconds from writing the request to the first byte of the body)."""
        started = time.perf_counter()
        for attempt in (0, 1):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
            try:
                self.writer.write(raw)
                head = await self.reader.readuntil(b"\r\n\r\n")
                break
            except (asyncio.IncompleteReadError, ConnectionError):
                await self.close()  # a kept-alive connection the server closed: retry once, fresh
                if attempt:
                    raise
        lines = head[:-4].split(b"\r\n")
        headers = dict((k.strip().lower(), v.strip()) for k, _, v in (line.partition(b":") for line in lines[1:]))
        if b"content-length" in headers:
            body = await self.reader.readexactly(int(headers[b"content-length"]))
            first = time.perf_counter() - started
        else:
            body, first = await self._chunked(started)
        if headers.get(b"connection", b"").lower() == b"close":
            await self.close()
        return int(lines[0].split(b" ", 2)[1]), body, first

    async def _chunked(self, started: float) -> tuple[bytes, float]:
        parts, first = [], float("nan")
        while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append((await self.reader.readexactly(size + 2))[:-2])
            if first != first:
                first = time.perf_counter() - started
        await self.reader.readuntil(b"\r\n")  # the end of the (empty) trailer
        return b"".join(parts), first


@dataclass
class PhaseResult:
    latencies: list[float] = field(default_factory=list)  # ms, 200s only
    first_bytes: list[float] = field(default_factory=list)  # ms to the first byte of the body
    count: int = 0
    errors: int = 0
    wall_s: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)  # upstream, gateway, client -> CPU s in the phase


async def _drive(port: int, payloads: list[bytes], concurrency: int, n: int, seconds: float, warmup: int,
                 pids: dict[str, int], done_mark: bytes) -> PhaseResult:
    requests = [raw_request(port, DARKROOM_PATH, p) for p in payloads]
    connections = [Connection(port) for _ in range(concurrency)]
    result = PhaseResult()

    async def run(count: int, record: bool) -> None:
        issued = 0
        deadline = time.perf_counter() + seconds

        async def worker(conn: Connection) -> None:
            nonlocal issued
            while issued < count and time.perf_counter() < deadline:
                issued += 1
                started = time.perf_counter()
                status, body, first = await conn.exchange(requests[issued % len(requests)])
                elapsed = (time.perf_counter() - started) * 1000
                if not record:
                    continue
                result.count += 1
                if status == 200 and done_mark in body:
                    result.latencies.append(elapsed)
                    result.first_bytes.append(first * 1000)
                else:
                    result.errors += 1

        await asyncio.wait_for(asyncio.gather(*(worker(c) for c in connections)), seconds + PHASE_TIMEOUT_GRACE_S)

    try:
        await run(warmup, False)
        cpu = {name: process_cpu_seconds(pid) for name, pid in pids.items()} | {"client": time.process_time()}
        started = time.perf_counter()
        await run(n, True)
        result.wall_s = time.perf_counter() - started
        now = {name: process_cpu_seconds(pid) for name, pid in pids.items()} | {"client": time.process_time()}
        result.cpu_s = {name: now[name] - cpu[name] for name in now}
    finally:
        for conn in connections:
            await conn.close()
    return result


def drive(port: int, payloads: list[bytes], concurrency: int, n: int, seconds: float, warmup: int,
          pids: dict[str, int], done_mark: bytes) -> PhaseResult:
    with _event_loop_runner() as runner:
        return runner.run(_drive(port, payloads, concurrency, n, seconds, warmup, pids, done_mark))


# ---------------------------------------------------------------------------------------------
# Checks before measuring: same answers both ways


def _post(port: int, body: dict) -> httpx.Response:
    response = httpx.post(f"http://{HOST}:{port}{DARKROOM_PATH}", json=body, timeout=60)
    if response.status_code != 200:
        raise RuntimeError(f"port {port} answered {response.status_code}: {response.text[:500]}")
    return response


def _png(b64_json: str, size: str) -> None:
    image = Image.open(io.BytesIO(base64.b64decode(b64_json)))
    if (image.format, "x".join(map(str, image.size))) != ("PNG", size):
        raise RuntimeError(f"got a {image.format} {image.size}, expected a {size} PNG")


def _events(body: bytes, k: int) -> list[dict]:
    reader = SseReader()
    events = [data for _, data in reader.feed(body)]
    reader.close()
    wanted = ["image_generation.partial_image"] * k + ["image_generation.completed"]
    if [e.get("type") for e in events] != wanted:
        raise RuntimeError(f"expected events {wanted}, got {[e.get('type') for e in events]}")
    return events


def check_case(case: Case, ports: dict[str, int]) -> dict[str, float]:
    """One request each way with the same seed: the same images (the gateway passes the upstream's bytes
    through; a replayed answer, the very same body), the gateway's headers there. Returns the sizes the
    memory figures are set against."""
    body = {"prompt": PROMPTS[0], **case.fields, "seed": 1234}
    answers = {side: _post(port, body) for side, port in ports.items()}
    via = answers["gateway"]
    if via.headers.get("x-darkroom-served-by") != case.fields["model"] or \
            "x-darkroom-upstream-request-id" not in via.headers:
        raise RuntimeError(f"the gateway's answer lacks its headers: {dict(via.headers)}")
    if case.replayed and via.content != answers["direct"].content:
        raise RuntimeError(f"{case.name}: the gateway changed the upstream's body")
    if case.partials is None:
        images = {side: [d["b64_json"] for d in a.json()["data"]] for side, a in answers.items()}
        sizes = {"response": len(via.content)}
    else:
        images = {side: [e["b64_json"] for e in _events(a.content, case.partials)] for side, a in answers.items()}
        sizes = {"response": len(via.content), "largest event": max(len(e) for e in via.content.split(b"\n\n"))}
    for b64_json in images["gateway"]:
        _png(b64_json, case.fields["size"])
    if images["gateway"] != images["direct"]:
        raise RuntimeError(f"{case.name}: the gateway's images differ from the upstream's own for the same seed")
    return sizes


# ---------------------------------------------------------------------------------------------
# Figures


@dataclass
class Round:
    """One case, one round: direct and via the gateway at c=1 and c=32."""

    phases: dict[tuple[str, str], PhaseResult] = field(default_factory=dict)  # (phase, side) -> result
    peaks: dict[str, float] = field(default_factory=dict)  # side -> peak MB of the process holding requests


def _per_round(rounds: list[Round], phase: str, fn) -> dict[str, list[float]]:
    return {side: [fn(r.phases[(phase, side)]) for r in rounds] for side in SIDES}


def _rps(p: PhaseResult) -> float:
    return len(p.latencies) / p.wall_s if p.wall_s else float("nan")


def _cpu_ms(p: PhaseResult, process: str) -> float:
    return 1000 * p.cpu_s[process] / p.count if p.count else float("nan")


@dataclass
class Verdicts:
    lines: list[str] = field(default_factory=list)

    def add(self, what: str, value: float, aim: float, unit: str, at_most: bool) -> None:
        met = value <= aim if at_most else value >= aim
        sign = "<=" if at_most else ">="
        self.lines.append(f"   aim {what} {sign} {aim:g}{unit}: {fmt(value)}{unit} "
                          f"({'met' if met else 'NOT met'})")


def case_table(case: Case, rounds: list[Round], sizes: dict[str, float], idle: dict[str, float],
               started_idle: dict[str, float]) -> str:
    rows, verdicts = [], Verdicts()
    conc = f"c={CONCURRENCY}"
    for phase, label in (("c1", "c=1"), ("cN", conc)):
        p50 = _per_round(rounds, phase, lambda p: percentile(p.latencies, 50))
        p95 = _per_round(rounds, phase, lambda p: percentile(p.latencies, 95))
        first = _per_round(rounds, phase, lambda p: percentile(p.first_bytes, 50))
        rps = _per_round(rounds, phase, _rps)
        added = [g - d for g, d in zip(p50["gateway"], p50["direct"])]
        within = [g / d for g, d in zip(rps["gateway"], rps["direct"])]

        def row(name: str, values: dict[str, list[float]], digits: int = 2) -> None:
            d, g = median(values["direct"]), median(values["gateway"])
            rows.append([f"{label}  {name}", fmt(d, digits), fmt(g, digits), ratio(g, d), fmt(g - d, digits)])

        row("latency p50 ms", p50)
        row("latency p95 ms", p95)
        if case.partials is not None:
            row("first event p50 ms", first)
        row("requests/s", rps, 1)
        row("upstream CPU ms/request", _per_round(rounds, phase, lambda p: _cpu_ms(p, "upstream")))
        row("gateway CPU ms/request", _per_round(rounds, phase, lambda p: _cpu_ms(p, "gateway")))
        row("client CPU ms/request", _per_round(rounds, phase, lambda p: _cpu_ms(p, "client")))
        total = _per_round(rounds, phase, lambda p: sum(_cpu_ms(p, k) for k in p.cpu_s))
        rows.append([f"{label}  added p50 ms, paired", "", fmt(median(added)), "", ""])
        rows.append([f"{label}  requests/s gateway / direct, paired", "", f"{median(within):.3f}", "", ""])
        if phase == "c1" or not case.replayed:  # against a replay that costs nothing, c=32 is the gateway's ceiling
            verdicts.add(f"{label} added latency p50", median(added), AIM_ADDED_MS, " ms", True)
        if phase == "cN":
            if not case.replayed:
                verdicts.add(f"{conc} throughput gateway / direct", median(within), AIM_THROUGHPUT, "", False)
            gateway_ms = median(_per_round(rounds, phase, lambda p: _cpu_ms(p, "gateway"))["gateway"])
            verdicts.lines.insert(0, (
                f"   CPU at {conc}, all three processes: direct {fmt(median(total['direct']))} ms/request, via gateway "
                f"{fmt(median(total['gateway']))}; with the cores saturated, throughput can be at most "
                f"{median(total['direct']) / median(total['gateway']):.3f} of direct here; the gateway alone would "
                f"relay ~{1000 / gateway_ms:,.0f} requests/s per core of its own"))
            spread = " ".join(f"{fmt(a)}" for a in added)
            per = " ".join(f"{w:.2f}" for w in within)
            verdicts.lines.insert(0, f"   per round at {conc}: added p50 ms {spread}; requests/s gateway / direct {per}")
    per_request = {side: [(r.peaks[side] - idle[side]) * 1e6 / CONCURRENCY for r in rounds] for side in SIDES}
    response = sizes["response"]
    held = median(per_request["gateway"])
    errors = sum(p.errors for r in rounds for p in r.phases.values())
    counts = {k: sum(r.phases[k].count for r in rounds) for k in rounds[0].phases}
    lines = [
        f"== {case.label}; response {response / 1024:.1f} KiB"
        + (f" (largest event {sizes['largest event'] / 1024:.1f} KiB)" if "largest event" in sizes else ""),
        f"   {len(rounds)} rounds, medians over rounds; requests measured: direct {counts[('c1', 'direct')]} at c=1 + "
        f"{counts[('cN', 'direct')]} at {conc}, gateway {counts[('c1', 'gateway')]} + {counts[('cN', 'gateway')]}; "
        f"errors (non-200 or incomplete): {errors}",
        table(["", "direct", "via gateway", "gateway / direct", "gateway - direct"], rows),
        f"   memory at {conc}, (peak - idle) / {CONCURRENCY}: gateway {fmt(held / 1024, 1)} KiB per request "
        f"= {held / response:.1f}x the response (rounds: "
        + " ".join(f"{v / 1024:.0f}" for v in per_request["gateway"])
        + f" KiB); idle {fmt(idle['gateway'], 1)} MB after warm-up ({fmt(started_idle['gateway'], 1)} MB after "
          f"start, models loaded); for scale, the upstream asked directly: {fmt(median(per_request['direct']) / 1024, 1)} KiB "
          f"per request",
        *verdicts.lines,
    ]
    verdict = Verdicts()
    verdict.add(f"gateway memory per request at {conc} / response size", held / response, AIM_MEMORY, "x", True)
    if "largest event" in sizes:
        lines.append(f"   (against the largest event, what a relay holds at a time: "
                     f"{held / sizes['largest event']:.1f}x)")
    return "\n".join(lines + verdict.lines)


# ---------------------------------------------------------------------------------------------
# Running


@dataclass(frozen=True)
class Setup:
    """Where a case's requests go: side -> port, and the processes whose CPU is read (upstream, gateway)."""

    ports: dict[str, int]
    pids: dict[str, int]

    def holder(self, side: str) -> int:
        """The process that holds the requests of a side: the gateway, or the upstream asked directly."""
        return self.pids["gateway" if side == "gateway" else "upstream"]


def _configs(work: Path, upstream_port: int, replay_port: int) -> tuple[Path, Path]:
    upstream = work / "upstream.toml"
    upstream.write_text(f'data_dir = "{(work / "upstream-data").as_posix()}"\nmoderation_enabled = false\n')
    gateway = work / "gateway.toml"
    gateway.write_text(f'data_dir = "{(work / "gateway-data").as_posix()}"\n' + "".join(
        f'\n[[models]]\nname = "{name}"\nengine = "upstream"\nfamily = "gpt-image"\nupstream_model = "gpt-image-1"\n'
        f'base_url = "http://{HOST}:{port}/v1"\n' for name, port in (("gpt-image-1", upstream_port),
                                                                      (REPLAY_MODEL, replay_port))))
    return upstream, gateway


def settled_rss_mb(pid: int, tolerance_mb: float = 1.0, seconds: float = 30.0) -> float:
    """VmRSS once it moved by less than `tolerance_mb` in 0.5 s (at start, a server loads its moderation
    models in a thread after /health already answers), waiting at most `seconds`."""
    deadline, last = time.monotonic() + seconds, status_mb(pid)[0]
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = status_mb(pid)[0]
        if abs(now - last) < tolerance_mb:
            return now
        last = now
    return last


def _serve(config: Path, port: int, log: Path):
    return start_process([python(), "-m", "darkroom", "serve", "--port", str(port), "--config", str(config),
                          "--log-level", "warning"], log, f"http://{HOST}:{port}/health")


def _replay(work: Path, upstream_port: int, replay_port: int):
    """bench/baseline_server.py answering POST /v1/images/generations with one real answer of the upstream."""
    captured = _post(upstream_port, {"prompt": PROMPTS[0], **REPLAY.fields, "model": "gpt-image-1"})
    skip = {"date", "server", "content-length"}  # uvicorn and the baseline add their own
    headers = [[k, v] for k, v in captured.headers.items() if k.lower() not in skip]
    responses = work / "replay.json"
    responses.write_text(json.dumps({DARKROOM_PATH.lstrip("/"): {
        "headers": headers, "body_b64": base64.b64encode(captured.content).decode()}}))
    return start_process([python(), "-m", "bench.baseline_server", "--port", str(replay_port), "--responses",
                          str(responses)], work / "replay.log", f"http://{HOST}:{replay_port}/health")


def _round(case: Case, r: int, plan: Plan, setup: Setup) -> Round:
    rnd, payloads = Round(), case.payloads()
    mark = b"image_generation.completed" if case.partials is not None else b'"data"'
    order = SIDES if r % 2 == 0 else SIDES[::-1]
    for side in order:
        rnd.phases[("c1", side)] = drive(setup.ports[side], payloads, 1, plan.seq_requests, plan.seq_seconds,
                                         max(4, plan.warmup // 4), setup.pids, mark)
    for side in order:
        out: list[PhaseResult] = []
        phase = measure(setup.holder(side), side, lambda _: out.append(drive(
            setup.ports[side], payloads, CONCURRENCY, plan.load_requests, plan.load_seconds, plan.warmup, setup.pids,
            mark)))
        rnd.phases[("cN", side)] = out[0]
        rnd.peaks[side] = phase.peak
    return rnd


def run(quick: bool) -> str:
    plan = QUICK if quick else FULL
    upstream = gateway = replay = None
    with tempfile.TemporaryDirectory(prefix="darkroom-bench-gateway-") as tmp:
        work = Path(tmp)
        try:
            upstream_port, gateway_port, replay_port = free_port(), free_port(), free_port()
            upstream_config, gateway_config = _configs(work, upstream_port, replay_port)
            upstream = _serve(upstream_config, upstream_port, work / "upstream.log")
            gateway = _serve(gateway_config, gateway_port, work / "gateway.log")
            replay = _replay(work, upstream_port, replay_port)
            setups = {case.name: Setup({"direct": upstream_port, "gateway": gateway_port},
                                       {"upstream": upstream.pid, "gateway": gateway.pid}) for case in CASES}
            setups[REPLAY.name] = Setup({"direct": replay_port, "gateway": gateway_port},
                                        {"upstream": replay.pid, "gateway": gateway.pid})
            cases = (*CASES, REPLAY)
            started_idle = {case.name: {side: settled_rss_mb(setups[case.name].holder(side)) for side in SIDES}
                            for case in cases}
            sizes = {case.name: check_case(case, setups[case.name].ports) for case in cases}
            for case in cases:  # warm every path at c=1 before idle is read
                for side in SIDES:
                    drive(setups[case.name].ports[side], case.payloads(), 1, 8, 5.0, 0, setups[case.name].pids, b"")
            idle = {case.name: {side: settled_rss_mb(setups[case.name].holder(side)) for side in SIDES}
                    for case in cases}
            rounds: dict[str, list[Round]] = {case.name: [] for case in cases}
            # The replay last: its 32 answers of 1.3 MB grow the gateway's heap, which would then count in
            # the other cases' peaks (all are read against the same idle).
            schedule = [(r, CASES) for r in range(plan.rounds)] + [(r, (REPLAY,)) for r in range(plan.replay_rounds)]
            for r, these in schedule:
                for case in these:
                    rounds[case.name].append(_round(case, r, plan, setups[case.name]))
                for proc, what in ((upstream, "upstream"), (gateway, "gateway"), (replay, "replay")):
                    if proc.poll() is not None:
                        raise RuntimeError(f"the {what} server died (exit {proc.returncode})")
            tables = [case_table(case, rounds[case.name], sizes[case.name], idle[case.name], started_idle[case.name])
                      for case in cases]
            return "\n\n".join([_legend(plan), *tables])
        finally:
            stop_process(replay)
            stop_process(gateway)
            stop_process(upstream)


def _legend(plan: Plan) -> str:
    return (
        "gateway: `darkroom serve` with gpt-image-1 as an upstream model (defaults) in front of a `darkroom serve` "
        "upstream (sketch engine, moderation_enabled = false), against that upstream asked directly; "
        "open servers, log level warning\n"
        f"per round and case: c=1 up to {plan.seq_requests} requests / {plan.seq_seconds:g} s after "
        f"{max(4, plan.warmup // 4)} warm-ups, then c={CONCURRENCY} up to {plan.load_requests} / "
        f"{plan.load_seconds:g} s after {plan.warmup}; direct and gateway back to back, the order flipping every "
        f"round; {plan.rounds} rounds ({plan.replay_rounds} for the replay)\n"
        "latency: client side, writing the request to the last byte; 'paired' = within each round, then the "
        "median over rounds; CPU ms/request: each process's CPU (all threads) during the phase / requests; "
        "memory: VmHWM of the process that holds the requests (gateway, or the upstream when asked directly), "
        "reset before each c=32 phase; the same seed gave the same images both ways (checked before measuring)"
    )
