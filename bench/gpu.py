"""`python -m bench gpu`: the GPU path in one command, on a CUDA machine with no network.

Needs a CUDA GPU and torch's CUDA build; elsewhere `run()` returns one line saying it was skipped
(nothing is built). On a GPU it builds full-size random-weight pipelines shaped like SD 1.5, SDXL and
FLUX.1-dev (`bench/_gpu_models.py`: the published configs, no downloads; random weights cost the
compute of trained ones), and measures, each against its baseline in the same run:

    overhead    per model at its native size (SD 1.5 512, SDXL 1024, FLUX 1024): the pipeline called in
                this process (+ uint8, PNG, base64) vs a real `darkroom serve` (defaults: moderation on)
                over HTTP, one request at a time, alternating rounds (bench/engine_overhead.py's code).
                Aim: darkroom / direct <= 1.02x.
    batching    SD 1.5 512x512, 20 steps, 8 and 32 closed-loop clients, max_batch_images 8 vs 1
                (bench/batching.py's GPU workload). Aim: >= 1.5x images/s at 8 clients.
    moderation  the SDXL-shaped pipeline run as a turbo model (4 steps, guidance 0, 512x512), two servers
                identical but for `moderation_enabled`, one request at a time, alternating; share =
                (on - off) / on. The server's log says where the detector ran (CUDA when onnxruntime-gpu
                is installed: `EXTRAS=diffusers,gpu`). Aim: <= 5%.
    options     the engine's speed options on SD 1.5 at 512 (VAE tiling at 1024), in this process, each
                against the plain pipeline in alternating runs: bf16/fp16 vs fp32, SDPA vs the classic
                attention processor, torch.compile of the UNet (compile time reported, not timed),
                channels_last, VAE tiling (the decode alone).

Then a summary table with the aims, the card's name and the versions.

    BENCH_GPU_SECTIONS=overhead,batching,moderation,options   (default: all)
    BENCH_GPU_MODELS=sd15,sdxl,flux                           (the overhead section's models; default: all)

Disk: SD 1.5 ~2 GB, SDXL ~7 GB, FLUX ~33 GB in bf16, each deleted after its section. `--quick`: fewer
rounds and steps (about 5 minutes on one H100, FLUX's build included; the full run about 10).
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._common import HOST, free_port, python, start_process, stop_process, table

SECTIONS = ("overhead", "batching", "moderation", "options")
NATIVE = {"sd15": (512, 20, 7.5), "sdxl": (1024, 20, 5.0), "flux": (1024, 20, 3.5)}  # size, steps, guidance
QUICK_STEPS = {"sd15": 8, "sdxl": 6, "flux": 4}
AIMS = {"overhead": ("darkroom / direct", 1.02, "<="), "batching": ("images/s on / off, 8 clients", 1.5, ">="),
        "moderation": ("moderation share of a turbo 512x512", 0.05, "<=")}
ENV = {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}


@dataclass(frozen=True)
class Row:
    """One line of the summary: what, the measured value, its aim ("<=" or ">=" a bound, or none)."""

    what: str
    value: float
    shown: str
    aim: tuple[str, float] | None = None

    @property
    def verdict(self) -> str:
        if self.aim is None:
            return "-"
        sign, bound = self.aim
        return "met" if (self.value <= bound if sign == "<=" else self.value >= bound) else "NOT met"


def selected(variable: str, known: tuple[str, ...]) -> list[str]:
    """The names in environment variable `variable` (comma-separated; all of `known` when unset)."""
    raw = os.environ.get(variable, "")
    names = [n.strip() for n in raw.split(",") if n.strip()] or list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"{variable}: unknown name(s) {', '.join(unknown)} (known: {', '.join(known)})")
    return names


def summary(rows: list[Row]) -> str:
    body = [[r.what, r.shown, f"{r.aim[0]} {r.aim[1]:g}" if r.aim else "-", r.verdict] for r in rows]
    return table(["measure", "result", "aim", "verdict"], body)


def median_ratio(pairs: list[tuple[float, float]]) -> float:
    """The median over rounds of (this side / that side): robust to a machine whose speed wanders."""
    return statistics.median(a / b for a, b in pairs)


def share(on_ms: float, off_ms: float) -> float:
    """Moderation's share of a request's time: what switching it on adds, over the time with it on."""
    return (on_ms - off_ms) / on_ms


# ---------------------------------------------------------------------------------------------
# Sections (each returns its detail text and its summary rows)


def _server(work: Path, name: str, config: str, *, log_level: str = "warning") -> tuple[Any, int]:
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "darkroom.toml"
    path.write_text(config)
    port = free_port()
    process = start_process([python(), "-m", "darkroom", "serve", "--port", str(port), "--config", str(path),
                             "--log-level", log_level], folder / "darkroom.log",
                            f"http://{HOST}:{port}/health", timeout=900, env=ENV)
    return process, port


def overhead(work: Path, quick: bool, dtype: str) -> tuple[str, list[Row]]:
    import torch

    from . import _gpu_models
    from .engine_overhead import Direct, OverHttp, config_text, measure_size, model_toml, size_table

    details, rows = [], []
    for name in selected("BENCH_GPU_MODELS", _gpu_models.MODELS):
        size, steps, guidance = NATIVE[name]
        steps = QUICK_STEPS[name] if quick else steps
        folder = work / f"{name}-model"
        started = time.perf_counter()
        _gpu_models.save(_gpu_models.make_pipeline(name, device="cuda", dtype=dtype), folder)
        torch.cuda.empty_cache()
        built_s = time.perf_counter() - started
        server, direct, http = None, None, None
        try:
            server, port = _server(work, f"{name}-server", config_text(
                work / f"{name}-data", model_toml(name, folder, device="cuda", dtype="auto", steps=steps,
                                                  guidance=guidance)))
            direct = Direct(folder, device="cuda", dtype=dtype)
            http = OverHttp(port, model=name, server_pid=server.pid)
            result = measure_size(direct, http, size, size, rounds=3 if quick else 8, per_round=2 if quick else 3,
                                  warmup=1 if quick else 2, seconds=120 if quick else 240, steps=steps,
                                  guidance=guidance)
            details.append(f"-- {name} (built in {built_s:.0f} s)\n" + size_table(result, aim=AIMS["overhead"][1]))
            value = median_ratio([(statistics.median(r.darkroom_ms), statistics.median(r.direct_ms))
                                  for r in result.kept()])
            rows.append(Row(f"overhead, {name} {size}x{size} {steps} steps", value, f"{value:.3f}x",
                            (AIMS["overhead"][2], AIMS["overhead"][1])))
        finally:
            if http is not None:
                http.close()
            if direct is not None:
                direct.close()
            stop_process(server)
            shutil.rmtree(folder, ignore_errors=True)
            torch.cuda.empty_cache()
    return "\n\n".join(details), rows


def batching_section(work: Path, quick: bool, dtype: str) -> tuple[str, list[Row]]:
    from . import batching

    text = batching.measure(batching.GPU, (batching.QUICK if quick else batching.FULL)["cuda"])
    found = re.search(r"images/s on / off >= [\d.]+x \(got ([\d.]+)x\)", text)
    rows = [Row("batching gain, SD 1.5 512x512, 8 clients", float(found.group(1)), f"{found.group(1)}x",
                (AIMS["batching"][2], AIMS["batching"][1]))] if found else []
    return text, rows


def moderation_section(work: Path, quick: bool, dtype: str) -> tuple[str, list[Row]]:
    import httpx
    import torch

    from . import _gpu_models

    folder = work / "sdxl-turbo-model"
    _gpu_models.save(_gpu_models.make_pipeline("sdxl", device="cuda", dtype=dtype), folder)
    torch.cuda.empty_cache()
    entry = ('[[models]]\nname = "turbo"\nengine = "diffusers"\nfamily = "gpt-image"\n'
             f'path = "{folder.as_posix()}"\nlocal_files_only = true\ndevice = "cuda"\ndtype = "auto"\nturbo = true\n'
             'presets = { low = { steps = 4, guidance_scale = 0.0 }, medium = { steps = 4, guidance_scale = 0.0 }, '
             'high = { steps = 4, guidance_scale = 0.0 } }\n')
    servers: dict[str, tuple[Any, int]] = {}
    try:
        for side, enabled in (("on", "true"), ("off", "false")):
            servers[side] = _server(work, f"turbo-{side}", f'data_dir = "{(work / f"turbo-{side}-data").as_posix()}"\n'
                                    f"moderation_enabled = {enabled}\n\n{entry}", log_level="info")
        rounds, per_round = (4, 4) if quick else (10, 8)
        times: dict[str, list[list[float]]] = {"on": [], "off": []}
        with httpx.Client(timeout=300) as client:
            def once(side: str, n: int) -> float:
                body = {"model": "turbo", "prompt": f"a todo app hero image, take {n}", "size": "512x512",
                        "quality": "low", "seed": n}
                started = time.perf_counter()
                client.post(f"http://{HOST}:{servers[side][1]}/v1/images/generations", json=body).raise_for_status()
                return (time.perf_counter() - started) * 1000

            for side in ("on", "off"):  # warm-up
                for n in range(3):
                    once(side, n)
            for r in range(rounds):
                for side in (("on", "off") if r % 2 == 0 else ("off", "on")):
                    times[side].append([once(side, 100 * r + i) for i in range(per_round)])
        on = [statistics.median(t) for t in times["on"]]
        off = [statistics.median(t) for t in times["off"]]
        shares = [share(a, b) for a, b in zip(on, off, strict=True)]
        log = (work / "turbo-on" / "darkroom.log").read_text(errors="replace")
        where = re.search(r"image moderation runs on (.*)", log)
        text = (f"turbo-shaped SDXL, 512x512, 4 steps, guidance 0, b64_json png; {rounds} rounds x {per_round} "
                f"requests per side, alternating\n" + table(
                    ["", "moderation on", "off"],
                    [["median ms", f"{statistics.median(on):.1f}", f"{statistics.median(off):.1f}"]])
                + f"\n   share per round: {', '.join(f'{s * 100:.1f}%' for s in shares)}"
                + f"\n   detector: {where.group(1) if where else 'the CPU (no CUDA provider line in the log)'}")
        value = statistics.median(shares)
        return text, [Row("moderation share, turbo SDXL 512x512 4 steps", value, f"{value * 100:.1f}%",
                          (AIMS["moderation"][2], AIMS["moderation"][1]))]
    finally:
        for process, _ in servers.values():
            stop_process(process)
        shutil.rmtree(folder, ignore_errors=True)


def _timed(work: Callable[[], object]) -> float:
    import torch

    torch.cuda.synchronize()
    started = time.perf_counter()
    work()
    torch.cuda.synchronize()
    return (time.perf_counter() - started) * 1000


def alternate(plain: Callable[[], object], variant: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median ms of each, run alternately after one discarded run of each."""
    plain(), variant()
    a, b = [], []
    for i in range(runs):
        for side, work in ((a, plain), (b, variant)) if i % 2 == 0 else ((b, variant), (a, plain)):
            side.append(_timed(work))
    return statistics.median(a), statistics.median(b)


def options_section(work: Path, quick: bool, dtype: str) -> tuple[str, list[Row]]:
    import torch
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    from . import _gpu_models

    steps, runs = (8, 3) if quick else (20, 5)
    half = getattr(torch, dtype)
    pipe = _gpu_models.make_pipeline("sd15", device="cuda", dtype=dtype)
    pipe.set_progress_bar_config(disable=True)

    def call(p: Any = None, size: int = 512) -> Callable[[], object]:
        target = p or pipe
        return lambda: target("a todo app hero image", height=size, width=size, num_inference_steps=steps,
                              generator=torch.Generator("cpu").manual_seed(1), output_type="np")

    rows, lines = [], []

    def record(what: str, plain_ms: float, variant_ms: float, note: str = "") -> None:
        gain = plain_ms / variant_ms
        lines.append([what, f"{plain_ms:.1f}", f"{variant_ms:.1f}", f"{gain:.2f}x", note])
        rows.append(Row(f"speed option: {what}", gain, f"{gain:.2f}x faster"))

    fp32 = _gpu_models.make_pipeline("sd15", device="cuda", dtype="float32")
    fp32.set_progress_bar_config(disable=True)
    record(f"{dtype} vs float32", *alternate(call(fp32), call(), runs))
    del fp32
    torch.cuda.empty_cache()
    pipe.unet.set_attn_processor(AttnProcessor())
    classic = _timed(call())
    pipe.unet.set_attn_processor(AttnProcessor2_0())
    plain, sdpa = alternate(lambda: (pipe.unet.set_attn_processor(AttnProcessor()), call()()),
                            lambda: (pipe.unet.set_attn_processor(AttnProcessor2_0()), call()()), runs)
    record("SDPA vs classic attention", plain, sdpa, f"first classic run {classic:.0f} ms")
    pipe.unet.set_attn_processor(AttnProcessor2_0())
    plain = statistics.median(_timed(call()) for _ in range(runs))
    pipe.unet.to(memory_format=torch.channels_last)
    pipe.vae.to(memory_format=torch.channels_last)
    last = statistics.median(_timed(call()) for _ in range(runs))
    record("channels_last", plain, last)
    pipe.unet.to(memory_format=torch.contiguous_format)
    pipe.vae.to(memory_format=torch.contiguous_format)
    latents = torch.randn(1, 4, 128, 128, device="cuda", dtype=half)
    decode = lambda: pipe.vae.decode(latents / pipe.vae.config.scaling_factor)  # noqa: E731
    untiled = statistics.median(_timed(decode) for _ in range(runs))
    pipe.vae.enable_tiling()
    tiled = statistics.median(_timed(decode) for _ in range(runs))
    pipe.vae.disable_tiling()
    peak = torch.cuda.max_memory_allocated() / 2**30
    record("VAE tiling (1024x1024 decode)", untiled, tiled, f"peak memory {peak:.1f} GiB (tiling is for memory)")
    plain = statistics.median(_timed(call()) for _ in range(runs))
    started = time.perf_counter()
    pipe.unet.compile()
    call()()  # compiles
    compile_s = time.perf_counter() - started
    compiled = statistics.median(_timed(call()) for _ in range(runs))
    record("torch.compile (UNet)", plain, compiled, f"compile {compile_s:.0f} s, not timed")
    del pipe
    torch.cuda.empty_cache()
    text = (f"SD 1.5 512x512, {steps} steps, in this process, median of {runs} runs\n"
            + table(["option", "without ms", "with ms", "speed-up", "note"], lines))
    return text, rows


RUNNERS = {"overhead": overhead, "batching": batching_section, "moderation": moderation_section,
           "options": options_section}


def run(quick: bool) -> str:
    try:
        import torch
    except ImportError:
        return "gpu: skipped: needs torch with CUDA and a GPU (torch is not installed)"
    if not torch.cuda.is_available():
        return "gpu: skipped: needs a CUDA GPU (torch.cuda.is_available() is False here)"
    import diffusers

    sections = selected("BENCH_GPU_SECTIONS", SECTIONS)
    for key, value in ENV.items():
        os.environ.setdefault(key, value)
    dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"  # what the engine's dtype auto picks
    parts, rows = [], []
    with tempfile.TemporaryDirectory(prefix="darkroom-bench-gpu-") as tmp:
        for name in sections:
            started = time.perf_counter()
            try:
                text, found = RUNNERS[name](Path(tmp), quick, dtype)
            except Exception as exc:  # one failing section must not hide the others' figures
                text, found = f"failed: {type(exc).__name__}: {exc}", []
            parts.append(f"## {name} ({time.perf_counter() - started:.0f} s)\n{text}")
            rows += found
    head = (f"gpu: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, diffusers {diffusers.__version__}, "
            f"{dtype}; random-weight pipelines shaped like the published models")
    return "\n\n".join([head, *parts, "summary\n" + summary(rows)])
