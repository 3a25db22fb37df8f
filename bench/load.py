"""Load benchmark: a real `darkroom serve` under 32 concurrent clients and under one, against a baseline.

Two request cases (no combination of the rules gives a 256x256 jpeg; see bench/README.md):
    dall-e-2     256x256 png, response_format=b64_json   the smallest image the API can ask for
    gpt-image-2  1024x640 jpeg, quality=low               the smallest GPT size (a custom one), in jpeg

Phases, per case, per round, each on its own warmed connections:
    c=1    sequential requests: latency - (engine_ms + encode_ms) is Darkroom's overhead per request
           (HTTP, routing, middleware, validation, rules, envelope, JSON, thread hand-offs excepted)
    c=32   32 concurrent clients: throughput, latency under load

Baseline (`bench/baseline_server.py`): a bare ASGI app under the same uvicorn that answers with the
bytes of a real Darkroom response captured at start: the HTTP + JSON floor. Rounds alternate
darkroom and baseline (the order flips each round) and the table shows medians over rounds.

The load generator runs in this process, on the same cores as the servers; it is a hand-written
HTTP/1.1 client on asyncio streams (uvloop when installed) with keep-alive connections, one per
client. `BENCH_LOAD_CLIENT=httpx` swaps in one shared httpx.AsyncClient to compare client costs.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
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

PROMPTS = (
    "a red fox sitting in fresh snow at dawn, soft light",
    "a lighthouse on a rocky coast under a stormy sky",
    "a bowl of lemons on a blue wooden table, still life",
    "a small sailboat on a calm lake with mountains behind",
)
DARKROOM_PATH = "/v1/images/generations"
PHASE_TIMEOUT_GRACE_S = 60.0  # an in-flight request may take this long past a phase's time limit


@dataclass(frozen=True)
class Case:
    name: str
    label: str
    fields: dict
    image_format: str  # what PIL must read back
    image_size: tuple[int, int]

    def payloads(self) -> list[bytes]:
        return [json.dumps({"prompt": p, **self.fields}, separators=(",", ":")).encode() for p in PROMPTS]


CASES = (
    Case("dalle2_256_png", "dall-e-2 256x256 png (response_format=b64_json)",
         {"model": "dall-e-2", "size": "256x256", "response_format": "b64_json"}, "PNG", (256, 256)),
    Case("gpt2_1024x640_jpeg", "gpt-image-2 1024x640 jpeg (quality=low, b64_json)",
         {"model": "gpt-image-2", "size": "1024x640", "output_format": "jpeg", "quality": "low"}, "JPEG",
         (1024, 640)),
)


@dataclass(frozen=True)
class Plan:
    rounds: int
    concurrency: int
    load_requests: int  # per c=32 phase, bounded also by load_seconds
    load_seconds: float
    seq_requests: int  # per c=1 phase, bounded also by seq_seconds
    seq_seconds: float
    warmup: int  # discarded requests at the start of every phase


FULL = Plan(rounds=3, concurrency=32, load_requests=2000, load_seconds=60, seq_requests=300, seq_seconds=20,
            warmup=64)
QUICK = Plan(rounds=2, concurrency=32, load_requests=200, load_seconds=10, seq_requests=40, seq_seconds=5,
             warmup=16)


# ---------------------------------------------------------------------------------------------
# Clients


class RawConnection:
    """One keep-alive HTTP/1.1 connection; requests are prebuilt bytes, responses need Content-Length."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        for attempt in (0, 1):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
            try:
                self.writer.write(raw)
                head = await self.reader.readuntil(b"\r\n\r\n")
                break
            except (asyncio.IncompleteReadError, ConnectionError):
                await self.close()  # the server closed a kept-alive connection: retry once, fresh
                if attempt:
                    raise
        lines = head[:-4].split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers[b"content-length"]))
        if headers.get(b"connection", b"").lower() == b"close":
            await self.close()
        return status, headers, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        self.reader = self.writer = None


def raw_request(port: int, path: str, payload: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
            f"Accept: application/json\r\nContent-Length: {len(payload)}\r\n\r\n").encode() + payload


@dataclass
class Sample:
    latency_s: float
    status: int
    engine_ms: float
    encode_ms: float


@dataclass
class PhaseResult:
    samples: list[Sample] = field(default_factory=list)
    wall_s: float = 0.0
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0


@dataclass(frozen=True)
class Target:
    name: str  # "darkroom" or "baseline"
    port: int
    pid: int
    path: str


def _raw_sender(conn: RawConnection, requests: list[bytes]) -> Callable:
    async def send(i: int):
        return await conn.request(requests[i % len(requests)])
    return send


def _httpx_sender(client: httpx.AsyncClient, path: str, payloads: Sequence[bytes]) -> Callable:
    headers = {"content-type": "application/json"}

    async def send(i: int):
        resp = await client.post(path, content=payloads[i % len(payloads)], headers=headers)
        return resp.status_code, resp.headers, resp.content
    return send


def _header_ms(headers, name) -> float:
    value = headers.get(name)
    return float(value) if value is not None else 0.0


async def _drive(target: Target, payloads: Sequence[bytes], concurrency: int, n: int, seconds: float,
                 warmup: int, client_kind: str) -> PhaseResult:
    """Run `warmup` discarded requests, then up to `n` measured ones for at most `seconds`."""
    if client_kind == "httpx":
        client = httpx.AsyncClient(base_url=f"http://{HOST}:{target.port}", http1=True, http2=False, timeout=60,
                                   limits=httpx.Limits(max_connections=concurrency,
                                                       max_keepalive_connections=concurrency))
        senders = [_httpx_sender(client, target.path, payloads)] * concurrency
        engine_key, encode_key = "x-darkroom-engine-ms", "x-darkroom-encode-ms"
        closers = [client.aclose]
    else:
        requests = [raw_request(target.port, target.path, p) for p in payloads]
        connections = [RawConnection(target.port) for _ in range(concurrency)]
        senders = [_raw_sender(conn, requests) for conn in connections]
        engine_key, encode_key = b"x-darkroom-engine-ms", b"x-darkroom-encode-ms"
        closers = [conn.close for conn in connections]

    async def run(count: int, limit_s: float, record: list[Sample] | None) -> None:
        issued = 0
        deadline = time.perf_counter() + limit_s

        async def worker(send) -> None:
            nonlocal issued
            while issued < count and time.perf_counter() < deadline:
                i = issued
                issued += 1
                started = time.perf_counter()
                status, headers, body = await send(i)
                elapsed = time.perf_counter() - started
                if record is not None:
                    record.append(Sample(elapsed, status, _header_ms(headers, engine_key),
                                         _header_ms(headers, encode_key)))

        await asyncio.wait_for(asyncio.gather(*(worker(s) for s in senders)), timeout=limit_s + PHASE_TIMEOUT_GRACE_S)

    result = PhaseResult()
    try:
        await run(warmup, seconds, None)
        cpu_server, cpu_client = process_cpu_seconds(target.pid), time.process_time()
        started = time.perf_counter()
        await run(n, seconds, result.samples)
        result.wall_s = time.perf_counter() - started
        result.server_cpu_s = process_cpu_seconds(target.pid) - cpu_server
        result.client_cpu_s = time.process_time() - cpu_client
    finally:
        for close in closers:
            await close()
    return result


def _event_loop_runner() -> asyncio.Runner:
    try:
        import uvloop
    except ImportError:
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def drive(target: Target, payloads: Sequence[bytes], concurrency: int, n: int, seconds: float, warmup: int,
          client_kind: str) -> PhaseResult:
    with _event_loop_runner() as runner:
        return runner.run(_drive(target, payloads, concurrency, n, seconds, warmup, client_kind))


# ---------------------------------------------------------------------------------------------
# Figures


@dataclass
class Figures:
    """One phase of one round, reduced. Baseline: engine = encode = 0, so overhead = latency."""

    count: int
    errors: int
    rps: float
    p50: float
    p99: float
    engine_p50: float
    encode_p50: float
    overhead_p50: float
    overhead_p99: float
    outside_pct: float
    server_cpu_ms: float
    client_cpu_ms: float


def reduce(result: PhaseResult) -> Figures:
    ok = [s for s in result.samples if s.status == 200]
    latencies = [s.latency_s * 1000 for s in ok]
    overhead = [s.latency_s * 1000 - s.engine_ms - s.encode_ms for s in ok]
    inside = sum(s.engine_ms + s.encode_ms for s in ok)
    count = len(result.samples)
    return Figures(
        count=count,
        errors=count - len(ok),
        rps=len(ok) / result.wall_s if result.wall_s else float("nan"),
        p50=percentile(latencies, 50),
        p99=percentile(latencies, 99),
        engine_p50=percentile([s.engine_ms for s in ok], 50),
        encode_p50=percentile([s.encode_ms for s in ok], 50),
        overhead_p50=percentile(overhead, 50),
        overhead_p99=percentile(overhead, 99),
        outside_pct=100 * (1 - inside / sum(latencies)) if latencies else float("nan"),
        server_cpu_ms=1000 * result.server_cpu_s / count if count else float("nan"),
        client_cpu_ms=1000 * result.client_cpu_s / count if count else float("nan"),
    )


def _med(rounds: list[Figures], name: str) -> float:
    return median([getattr(f, name) for f in rounds])


def case_table(case: Case, response_bytes: int, plan: Plan, client_kind: str,
               figures: dict[tuple[str, str], list[Figures]]) -> str:
    """figures[(phase, target)] -> one Figures per round; phase is "c1" or "cN"."""
    conc = f"c={plan.concurrency}"
    rows = []

    def row(label: str, phase: str, name: str, digits: int = 2, both: bool = True) -> None:
        d, b = _med(figures[(phase, "darkroom")], name), _med(figures[(phase, "baseline")], name)
        rows.append([label, fmt(d, digits), fmt(b, digits) if both else "-", ratio(d, b) if both else "-"])

    for phase, label in (("cN", conc), ("c1", "c=1")):
        row(f"{label}  requests/s", phase, "rps", 1)
        row(f"{label}  latency p50 ms", phase, "p50")
        row(f"{label}  latency p99 ms", phase, "p99")
        row(f"{label}  engine ms p50 (server)", phase, "engine_p50", both=False)
        row(f"{label}  encode ms p50 (server)", phase, "encode_p50", both=False)
        row(f"{label}  latency - engine - encode p50 ms", phase, "overhead_p50")
        row(f"{label}  latency - engine - encode p99 ms", phase, "overhead_p99")
        row(f"{label}  share outside engine+encode %", phase, "outside_pct", 1)
        row(f"{label}  server CPU ms/request", phase, "server_cpu_ms")
        row(f"{label}  client CPU ms/request", phase, "client_cpu_ms")
    errors = sum(f.errors for fs in figures.values() for f in fs)
    counts = {key: sum(f.count for f in fs) for key, fs in figures.items()}
    over = _med(figures[("c1", "darkroom")], "overhead_p50")
    floor = _med(figures[("c1", "baseline")], "p50")
    verdict = "met" if over < 2.0 else "NOT met"
    per_round = " | ".join(
        f"{t} " + " ".join(fmt(f.rps, 0) for f in figures[("cN", t)]) for t in ("darkroom", "baseline"))
    lines = [
        f"== {case.label}; response {response_bytes / 1024:.1f} KiB",
        f"   {plan.rounds} rounds alternating darkroom/baseline, medians over rounds; client: {client_kind}; "
        f"requests measured: darkroom {counts[('c1', 'darkroom')]} at c=1 + {counts[('cN', 'darkroom')]} at {conc}, "
        f"baseline {counts[('c1', 'baseline')]} + {counts[('cN', 'baseline')]}; non-200: {errors}",
        table(["", "darkroom", "baseline", "ratio"], rows),
        f"   {conc} requests/s per round: {per_round}",
        f"   Darkroom overhead at c=1, p50: {fmt(over)} ms (aim < 2 ms: {verdict}); "
        f"HTTP+JSON floor (baseline p50): {fmt(floor)} ms; Darkroom's own above the floor: {fmt(over - floor)} ms",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Servers


def _capture(port: int, case: Case) -> tuple[list[list[str]], bytes]:
    """One real request: check the image, return the response headers and body for the baseline."""
    resp = httpx.post(f"http://{HOST}:{port}{DARKROOM_PATH}", content=case.payloads()[0],
                      headers={"content-type": "application/json"}, timeout=60)
    if resp.status_code != 200:
        raise RuntimeError(f"{case.name}: darkroom answered {resp.status_code}: {resp.text[:500]}")
    data = resp.json()["data"]
    image = Image.open(io.BytesIO(base64.b64decode(data[0]["b64_json"])))
    if image.format != case.image_format or image.size != case.image_size:
        raise RuntimeError(f"{case.name}: got a {image.format} {image.size}, expected {case.image_format} "
                           f"{case.image_size}")
    skip = {"date", "server", "content-length"}  # uvicorn and the baseline add their own
    # Same header bytes, but renamed so that the client does not read engine/encode times from the baseline.
    headers = [[k.lower().replace("x-darkroom-", "x-baseline-"), v] for k, v in resp.headers.items()
               if k.lower() not in skip]
    return headers, resp.content


def run(quick: bool) -> str:
    plan = QUICK if quick else FULL
    client_kind = os.environ.get("BENCH_LOAD_CLIENT", "raw")
    if client_kind not in ("raw", "httpx"):
        raise ValueError(f"BENCH_LOAD_CLIENT must be raw or httpx, not {client_kind!r}")
    darkroom = baseline = None
    with tempfile.TemporaryDirectory(prefix="darkroom-bench-load-") as tmp:
        work = Path(tmp)
        try:
            port = free_port()
            config = work / "darkroom.toml"
            config.write_text(f'data_dir = "{(work / "data").as_posix()}"\n')
            darkroom = start_process(
                [python(), "-m", "darkroom", "serve", "--port", str(port), "--config", str(config),
                 "--log-level", "warning"],
                work / "darkroom.log", f"http://{HOST}:{port}/health")
            captured = {case.name: _capture(port, case) for case in CASES}
            responses = work / "responses.json"
            responses.write_text(json.dumps({name: {"headers": h, "body_b64": base64.b64encode(b).decode()}
                                             for name, (h, b) in captured.items()}))
            base_port = free_port()
            baseline = start_process(
                [python(), "-m", "bench.baseline_server", "--port", str(base_port), "--responses", str(responses)],
                work / "baseline.log", f"http://{HOST}:{base_port}/health")

            tables = []
            for case in CASES:
                targets = {"darkroom": Target("darkroom", port, darkroom.pid, DARKROOM_PATH),
                           "baseline": Target("baseline", base_port, baseline.pid, f"/{case.name}")}
                figures: dict[tuple[str, str], list[Figures]] = {
                    (p, t): [] for p in ("c1", "cN") for t in targets}
                payloads = case.payloads()
                for r in range(plan.rounds):
                    order = ("darkroom", "baseline") if r % 2 == 0 else ("baseline", "darkroom")
                    for phase in ("c1", "cN"):
                        for name in order:
                            if phase == "c1":
                                result = drive(targets[name], payloads, 1, plan.seq_requests, plan.seq_seconds,
                                               max(8, plan.warmup // 4), client_kind)
                            else:
                                result = drive(targets[name], payloads, plan.concurrency, plan.load_requests,
                                               plan.load_seconds, plan.warmup, client_kind)
                            figures[(phase, name)].append(reduce(result))
                    for proc, what in ((darkroom, "darkroom"), (baseline, "baseline")):
                        if proc.poll() is not None:
                            raise RuntimeError(f"the {what} server died (exit {proc.returncode})")
                tables.append(case_table(case, len(captured[case.name][1]), plan, client_kind, figures))
            return "\n\n".join([_legend(plan), *tables])
        finally:
            stop_process(baseline)
            stop_process(darkroom)


def _legend(plan: Plan) -> str:
    return (
        f"load: real `darkroom serve` (open, log level warning) vs bench/baseline_server.py (same uvicorn, "
        f"precomputed response of the same bytes)\n"
        f"phases per round: c=1 up to {plan.seq_requests} requests / {plan.seq_seconds:g} s, "
        f"c={plan.concurrency} up to {plan.load_requests} requests / {plan.load_seconds:g} s, "
        f"each after {plan.warmup} (c=1: {max(8, plan.warmup // 4)}) discarded warm-up requests\n"
        f"latency - engine - encode = client latency minus the server's x-darkroom-engine-ms and "
        f"x-darkroom-encode-ms; at c=1 that is Darkroom's overhead per request, under load it includes queueing"
    )
