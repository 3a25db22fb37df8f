"""The diffusers engine on a GPU, at real model sizes: full-size SD 1.5 and SDXL, direct vs through Darkroom.

Needs a CUDA GPU (and torch's CUDA build); elsewhere `run()` returns one line saying it was skipped,
so `python -m bench` on a CPU machine stays quick.

The pipelines are built here from the published architectures (the configs below, written out as
dicts: nothing is downloaded) with random weights, which cost exactly the compute of the real ones,
and saved in fp16 like the published fp16 variants. Their tokenizers are the tiny local CLIP BPE
tokenizer of tests/tiny_pipelines.py (model_max_length 77), and each text encoder's vocab_size is set
to that tokenizer's length (a ~570-row embedding instead of 49,408 rows: a lookup, no compute lost).

Each model is timed at its native size (SD 1.5: 512x512, SDXL: 1024x1024) at a few step counts, two
ways, alternating rounds, warm-ups discarded (see bench/engine_overhead.py, whose code this reuses):

    direct     AutoPipelineForText2Image in this process on cuda, in the dtype Darkroom's "auto" picks (bf16
               where supported, else fp16), pipe(...) + uint8 + PNG + base64
    darkroom   a real `darkroom serve` with both models (device = "cuda", dtype = "auto"), one request at
               a time over HTTP, same prompt, size, steps, guidance, seed; b64_json

Images of random weights are noise (or, in fp16, sometimes NaN, shown as black): the figures are what
matter. `BENCH_GPU_MODELS=sd15` (or `sdxl`) limits the run to one model.

    python -m bench gpu_engine [--quick]
    python -m bench.gpu_engine --smoke-cpu     # CPU check: build SD 1.5 (fp32, ~3.4 GB), 1 step at 64x64
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from ._common import HOST, REPO_ROOT, free_port, python, start_process, stop_process
from .engine_overhead import (
    Direct,
    OverHttp,
    config_text,
    measure_size,
    model_toml,
    size_table,
)

# Published architectures: bench/_gpu_models.py holds them (bench gpu builds from the same configs).
from ._gpu_models import (  # noqa: E402
    CLIP_VIT_L_TEXT,
    EULER,
    OPENCLIP_BIGG_TEXT,
    SD15_UNET,
    SD15_VAE,
    SDXL_UNET,
    SDXL_VAE,
)

# model name -> (native size, step counts full, step counts quick, guidance)
MODELS = {
    "sd15": (512, (4, 20), (4,), 7.5),
    "sdxl": (1024, (4, 20), (4,), 5.0),
}
ROUNDS, PER_ROUND, WARMUP, SECONDS = 4, 2, 2, 150.0
QUICK_ROUNDS, QUICK_PER_ROUND, QUICK_WARMUP, QUICK_SECONDS = 2, 1, 1, 40.0


# ---------------------------------------------------------------------------------------------
# Building


def _tokenizer():
    sys.path.insert(0, str(REPO_ROOT))
    from tests.tiny_pipelines import make_clip_tokenizer

    return make_clip_tokenizer(model_max_length=77)


def _text_config(tokenizer, arch: dict):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(**arch, vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                          eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)


def build_sd15(folder: Path, *, device: str = "cpu", save_dtype: str = "float16") -> Path:
    """Random-weight SD 1.5 (UNet 860M, VAE 84M, CLIP-L text 123M parameters), saved to `folder`."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel

    torch.manual_seed(0)
    tokenizer = _tokenizer()
    with torch.device(device):
        unet = UNet2DConditionModel(**SD15_UNET)
        vae = AutoencoderKL(**SD15_VAE)
        text_encoder = CLIPTextModel(_text_config(tokenizer, CLIP_VIT_L_TEXT))
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=EulerDiscreteScheduler(**EULER), safety_checker=None,
                                   feature_extractor=None, image_encoder=None, requires_safety_checker=False)
    if save_dtype != "float32":
        pipe.to(dtype=getattr(torch, save_dtype))
    pipe.save_pretrained(folder, safe_serialization=True)
    return Path(folder)


def build_sdxl(folder: Path, *, device: str = "cpu", save_dtype: str = "float16") -> Path:
    """Random-weight SDXL base (UNet 2.6B, VAE 84M, CLIP-L 123M + OpenCLIP bigG 695M), saved to `folder`."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    tokenizer = _tokenizer()
    with torch.device(device):
        unet = UNet2DConditionModel(**SDXL_UNET)
        vae = AutoencoderKL(**SDXL_VAE)
        text_encoder = CLIPTextModel(_text_config(tokenizer, CLIP_VIT_L_TEXT))
        text_encoder_2 = CLIPTextModelWithProjection(_text_config(tokenizer, OPENCLIP_BIGG_TEXT))
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2,
                                     tokenizer=tokenizer, tokenizer_2=tokenizer, unet=unet,
                                     scheduler=EulerDiscreteScheduler(**EULER), image_encoder=None,
                                     feature_extractor=None, force_zeros_for_empty_prompt=True)
    if save_dtype != "float32":
        pipe.to(dtype=getattr(torch, save_dtype))
    pipe.save_pretrained(folder, safe_serialization=True)
    return Path(folder)


BUILDERS = {"sd15": build_sd15, "sdxl": build_sdxl}


# ---------------------------------------------------------------------------------------------
# Running


def _selected() -> list[str]:
    wanted = os.environ.get("BENCH_GPU_MODELS", "sd15,sdxl")
    names = [n.strip() for n in wanted.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ValueError(f"BENCH_GPU_MODELS: unknown model(s) {unknown} (known: {', '.join(MODELS)})")
    return names


def run(quick: bool) -> str:
    try:
        import torch
    except ImportError:
        return "gpu_engine: skipped: needs torch with CUDA and a GPU (torch is not installed)"
    if not torch.cuda.is_available():
        return "gpu_engine: skipped: needs a CUDA GPU (torch.cuda.is_available() is False here)"
    names = _selected()
    # What the engine's dtype = "auto" picks on cuda, so that both sides compute in the same precision.
    direct_dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    for key, value in env.items():
        os.environ.setdefault(key, value)
    rounds, per_round, warmup, seconds = ((QUICK_ROUNDS, QUICK_PER_ROUND, QUICK_WARMUP, QUICK_SECONDS) if quick
                                          else (ROUNDS, PER_ROUND, WARMUP, SECONDS))
    server = http = None
    directs: dict[str, Direct] = {}
    notes = []
    with tempfile.TemporaryDirectory(prefix="darkroom-bench-gpu-") as tmp:
        work = Path(tmp)
        try:
            folders = {}
            for name in names:
                started = time.perf_counter()
                folders[name] = BUILDERS[name](work / name, device="cuda")
                torch.cuda.empty_cache()
                notes.append(f"built {name} in {time.perf_counter() - started:.0f} s")
            config = work / "darkroom.toml"
            config.write_text(config_text(work / "data", *(
                model_toml(name, folders[name], device="cuda", dtype="auto", steps=MODELS[name][1][0],
                           guidance=MODELS[name][3]) for name in names)))
            port = free_port()
            started = time.perf_counter()
            server = start_process(
                [python(), "-m", "darkroom", "serve", "--port", str(port), "--config", str(config),
                 "--log-level", "warning"],
                work / "darkroom.log", f"http://{HOST}:{port}/health", timeout=600, env=env)
            notes.append(f"server healthy after {time.perf_counter() - started:.0f} s")
            tables = []
            for name in names:
                size, steps_full, steps_quick, guidance = MODELS[name]
                directs[name] = Direct(folders[name], device="cuda", dtype=direct_dtype)
                http = OverHttp(port, model=name, server_pid=server.pid)
                for steps in (steps_quick if quick else steps_full):
                    result = measure_size(directs[name], http, size, size, rounds=rounds, per_round=per_round,
                                          warmup=warmup, seconds=seconds, steps=steps, guidance=guidance)
                    tables.append(f"-- {name}\n" + size_table(result))
                    if server.poll() is not None:
                        raise RuntimeError(f"the darkroom server died (exit {server.returncode})")
                http.close()
                http = None
                directs.pop(name).close()
                torch.cuda.empty_cache()
            legend = (
                f"gpu_engine: {torch.cuda.get_device_name(0)}, torch {torch.__version__}; random-weight "
                f"{' and '.join(names)} at native size; direct = {direct_dtype} pipeline in this process "
                f"(+ PNG + base64), "
                f"darkroom = `darkroom serve` (device cuda, dtype auto) over HTTP, one request at a time\n"
                f"{rounds} rounds x {per_round} runs per side, alternating, after {warmup} warm-up run(s) "
                f"(rounds disturbed by other processes are left out and run again); "
                f"{'; '.join(notes)}"
            )
            return "\n\n".join([legend, *tables])
        finally:
            if http is not None:
                http.close()
            stop_process(server)


def smoke_cpu() -> str:
    """Build SD 1.5 on the CPU (fp32) and run it once, 1 step at 64x64, through the direct path only."""
    import torch

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="darkroom-bench-gpu-smoke-") as tmp:
        started = time.perf_counter()
        folder = build_sd15(Path(tmp) / "sd15", device="cpu", save_dtype="float32")
        built = time.perf_counter() - started
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        started = time.perf_counter()
        direct = Direct(folder, device="cpu", dtype="float32")
        loaded = time.perf_counter() - started
        params = {n: sum(p.numel() for p in getattr(direct.pipe, n).parameters()) / 1e6
                  for n in ("unet", "vae", "text_encoder")}
        total, b64_json, pipe_s, png_s = direct(64, 64, 1, 7.5, 7)
        total2, _, _, _ = direct(64, 64, 1, 7.5, 7)
    return (f"sd15 smoke (cpu, fp32, torch {torch.__version__}, {torch.get_num_threads()} threads): built+saved "
            f"{size / 1e9:.2f} GB in {built:.0f} s, loaded in {loaded:.1f} s; parameters (M): "
            f"{', '.join(f'{k} {v:.0f}' for k, v in params.items())}; 64x64 1 step: {total * 1000:.0f} ms "
            f"(pipeline {pipe_s * 1000:.0f} ms, png {png_s * 1000:.1f} ms), again {total2 * 1000:.0f} ms; "
            f"b64 {len(b64_json)} chars")


if __name__ == "__main__":
    if "--smoke-cpu" in sys.argv[1:]:
        print(smoke_cpu())
    else:
        print(run("--quick" in sys.argv[1:]))
