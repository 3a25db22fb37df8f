"""`python -m bench gpu` on a machine without a GPU: the skip, the selection of sections and models,
the summary's arithmetic and verdicts, and the published shapes of the pipelines it builds (made on
torch's `meta` device: no memory, no weights)."""

from __future__ import annotations

import pytest

from bench import gpu


def test_without_cuda_it_skips_at_once(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu.run(quick=True) == "gpu: skipped: needs a CUDA GPU (torch.cuda.is_available() is False here)"


def test_sections_and_models_come_from_the_environment(monkeypatch):
    monkeypatch.delenv("BENCH_GPU_SECTIONS", raising=False)
    assert gpu.selected("BENCH_GPU_SECTIONS", gpu.SECTIONS) == ["overhead", "batching", "moderation", "options"]
    monkeypatch.setenv("BENCH_GPU_SECTIONS", " moderation, options ")
    assert gpu.selected("BENCH_GPU_SECTIONS", gpu.SECTIONS) == ["moderation", "options"]
    monkeypatch.setenv("BENCH_GPU_MODELS", "sd15,sd3")
    with pytest.raises(ValueError, match="BENCH_GPU_MODELS: unknown name.*sd3.*known: sd15, sdxl, flux"):
        gpu.selected("BENCH_GPU_MODELS", ("sd15", "sdxl", "flux"))


def test_summary_verdicts_follow_each_aims_direction():
    rows = [gpu.Row("overhead", 1.019, "1.019x", ("<=", 1.02)), gpu.Row("overhead", 1.03, "1.030x", ("<=", 1.02)),
            gpu.Row("batching", 1.5, "1.5x", (">=", 1.5)), gpu.Row("batching", 1.2, "1.2x", (">=", 1.5)),
            gpu.Row("option", 1.7, "1.70x faster")]
    assert [r.verdict for r in rows] == ["met", "NOT met", "met", "NOT met", "-"]
    text = gpu.summary(rows)
    assert text.splitlines()[0].split() == ["measure", "result", "aim", "verdict"]
    assert "<= 1.02" in text and ">= 1.5" in text and text.count("NOT met") == 2


def test_ratios_and_shares():
    assert gpu.median_ratio([(110, 100), (99, 100), (300, 100)]) == pytest.approx(1.1)
    assert gpu.share(on_ms=105.0, off_ms=100.0) == pytest.approx(5 / 105)
    assert gpu.share(on_ms=100.0, off_ms=100.0) == 0


@pytest.mark.parametrize(("make", "part", "published"), [
    ("make_sd15", "unet", 860e6), ("make_sdxl", "unet", 2.57e9), ("make_flux", "transformer", 11.9e9),
    ("make_flux", "text_encoder_2", 4.63e9)])
def test_the_pipelines_have_the_published_shapes(make, part, published):
    from bench import _gpu_models

    pipe = getattr(_gpu_models, make)(device="meta", dtype="bfloat16")
    assert _gpu_models.parameters(getattr(pipe, part)) == pytest.approx(published, rel=0.02)
