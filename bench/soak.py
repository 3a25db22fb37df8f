"""Soak: many mixed requests at high concurrency against one `darkroom serve`; nothing lost, nothing leaked.

`python -m bench soak [--requests N] [--concurrency C] [--engines sketch,diffusers]` (default 1000 at 64,
both engines). The mix, drawn from a fixed seed: generations in png/jpeg/webp as b64_json and as url (the
link fetched), edits, variations (sketch: dall-e-2; diffusers models are gpt-image family, which has no
variations), streams with partial images, 10% of requests disconnected mid-stream (httpx: the task is
cancelled once the first event has arrived) and a few deliberate bad requests (a size no model serves,
400). The diffusers side is tests/tiny_pipelines.py's tiny random SD at 64x64, 2 steps; it gets
`DIFFUSERS_SHARE` of the requests when both engines run.

Reported: unplanned errors (anything but the disconnects and the 400s asked for), p50/p99 latency of the
completed requests, the server's RSS (VmRSS) and open file descriptors after the warm-up, at peak (sampled
every 0.1 s) and after the run, and the ledger against the responses. The ledger (store/ledger.py) writes
one row per POST to an image route once its response has ended, whatever its status: a client that
disconnected is a row too (499 if it left before the response started, else the status sent, 200 for a
stream cut after its first event). So the expectation is exact: the request ids in the ledger
(`darkroom usage --requests`) are exactly the x-request-id of every image request sent.

`scenario(...)` is the same run with counts as parameters; tests/test_soak.py runs a short one.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import random
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ._common import HOST, fmt, free_port, percentile, python, start_process, stop_process, table

SKETCH_MODEL = "gpt-image-1"
TINY_MODEL = "tiny-sd"
DISCONNECT_SHARE = 0.10
BAD_SHARE = 0.02
DIFFUSERS_SHARE = 0.25  # of the requests, when both engines run: the tiny SD is slow on a 2-core CPU
PROMPTS = ("a lighthouse on a cliff", "a bowl of lemons", "a red bicycle in the rain", "mountains at dawn")
KINDS = ("generate_b64", "generate_url", "edit", "variation", "stream")
SKETCH_ONLY = ("generate_url", "variation")  # dall-e-2 (the diffusers model is gpt-image family)


@dataclass
class Outcome:
    kind: str
    engine: str
    planned: str = ""  # "disconnect" or "bad": an error we asked for
    ok: bool = False
    status: int | None = None
    request_id: str | None = None
    seconds: float = 0.0
    error: str = ""


@dataclass
class Sample:
    rss_kib: int
    fds: int


@dataclass
class Report:
    outcomes: list[Outcome]
    baseline: Sample
    peak: Sample
    after: Sample
    ledger_ids: list[str]
    ledger_statuses: dict[int, int] = field(default_factory=dict)
    wall_s: float = 0.0
    rounds: list[Sample] = field(default_factory=list)  # the sample after each round (the last is `after`)

    @property
    def unplanned(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok and not o.planned]

    @property
    def sent_ids(self) -> list[str]:
        return [o.request_id for o in self.outcomes if o.request_id]


def sample(pid: int) -> Sample:
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return Sample(rss, len(os.listdir(f"/proc/{pid}/fd")))


def plan(requests: int, engines: list[str], seed: int = 15) -> list[tuple[str, str, str]]:
    """(kind, engine, planned) for each request, drawn from `seed`."""
    rng = random.Random(seed)
    out = []
    for _ in range(requests):
        engine = engines[0] if len(engines) == 1 else ("diffusers" if rng.random() < DIFFUSERS_SHARE else "sketch")
        roll = rng.random()
        if roll < DISCONNECT_SHARE:
            out.append(("stream", engine, "disconnect"))
        elif roll < DISCONNECT_SHARE + BAD_SHARE:
            out.append(("generate_b64", engine, "bad"))
        else:
            kinds = [k for k in KINDS if not (k in SKETCH_ONLY and engine == "diffusers")]
            out.append((rng.choice(kinds), engine, ""))
    return out


def _source_png(side: int) -> bytes:
    from PIL import Image

    image = Image.new("RGB", (side, side), (200, 120, 40))
    for x in range(side // 4, side // 2):
        for y in range(side // 4, side // 2):
            image.putpixel((x, y), (20, 60, 200))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _check_image(data: bytes, size: str, fmt_name: str) -> None:
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()
    want = tuple(int(v) for v in size.split("x"))
    if image.size != want or image.format.lower() != {"jpeg": "jpeg", "png": "png", "webp": "webp"}[fmt_name]:
        raise RuntimeError(f"image {image.format} {image.size}, wanted {fmt_name} {want}")


async def _one(i: int, spec: tuple[str, str, str], sdk, http: httpx.AsyncClient, base: str) -> Outcome:
    import openai

    kind, engine, planned = spec
    rng = random.Random(i)
    model = TINY_MODEL if engine == "diffusers" else SKETCH_MODEL
    size = "64x64" if engine == "diffusers" else rng.choice(["1024x1024", "1024x1536"])
    if engine == "sketch" and kind in ("edit",):
        size = "1024x1024"
    output_format = rng.choice(["png", "jpeg", "webp"])
    prompt = rng.choice(PROMPTS)
    outcome = Outcome(kind, engine, planned)
    started = time.perf_counter()
    try:
        if planned == "disconnect":
            body = {"model": model, "prompt": prompt, "size": size, "quality": "low", "stream": True,
                    "partial_images": 2, "output_format": output_format}
            async with http.stream("POST", f"{base}/v1/images/generations", json=body) as response:
                outcome.request_id = response.headers.get("x-request-id")
                outcome.status = response.status_code
                async for _ in response.aiter_lines():  # the first line of the first event, then leave
                    break
            outcome.ok = True
            return outcome
        if planned == "bad":
            try:
                await sdk.images.generate(model=model, prompt=prompt, size="13x13")
            except openai.BadRequestError as exc:
                outcome.status = exc.status_code
                outcome.request_id = exc.response.headers.get("x-request-id")
                outcome.ok = exc.body is not None and exc.status_code == 400
                return outcome
            raise RuntimeError("a bad size was accepted")
        extra = {"quality": "low"}
        if kind == "generate_b64" or kind == "generate_url":
            if kind == "generate_url":  # gpt-image models answer b64_json only (as OpenAI's): dall-e-2 links
                model, size, output_format, extra = "dall-e-2", "256x256", "png", {"response_format": "url"}
            else:
                extra["output_format"] = output_format
            raw = await sdk.images.with_raw_response.generate(model=model, prompt=prompt, size=size, **extra)
            result = raw.parse()
            outcome.request_id, outcome.status = raw.headers.get("x-request-id"), raw.status_code
            item = result.data[0]
            if kind == "generate_url":
                fetched = await http.get(item.url)
                fetched.raise_for_status()
                data = fetched.content
            else:
                data = base64.b64decode(item.b64_json)
            _check_image(data, size, output_format)
        elif kind == "edit":
            side = 64 if engine == "diffusers" else 256
            raw = await sdk.images.with_raw_response.edit(model=model, image=("in.png", _source_png(side)),
                                                          prompt=prompt, size=size, output_format=output_format,
                                                          **extra)
            result = raw.parse()
            outcome.request_id, outcome.status = raw.headers.get("x-request-id"), raw.status_code
            _check_image(base64.b64decode(result.data[0].b64_json), size, output_format)
        elif kind == "variation":
            raw = await sdk.images.with_raw_response.create_variation(
                model="dall-e-2", image=("in.png", _source_png(256)), size="256x256", response_format="b64_json")
            result = raw.parse()
            outcome.request_id, outcome.status = raw.headers.get("x-request-id"), raw.status_code
            _check_image(base64.b64decode(result.data[0].b64_json), "256x256", "png")
        elif kind == "stream":
            raw = await sdk.images.with_raw_response.generate(model=model, prompt=prompt, size=size, stream=True,
                                                              partial_images=2, output_format=output_format,
                                                              **extra)
            outcome.request_id, outcome.status = raw.headers.get("x-request-id"), raw.status_code
            events = [event async for event in raw.parse()]
            completed = [e for e in events if e.type == "image_generation.completed"]
            if len(completed) != 1:
                raise RuntimeError(f"{len(completed)} completed events in {[e.type for e in events]}")
            _check_image(base64.b64decode(completed[0].b64_json), size, output_format)
        outcome.ok = True
    except Exception as exc:  # an unplanned error: reported, never raised
        outcome.error = f"{type(exc).__name__}: {str(exc)[:200]}"
        response = getattr(exc, "response", None)
        if response is not None and outcome.request_id is None:
            outcome.request_id = response.headers.get("x-request-id")
            outcome.status = response.status_code
    finally:
        outcome.seconds = time.perf_counter() - started
    return outcome


async def _drive(specs, concurrency: int, base: str, pid: int) -> tuple[list[Outcome], Sample]:
    import openai

    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=300, limits=limits) as http:
        sdk = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="soak", max_retries=0, timeout=300,
                                 http_client=httpx.AsyncClient(timeout=300, limits=limits))
        queue = list(enumerate(specs))
        outcomes: list[Outcome | None] = [None] * len(specs)
        peak = sample(pid)
        done = asyncio.Event()

        async def watch() -> None:
            nonlocal peak
            while not done.is_set():
                now = sample(pid)
                peak = Sample(max(peak.rss_kib, now.rss_kib), max(peak.fds, now.fds))
                await asyncio.sleep(0.1)

        async def worker() -> None:
            while queue:
                i, spec = queue.pop(0)
                outcomes[i] = await _one(i, spec, sdk, http, base)

        watcher = asyncio.create_task(watch())
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        done.set()
        await watcher
        await sdk.close()
    return [o for o in outcomes if o is not None], peak


def _ledger(config: Path, expected: int, timeout: float = 20.0) -> tuple[list[str], dict[int, int]]:
    """The ledger's rows via `darkroom usage --requests` (waiting, bounded, for the writer thread)."""
    deadline = time.monotonic() + timeout
    while True:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DARKROOM_")}
        done = subprocess.run([python(), "-m", "darkroom", "usage", "--requests", "--config", str(config)],
                              capture_output=True, text=True, env=env, timeout=120, check=True)
        ids, statuses = [], {}
        for line in done.stdout.splitlines()[1:]:
            fields = line.split()
            ids.append(fields[-1])
            status = next(int(f) for f in fields if f.isdigit() and len(f) == 3)
            statuses[status] = statuses.get(status, 0) + 1
        if len(ids) >= expected or time.monotonic() > deadline:
            return ids, statuses
        time.sleep(0.5)


def scenario(requests: int = 1000, concurrency: int = 64, engines: tuple[str, ...] = ("sketch", "diffusers"),
             work: Path | None = None, tiny_folder: Path | None = None, rounds: int = 1) -> Report:
    """Start a server, warm it up, run the mix `rounds` times (sampling after each), read the ledger, stop it.

    Rounds tell a leak from a high-water mark: a leak grows the after-round RSS with every round, while
    an allocator's high-water mark is reached in the first rounds and stays."""
    engines = list(engines)
    with tempfile.TemporaryDirectory(prefix="darkroom-soak-") as tmp:
        work = work or Path(tmp)
        config = work / "darkroom.toml"
        text = f'data_dir = "{(work / "data").as_posix()}"\nlog_level = "warning"\n'
        if "diffusers" in engines:
            if tiny_folder is None:
                from tests.tiny_pipelines import build_tiny_sd

                tiny_folder = build_tiny_sd(work / "tiny-sd")
            text += (f'\n[[models]]\nname = "{TINY_MODEL}"\nengine = "diffusers"\nfamily = "gpt-image"\n'
                     f'path = "{tiny_folder.as_posix()}"\nlocal_files_only = true\ndevice = "cpu"\n'
                     "max_queue = 1024\n"
                     "presets = { low = { steps = 2, guidance_scale = 1.0 }, medium = { steps = 2, "
                     "guidance_scale = 1.0 }, high = { steps = 4, guidance_scale = 1.0 } }\n")
        config.write_text(text)
        port = free_port()
        base = f"http://{HOST}:{port}"
        server = start_process([python(), "-m", "darkroom", "serve", "--port", str(port), "--config", str(config)],
                               work / "darkroom.log", f"{base}/health", timeout=240)
        try:
            # The warm-up: the same mix at the same concurrency (pools, arenas and caches reach their size).
            warm = [(k, e, "") for k, e, _ in plan(max(2 * concurrency, 4 * len(KINDS)), engines, seed=1)]
            warm_out, _ = asyncio.run(_drive(warm, concurrency, base, server.pid))
            failed = [o for o in warm_out if not o.ok]
            if failed:
                raise RuntimeError(f"{len(failed)} warm-up requests failed, e.g. {failed[0].kind}: {failed[0].error}")
            time.sleep(1.0)  # as after the run: the warm-up's connections closed
            baseline = sample(server.pid)
            started = time.monotonic()
            outcomes, peak, afters = [], baseline, []
            for _ in range(rounds):
                done_round, round_peak = asyncio.run(_drive(plan(requests, engines), concurrency, base, server.pid))
                outcomes += done_round
                peak = Sample(max(peak.rss_kib, round_peak.rss_kib), max(peak.fds, round_peak.fds))
                time.sleep(1.0)  # the closed connections' sockets
                afters.append(sample(server.pid))
            wall = time.monotonic() - started
            after = afters[-1]
            expected = len([o for o in warm_out + outcomes if o.request_id])
            ids, statuses = _ledger(config, expected)
            warm_ids = {o.request_id for o in warm_out}
            run_ids = [i for i in ids if i not in warm_ids]
            if server.poll() is not None:
                raise RuntimeError("the server died during the soak")
        finally:
            stop_process(server)
    return Report(outcomes, baseline, peak, after, run_ids, statuses, wall, afters)


def render(report: Report, requests: int, concurrency: int, engines: list[str]) -> str:
    out = report.outcomes
    latencies = [o.seconds * 1000 for o in out if o.ok and not o.planned]
    disconnects = sum(o.planned == "disconnect" for o in out)
    bad = sum(o.planned == "bad" for o in out)
    sent = report.sent_ids
    rows = [
        ["requests", str(len(out)), f"{requests} at concurrency {concurrency}, engines {','.join(engines)}"],
        ["  by engine", ", ".join(f"{e} {sum(o.engine == e for o in out)}" for e in engines), ""],
        ["  by kind", ", ".join(f"{k} {sum(o.kind == k and not o.planned for o in out)}" for k in KINDS), ""],
        ["planned: disconnects", str(disconnects), "cancelled after the first stream event"],
        ["planned: bad requests", str(bad), "size 13x13: 400 expected"],
        ["unplanned errors", str(len(report.unplanned)), "aim 0"],
        ["p50 latency ms", fmt(percentile(latencies, 50), 0) if latencies else "-", "completed requests"],
        ["p99 latency ms", fmt(percentile(latencies, 99), 0) if latencies else "-", ""],
        ["wall s", fmt(report.wall_s, 1), f"{len(out) / report.wall_s:.1f} requests/s" if report.wall_s else ""],
        ["RSS MiB base/peak/after", "/".join(fmt(s.rss_kib / 1024, 0) for s in
                                            (report.baseline, report.peak, report.after)),
         f"after/base {report.after.rss_kib / report.baseline.rss_kib:.2f}x (aim <= 1.10x)"],
        *([["RSS MiB after each round", "/".join(fmt(s.rss_kib / 1024, 0) for s in report.rounds),
            "a leak grows every round; a high-water mark levels off"]] if len(report.rounds) > 1 else []),
        ["open fds base/peak/after", f"{report.baseline.fds}/{report.peak.fds}/{report.after.fds}",
         f"after/base {report.after.fds / report.baseline.fds:.2f}x (aim <= 1.10x)"],
        ["ledger rows / responses", f"{len(report.ledger_ids)} / {len(sent)}",
         "equal" if sorted(report.ledger_ids) == sorted(sent) else "DIFFERENT (aim: the same request ids)"],
        ["ledger statuses", ", ".join(f"{k}: {v}" for k, v in sorted(report.ledger_statuses.items())),
         "incl. warm-up rows"],
    ]
    text = table(["soak", "value", "note"], rows)
    for o in report.unplanned[:10]:
        text += f"\nunplanned: {o.kind}/{o.engine} status {o.status} id {o.request_id}: {o.error}"
    return text


def run(quick: bool, requests: int | None = None, concurrency: int | None = None,
        engines: str | None = None, rounds: int | None = None) -> str:
    requests = requests or (120 if quick else 1000)
    concurrency = concurrency or (16 if quick else 64)
    names = [e.strip() for e in (engines or "sketch,diffusers").split(",") if e.strip()]
    unknown = set(names) - {"sketch", "diffusers"}
    if unknown or not names:
        raise SystemExit(f"--engines: expected sketch and/or diffusers, got {engines!r}")
    report = scenario(requests, concurrency, tuple(names), rounds=rounds or 1)
    return render(report, requests * (rounds or 1), concurrency, names)
