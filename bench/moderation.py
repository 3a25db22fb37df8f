"""What moderation costs: each check alone, and the latency it adds to whole requests.

    parts        in this process, alternating rounds: the term lists alone, the whole local prompt check
                 (terms + alt-profanity-check) on a typical prompt and on 4,000- and 32,000-character ones (the
                 prompt limits of dall-e-3 and the GPT models; the check must stay linear), and
                 nudenet's image check at 512x512 and 1024x1024; next to them, in the same rounds, the
                 CPU work of a typical request without moderation: the sketch engine drawing a 1024x1024
                 image and encoding it as PNG (`encode`), and a 512x512 one.
    end to end   two `darkroom serve` processes on the same settings except `moderation_enabled`, one
                 POST /v1/images/generations at a time (httpx, keep-alive), alternating servers request
                 by request: gpt-image-1 1024x1024 (quality low, png) and gpt-image-1-mini 1024x1024
                 jpeg. The added latency is each round's median with moderation over the same round's
                 median without, then the median over rounds (this machine's speed wanders). Every
                 request has a prompt of its own (a numbered variant), so the prompt check is never
                 answered from its per-level memory: what a fresh prompt costs.

The sketch engine's generations declare a detector ceiling (its drawings score at most 0.43, so
they cannot reach the 0.6 and 0.8 thresholds) and skip the image check; the "parts" rows still time
the detector, for the engines that need it: alone, in a batch, and narrow (few threads, beside a busy
engine) against wide (every core, when no engine computes).
See bench/README.md, section `moderation`.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench._common import (
    HOST,
    fmt,
    free_port,
    median,
    python,
    ratio,
    start_process,
    stop_process,
    table,
)
from darkroom.engines.sketch import render
from darkroom.config import DEFAULT_MODERATION
from darkroom.moderation import Moderator, terms, text
from darkroom.moderation.nudity import NudityDetector
from darkroom.postprocess.encode import encode

PROMPT = "A cheerful hero image for a todo app: a checklist card on a desk, blue and orange, soft light"
LONG_PROMPT = (PROMPT + ", ") * 45  # ~4,000 characters, dall-e-3's limit
LONGEST_PROMPT = ((PROMPT + ", ") * 400)[:32000]  # the GPT models' limit
THRESHOLD = text.DEFAULT_HARASSMENT_THRESHOLD["auto"]


def _time(work: Callable[[], object], repeat: int) -> float:
    """Median seconds of `repeat` calls."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return median(times)


def parts(rounds: int, repeat: int) -> str:
    detector = NudityDetector()
    detector.load()
    text.warm_up()
    picture = {side: render(PROMPT, side, side, seed=1, quality="medium") for side in (512, 1024)}
    remembered = Moderator(dict(DEFAULT_MODERATION), detector=detector)
    remembered.prompt_categories(PROMPT, "auto")
    work: dict[str, Callable[[], object]] = {
        "terms alone, typical prompt": lambda: terms.match_terms(PROMPT, "auto"),
        "prompt check (terms + classifier)": lambda: text.check_text(PROMPT, "auto", THRESHOLD),
        "prompt check, remembered (same prompt and level)": lambda: remembered.prompt_categories(PROMPT, "auto"),
        "prompt check, 4,000 characters": lambda: text.check_text(LONG_PROMPT, "auto", THRESHOLD),
        "prompt check, 32,000 characters": lambda: text.check_text(LONGEST_PROMPT, "auto", THRESHOLD),
        "image check 512x512": lambda: detector.score(picture[512]),
        "image check 1024x1024": lambda: detector.score(picture[1024]),
        "image check 1024x1024, wide (every core)": lambda: detector.score_batch([picture[1024]], wide=True),
        "image check, 4 x 512x512 in one batch, wide": lambda: detector.score_batch([picture[512]] * 4, wide=True),
        "baseline: sketch 512x512 + PNG": lambda: encode(render(PROMPT, 512, 512, seed=2, quality="medium"), "png"),
        "baseline: sketch 1024x1024 + PNG": lambda: encode(render(PROMPT, 1024, 1024, seed=2, quality="medium"),
                                                           "png"),
    }
    seconds: dict[str, list[float]] = {name: [] for name in work}
    names = list(work)
    for round_ in range(rounds):
        order = names if round_ % 2 == 0 else names[::-1]
        for name in order:
            seconds[name].append(_time(work[name], repeat))
    ms = {name: median(values) * 1000 for name, values in seconds.items()}
    moderation_512 = ms["prompt check (terms + classifier)"] + ms["image check 512x512"]
    moderation_1024 = ms["prompt check (terms + classifier)"] + ms["image check 1024x1024"]
    rows = [[name, fmt(value, 3)] for name, value in ms.items()]
    rows += [["moderation of a 512x512 request (prompt + 1 image)", fmt(moderation_512, 3)],
             ["  over the 512x512 sketch request's CPU work", ratio(moderation_512, ms["baseline: sketch 512x512 + PNG"])],
             ["moderation of a 1024x1024 request (prompt + 1 image)", fmt(moderation_1024, 3)],
             ["  over the 1024x1024 sketch request's CPU work",
              ratio(moderation_1024, ms["baseline: sketch 1024x1024 + PNG"])]]
    return "parts, in this process (median ms per call)\n" + table(["what", "ms"], rows)


CASES = {"gpt-image-1 1024x1024 png": {"model": "gpt-image-1", "quality": "low"},
         "gpt-image-1-mini 1024x1024 jpeg": {"model": "gpt-image-1-mini", "quality": "low", "output_format": "jpeg"}}


def end_to_end(rounds: int, per_round: int) -> str:
    with tempfile.TemporaryDirectory(prefix="darkroom-bench-moderation-") as tmp:
        work = Path(tmp)
        servers, processes = {}, []
        try:
            for name, enabled in (("on", "true"), ("off", "false")):
                folder = work / name
                folder.mkdir()
                config = folder / "darkroom.toml"
                config.write_text(f'data_dir = "{folder / "data"}"\nmoderation_enabled = {enabled}\n')
                port = free_port()
                processes.append(start_process(
                    [python(), "-m", "darkroom", "serve", "--port", str(port), "--config", str(config),
                     "--log-level", "warning"], folder / "server.log", f"http://{HOST}:{port}/health"))
                servers[name] = f"http://{HOST}:{port}"
            return _compare(servers, rounds, per_round)
        finally:
            for process in processes:
                stop_process(process)


def _compare(servers: dict[str, str], rounds: int, per_round: int) -> str:
    rows = []
    with httpx.Client(timeout=120) as client:
        for case, fields in CASES.items():
            body = {"prompt": PROMPT, "size": "1024x1024", **fields}
            for base in servers.values():  # warm-up: models loaded, pools and connections made
                for _ in range(3):
                    client.post(f"{base}/v1/images/generations", json=body).raise_for_status()
            sent = 0
            ratios, pooled = [], {"on": [], "off": []}
            for round_ in range(rounds):
                this_round = {"on": [], "off": []}
                for i in range(per_round * 2):
                    name = ("on", "off")[(i + round_) % 2]
                    sent += 1  # a prompt of its own: never answered from the prompt check's memory
                    fresh = {**body, "prompt": f"{PROMPT}, take {sent // 2}"}
                    started = time.perf_counter()
                    client.post(f"{servers[name]}/v1/images/generations", json=fresh).raise_for_status()
                    this_round[name].append(time.perf_counter() - started)
                ratios.append(median(this_round["on"]) / median(this_round["off"]))
                for name in pooled:
                    pooled[name] += this_round[name]
            on, off = median(pooled["on"]) * 1000, median(pooled["off"]) * 1000
            rows.append([case, fmt(off, 1), fmt(on, 1), fmt(on - off, 1), f"{(median(ratios) - 1) * 100:+.1f}%"])
    return ("end to end, one request at a time (median ms; added = median of per-round ratios)\n"
            + table(["request", "moderation off", "on", "on - off", "added"], rows))


def run(quick: bool) -> str:
    first = parts(rounds=3 if quick else 9, repeat=5 if quick else 20)
    second = end_to_end(rounds=2 if quick else 8, per_round=5 if quick else 15)
    return first + "\n\n" + second
