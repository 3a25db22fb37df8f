"""Edits, variations and partial images of the diffusers engine, in-process on the tiny random pipelines.

Edits and variations run image-to-image / inpainting pipelines built over the loaded weights;
partial images are real intermediate latents decoded by the pipeline's VAE. Sizes stay at 64-128 px
and 4 steps so the file runs in well under a minute on a 2-core CPU.
"""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import pytest

from darkroom.engines.base import EngineCancelled, GenerationJob, SourceImages
from darkroom.engines.diffusers import DiffusersEngine
from darkroom.engines.diffusers.options import check_options
from darkroom.engines.diffusers.previews import preview_steps
from darkroom.errors import InvalidRequest

from .failing import FailOnce

STEPS = 4


def make_engine(folder) -> DiffusersEngine:
    preset = {"steps": STEPS}
    engine = DiffusersEngine("tiny", check_options("tiny", {
        "path": str(folder), "local_files_only": True, "device": "cpu", "warmup": False,
        "presets": {"low": preset, "medium": preset, "high": preset}}))
    engine.load()
    return engine


@pytest.fixture(scope="module")
def sd(tiny_pipelines) -> DiffusersEngine:
    return make_engine(tiny_pipelines["sd"])


@pytest.fixture(scope="module")
def flux(tiny_pipelines) -> DiffusersEngine:
    return make_engine(tiny_pipelines["flux"])


def picture(side: int = 64, alpha: bool = False, flip: bool = False) -> np.ndarray:
    """A smooth colour gradient, uint8 RGB (or RGBA with a varying alpha)."""
    yy, xx = np.mgrid[0:side, 0:side] * (255 // (side - 1))
    channels = [xx, yy, 255 - xx // 2] + ([yy] if alpha else [])
    image = np.stack(channels, axis=-1).astype(np.uint8)
    return np.ascontiguousarray(image[::-1, ::-1]) if flip else image


def centre_mask(side: int = 64) -> np.ndarray:
    """Repaint (1) the central square, keep (0) the rest."""
    repaint = np.zeros((side, side), np.float32)
    repaint[side // 4: 3 * side // 4, side // 4: 3 * side // 4] = 1.0
    return repaint


def job(operation: str = "edit", *, seeds=(1,), side: int = 64, strength: float = 0.5, repaint=None,
        image=None, prompt: str = "a red house", partial_images: int = 0, on_partial=None, **extra) -> GenerationJob:
    source = None
    if operation != "generate":
        source = SourceImages(images=(picture(side) if image is None else image,), repaint=repaint, strength=strength)
    return GenerationJob(prompt=prompt, width=side, height=side, quality="low", seeds=tuple(seeds),
                         operation=operation, source=source, partial_images=partial_images,
                         on_partial=on_partial, **extra)


def diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


class Recorder:
    """Collects on_partial calls: (image index, partial index, pixels)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, np.ndarray]] = []

    def __call__(self, image: int, index: int, pixels: np.ndarray) -> None:
        self.calls.append((image, index, pixels))

    @property
    def order(self) -> list[tuple[int, int]]:
        return [(image, index) for image, index, _ in self.calls]


# ---- derived pipelines --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sd", "flux"])
def test_edit_pipelines_share_the_loaded_weights(kind, request):
    engine = request.getfixturevalue(kind)
    caps = engine.capabilities
    assert caps.operations == {"generate", "edit", "variation"}
    assert caps.max_source_images == 1 and caps.partial_images
    base = engine._pipe
    for role in ("img2img", "inpaint"):
        derived, _ = engine._derived[role]
        assert derived is not base
        for name, component in base.components.items():
            if hasattr(component, "parameters"):  # every torch module: the same object, not a copy
                assert derived.components[name] is component, (role, name)
        assert derived.dtype == base.dtype


def test_flux_edit_pipelines_are_the_flux_ones(flux):
    names = {role: type(pipe).__name__ for role, (pipe, _) in flux._derived.items()}
    assert names == {"img2img": "FluxImg2ImgPipeline", "inpaint": "FluxInpaintPipeline"}


# ---- edits without a mask (image-to-image) ------------------------------------------------------


def test_edit_gives_one_rgb_image_per_seed_reproducible_from_its_seed(sd):
    source = picture(alpha=True)  # RGBA: the alpha channel is dropped
    two = sd.generate(job(seeds=(5, 6), image=source))
    assert [im.shape for im in two.images] == [(64, 64, 3)] * 2
    assert all(im.dtype == np.uint8 for im in two.images)
    again = sd.generate(job(seeds=(5, 6), image=source))
    assert all(np.array_equal(a, b) for a, b in zip(two.images, again.images))
    alone = sd.generate(job(seeds=(6,), image=source))
    assert diff(alone.images[0], two.images[1]) < 1.0  # image i from seed i, batched or not
    assert diff(two.images[0], two.images[1]) > 5.0


def test_edit_runs_steps_times_strength_and_reports_them(sd):
    info = sd.generate(job(strength=0.5)).info
    assert (info["steps"], info["strength"]) == (STEPS * 0.5, 0.5)
    assert sd.generate(job(strength=1.0)).info["steps"] == STEPS
    # 4 steps x 0.1 would run none: the schedule is lengthened so that exactly one step runs
    assert sd.generate(job(strength=0.1)).info["steps"] == 1


def test_strength_zero_keeps_the_source_and_more_strength_follows_the_source_less(sd):
    source = picture(alpha=True)
    kept = sd.generate(job(strength=0.0, image=source, seeds=(1, 2)))
    assert all(np.array_equal(im, source[..., :3]) for im in kept.images) and kept.info["steps"] == 0
    other = picture(flip=True)
    # same seed, two different sources: the outputs differ less and less as strength grows
    spread = [diff(sd.generate(job(strength=s)).images[0], sd.generate(job(strength=s, image=other)).images[0])
              for s in (0.25, 0.5, 1.0)]
    assert spread[0] > spread[1] > spread[2]
    assert spread[0] > 4 * spread[2]


def test_edits_of_different_requests_share_a_call_each_with_its_own_source(sd):
    first, second = job(seeds=(3,)), job(seeds=(4, 5), image=picture(flip=True))
    assert sd.batch_key(first) == sd.batch_key(second)
    together = sd.generate_batch([first, second])
    assert together[0].info["batch"] == 3
    for alone, batched in zip((sd.generate(first), sd.generate(second)), together):
        assert all(diff(a, b) < 1.0 for a, b in zip(alone.images, batched.images))


def test_batch_key_separates_operations_strengths_and_masks(sd):
    keys = {sd.batch_key(j) for j in (job("generate"), job("edit"), job("variation"), job(strength=0.7),
                                      job(repaint=centre_mask()))}
    assert len(keys) == 5
    assert sd.batch_key(job(repaint=centre_mask())) == sd.batch_key(job(repaint=1 - centre_mask()))


# ---- edits with a mask (inpainting) -------------------------------------------------------------


def test_masked_edit_repaints_the_masked_area(sd):
    mask = centre_mask()
    one = sd.generate(job(repaint=mask, strength=1.0, seeds=(1,))).images[0]
    two = sd.generate(job(repaint=mask, strength=1.0, seeds=(2,))).images[0]
    assert one.shape == (64, 64, 3) and one.dtype == np.uint8
    assert np.array_equal(one, sd.generate(job(repaint=mask, strength=1.0, seeds=(1,))).images[0])
    inside = mask > 0.5
    ring = np.ones_like(inside)
    ring[8:56, 8:56] = False  # the border, away from the mask's edge
    # the seed decides what is painted inside the mask; outside, the source is kept
    assert diff(one[inside], two[inside]) > 4 * diff(one[ring], two[ring])
    plain = sd.generate(job(strength=1.0, seeds=(1,))).images[0]
    assert diff(one, plain) > 1.0  # a different pipeline from the unmasked edit


def test_masked_edit_is_refused_when_no_inpainting_pipeline_exists(sd):
    inpaint = sd._derived.pop("inpaint")  # as for a pipeline class diffusers cannot inpaint with
    try:
        with pytest.raises(InvalidRequest) as caught:
            sd.generate(job(repaint=centre_mask()))
        assert caught.value.param == "mask" and "'tiny'" in str(caught.value)
        assert sd.generate(job()).images[0].shape == (64, 64, 3)  # unmasked edits still work
    finally:
        sd._derived["inpaint"] = inpaint


# ---- variations -----------------------------------------------------------------------------------


def test_variation_follows_the_source_without_a_prompt(sd):
    result = sd.generate(job("variation", prompt="", seeds=(1, 2), strength=0.75))
    assert [im.shape for im in result.images] == [(64, 64, 3)] * 2
    assert (result.info["steps"], result.info["strength"]) == (3, 0.75)
    assert diff(result.images[0], result.images[1]) > 1.0


# ---- errors -------------------------------------------------------------------------------------


@contextlib.contextmanager
def failing_once(engine, role: str, error: Exception):
    pipe, params = engine._derived[role]
    engine._derived[role] = (FailOnce(pipe, error), params)
    try:
        yield
    finally:
        engine._derived[role] = (pipe, params)


def test_edit_failures_map_like_generation_failures(sd):
    import torch

    from darkroom.errors import ServiceUnavailable

    with failing_once(sd, "img2img", ValueError("`strength` must be between 0 and 1")), \
            pytest.raises(InvalidRequest, match="strength"):
        sd.generate(job())
    with failing_once(sd, "inpaint", torch.OutOfMemoryError("out of memory")), \
            pytest.raises(ServiceUnavailable) as caught:
        sd.generate(job(repaint=centre_mask()))
    assert caught.value.code == "out_of_memory"
    with pytest.raises(EngineCancelled):
        sd.generate_batch([job("variation")], should_stop=lambda: True)


# ---- partial images -------------------------------------------------------------------------------


def test_partial_steps_are_evenly_spaced_before_the_last():
    assert preview_steps(8, 3) == {2, 4, 6}
    assert preview_steps(4, 1) == {2}
    assert preview_steps(4, 2) == {1, 3}
    assert preview_steps(4, 3) == {1, 2, 3}
    assert preview_steps(3, 3) == {1, 2}
    assert preview_steps(2, 3) == {1}
    assert preview_steps(1, 3) == set()


@pytest.mark.parametrize("wanted", [1, 2, 3])
def test_partials_come_in_order_shaped_like_the_final_image_which_they_leave_unchanged(sd, wanted):
    plain = sd.generate(job("generate", seeds=(1, 2)))
    partials = Recorder()
    streamed = sd.generate(job("generate", seeds=(1, 2), partial_images=wanted, on_partial=partials))
    assert partials.order == [(image, index) for index in range(wanted) for image in (0, 1)]
    assert all(px.shape == (64, 64, 3) and px.dtype == np.uint8 for _, _, px in partials.calls)
    assert all(np.array_equal(a, b) for a, b in zip(plain.images, streamed.images))
    assert streamed.info["steps"] == plain.info["steps"] == STEPS


def test_partials_decode_the_pipelines_own_latents_after_those_steps(sd, monkeypatch):
    import torch

    from darkroom.engines.diffusers import previews as diffusers_previews

    decoded = []
    real_decode = diffusers_previews.decode_latents

    def spy(pipe, latents, height, width, **kwargs):
        decoded.append(latents.clone())
        return real_decode(pipe, latents, height, width, **kwargs)

    monkeypatch.setattr(diffusers_previews, "decode_latents", spy)
    partials = Recorder()
    final = sd.generate(job("generate", seeds=(9,), partial_images=3, on_partial=partials)).images[0]
    # the same run straight through diffusers, keeping the latents after each step
    after_step = []

    def keep(pipe, step, timestep, tensors):
        after_step.append(tensors["latents"].clone())
        return tensors

    sd._pipe(prompt="a red house", height=64, width=64, num_inference_steps=STEPS, guidance_scale=7.5,
             generator=torch.Generator("cpu").manual_seed(9), callback_on_step_end=keep, output_type="np")
    assert len(decoded) == 3
    for latents, step in zip(decoded, (1, 2, 3)):  # after steps 1, 2 and 3 of 4
        assert torch.allclose(latents, after_step[step - 1], atol=1e-5)
    noisiest = partials.calls[0][2]
    assert diff(noisiest, final) > 1.0 and not np.array_equal(partials.calls[-1][2], final)


def test_partials_at_128px_are_decoded_at_half_size_then_enlarged(sd):
    partials = Recorder()
    result = sd.generate(job("generate", side=128, partial_images=2, on_partial=partials))
    assert [px.shape for _, _, px in partials.calls] == [(128, 128, 3)] * 2
    assert result.images[0].shape == (128, 128, 3)


def test_partials_of_an_edit_follow_the_steps_it_really_runs(sd):
    partials = Recorder()  # 8 steps at strength 0.5: 4 steps run, so partials after steps 1, 2, 3
    result = sd.generate(job(strength=0.5, steps=8, partial_images=3, on_partial=partials))
    assert result.info["steps"] == 4 and partials.order == [(0, 0), (0, 1), (0, 2)]
    masked = Recorder()
    sd.generate(job(repaint=centre_mask(), strength=1.0, partial_images=1, on_partial=masked))
    assert masked.order == [(0, 0)]


def test_partials_in_a_batch_go_only_to_the_job_that_asked(sd):
    wants, quiet = Recorder(), Recorder()
    asking = job("generate", seeds=(1,), partial_images=2, on_partial=wants)
    silent = job("generate", seeds=(2, 3), partial_images=0, on_partial=quiet)
    assert sd.batch_key(asking) == sd.batch_key(silent)
    results = sd.generate_batch([silent, asking])
    assert wants.order == [(0, 0), (0, 1)] and quiet.calls == []
    assert [len(r.images) for r in results] == [2, 1]
    alone = Recorder()
    sd.generate(job("generate", seeds=(1,), partial_images=2, on_partial=alone))
    assert all(diff(a, b) < 1.0 for (_, _, a), (_, _, b) in zip(wants.calls, alone.calls))


def test_a_partial_that_cannot_be_made_does_not_fail_the_request(sd, monkeypatch, caplog):
    from darkroom.engines.diffusers import previews as diffusers_previews

    def broken(*args, **kwargs):
        raise RuntimeError("decoder exploded")

    monkeypatch.setattr(diffusers_previews, "decode_latents", broken)
    partials = Recorder()
    result = sd.generate(job("generate", partial_images=3, on_partial=partials))
    assert result.images[0].shape == (64, 64, 3) and partials.calls == []
    assert "partial image" in caplog.text


def test_flux_partials_unpack_the_packed_latents(flux):
    plain = flux.generate(job("generate", side=128))
    partials = Recorder()
    streamed = flux.generate(job("generate", side=128, partial_images=3, on_partial=partials))
    assert partials.order == [(0, 0), (0, 1), (0, 2)]
    assert all(px.shape == (128, 128, 3) and px.dtype == np.uint8 for _, _, px in partials.calls)
    assert np.array_equal(plain.images[0], streamed.images[0])


def test_flux_edits_and_variations(flux):
    edit = flux.generate(job(seeds=(1, 2), strength=0.75))
    assert [im.shape for im in edit.images] == [(64, 64, 3)] * 2 and edit.info["steps"] == 3
    assert diff(edit.images[0], flux.generate(job(seeds=(1,), strength=0.75)).images[0]) < 1.0  # seed 1 alone
    masked = flux.generate(job(repaint=centre_mask(), partial_images=1, on_partial=Recorder()))
    assert masked.images[0].shape == (64, 64, 3)
    assert flux.generate(job("variation", prompt="")).images[0].shape == (64, 64, 3)


def test_channels_last_reorders_the_conv_models_and_draws_the_same_picture(tiny_pipelines, sd):
    import torch

    preset = {"steps": 2}
    engine = DiffusersEngine("tiny-cl", check_options("tiny-cl", {
        "path": str(tiny_pipelines["sd"]), "local_files_only": True, "device": "cpu", "warmup": False,
        "channels_last": True, "presets": {"low": preset, "medium": preset, "high": preset}}))
    engine.load()
    conv = next(p for p in engine._pipe.unet.parameters() if p.dim() == 4)
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    plain = next(p for p in sd._pipe.unet.parameters() if p.dim() == 4)
    assert plain.is_contiguous()
    job = GenerationJob(prompt="a lighthouse", width=64, height=64, quality="low", seeds=(5,))
    [mine] = engine.generate(job).images
    [theirs] = sd.generate(dataclasses.replace(job, steps=2)).images
    assert np.abs(mine.astype(int) - theirs.astype(int)).max() <= 2  # same maths, another memory order
    flux = DiffusersEngine("flux-cl", check_options("flux-cl", {
        "path": str(tiny_pipelines["flux"]), "local_files_only": True, "device": "cpu", "warmup": False,
        "channels_last": True}))
    flux.load()  # a transformer: left alone, the VAE reordered
    assert next(p for p in flux._pipe.vae.parameters() if p.dim() == 4).is_contiguous(
        memory_format=torch.channels_last)
