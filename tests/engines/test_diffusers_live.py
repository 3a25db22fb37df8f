"""The diffusers engine through a live `darkroom serve` and the official Python SDK, on tiny
random-weight pipelines built offline (tests/tiny_pipelines.py): an SD 1.x-style one and a FLUX one."""

from __future__ import annotations

import concurrent.futures
import io

import numpy as np
import openai
import pytest
from PIL import Image

from ..conftest import API_KEY
from ..images import decode_b64

PROMPT = "a hero image for a todo app"


@pytest.fixture()
def live(diffusers_server):
    """The session's diffusers server (tests/conftest.py): tiny-sd, tiny-flux, tiny-sd-opaque and tiny-dalle."""
    return diffusers_server


@pytest.fixture()
def client(live):
    with openai.OpenAI(base_url=live.v1, api_key=live.api_key, max_retries=0, timeout=120) as c:
        yield c


def generate(client, **kwargs):
    """Generate through the SDK; return (response, headers)."""
    extra = {k: kwargs.pop(k) for k in ("seed", "steps", "guidance_scale", "negative_prompt", "scheduler")
             if k in kwargs}
    raw = client.images.with_raw_response.generate(prompt=kwargs.pop("prompt", PROMPT), extra_body=extra, **kwargs)
    return raw.parse(), raw.headers


def pixels(b64: str) -> np.ndarray:
    return np.asarray(decode_b64(b64))


@pytest.mark.parametrize("model, size, expected", [
    ("tiny-sd", "256x256", (256, 256)),
    ("tiny-sd", "320x192", (320, 192)),
    ("tiny-sd", "auto", (256, 256)),  # the pipeline's native size
    ("tiny-sd", None, (256, 256)),
    ("tiny-flux", "256x256", (256, 256)),
    ("tiny-flux", "192x320", (192, 320)),
])
def test_sizes(client, model, size, expected):
    kwargs = {"size": size} if size else {}
    response, _ = generate(client, model=model, quality="low", **kwargs)
    image = decode_b64(response.data[0].b64_json)
    assert (image.format, image.size, image.mode) == ("PNG", expected, "RGB")
    assert response.size == f"{expected[0]}x{expected[1]}"


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_n_images_one_batched_call(client, n):
    response, headers = generate(client, model="tiny-sd", size="128x128", quality="low", n=n, seed=5)
    assert len(response.data) == n
    images = [pixels(item.b64_json) for item in response.data]
    assert all(image.shape == (128, 128, 3) for image in images)
    assert len({image.tobytes() for image in images}) == n  # each image has its own seed
    assert headers["x-darkroom-seed"] == "5"


def test_same_seed_identical_bytes_and_image_i_reproducible_alone(client):
    first, _ = generate(client, model="tiny-sd", size="128x128", quality="low", n=3, seed=10)
    again, _ = generate(client, model="tiny-sd", size="128x128", quality="low", n=3, seed=10)
    assert [d.b64_json for d in first.data] == [d.b64_json for d in again.data]
    alone, _ = generate(client, model="tiny-sd", size="128x128", quality="low", n=1, seed=12)
    batched, single = pixels(first.data[2].b64_json).astype(int), pixels(alone.data[0].b64_json).astype(int)
    # Image 2 of the batch (seed 12) on its own: the same picture; batched float math may round one
    # level differently here and there.
    assert np.abs(batched - single).max() <= 2 and np.abs(batched - single).mean() < 0.05
    other, _ = generate(client, model="tiny-sd", size="128x128", quality="low", n=1, seed=13)
    assert np.abs(pixels(other.data[0].b64_json).astype(int) - single).mean() > 1


@pytest.mark.parametrize("quality, steps", [("low", "1"), ("medium", "2"), ("high", "3"), ("auto", "2")])
def test_quality_sets_the_step_count(client, quality, steps):
    response, headers = generate(client, model="tiny-sd", size="64x64", quality=quality)
    assert headers["x-darkroom-steps"] == steps
    assert response.quality == ("medium" if quality == "auto" else quality)


def test_extensions_are_honoured(client):
    base, headers = generate(client, model="tiny-sd", size="64x64", seed=3, steps=4, guidance_scale=2.0,
                             scheduler="euler_a")
    assert (headers["x-darkroom-steps"], headers["x-darkroom-guidance-scale"], headers["x-darkroom-scheduler"]) == (
        "4", "2.0", "euler_a")
    negative, _ = generate(client, model="tiny-sd", size="64x64", seed=3, steps=4, guidance_scale=2.0,
                           scheduler="euler_a", negative_prompt="blurry, dark")
    assert negative.data[0].b64_json != base.data[0].b64_json  # the negative prompt changed the image
    other_scheduler, _ = generate(client, model="tiny-sd", size="64x64", seed=3, steps=4, guidance_scale=2.0,
                                  scheduler="ddim")
    assert other_scheduler.data[0].b64_json != base.data[0].b64_json
    _, headers = generate(client, model="tiny-sd", size="64x64", seed=3)
    assert headers["x-darkroom-scheduler"] == "euler"  # the pipeline's own again after a per-call one
    _, headers = generate(client, model="tiny-flux", size="128x128", steps=2, scheduler="flow_match_euler")
    assert headers["x-darkroom-scheduler"] == "flow_match_euler"


@pytest.mark.parametrize("model, kwargs, param, code", [
    ("tiny-sd", {"size": "250x256"}, "size", "invalid_value"),
    ("tiny-flux", {"size": "264x256"}, "size", "invalid_value"),  # a multiple of 8 but FLUX needs 16
    ("tiny-sd", {"size": "4096x4096"}, "size", "invalid_value"),  # over the pixel cap
    ("tiny-sd", {"size": "0x0"}, "size", "invalid_value"),
    ("tiny-sd-opaque", {"background": "transparent"}, "background", "invalid_value"),  # switched off
    ("tiny-sd", {"background": "transparent", "output_format": "jpeg"}, "background", "invalid_value"),
    ("tiny-sd", {"steps": 0}, "steps", "integer_below_min_value"),
    ("tiny-sd", {"steps": 201}, "steps", "integer_above_max_value"),
    ("tiny-sd", {"steps": "4"}, "steps", "invalid_type"),
    ("tiny-sd", {"guidance_scale": -1.0}, "guidance_scale", "decimal_below_min_value"),
    ("tiny-sd", {"guidance_scale": "high"}, "guidance_scale", "invalid_type"),
    ("tiny-sd", {"scheduler": "warp-drive"}, "scheduler", "invalid_value"),
    ("tiny-flux", {"scheduler": "euler"}, "scheduler", "invalid_value"),  # not for flow matching
    ("tiny-flux", {"negative_prompt": "dark"}, "negative_prompt", "unsupported_parameter"),
    ("tiny-sd", {"negative_prompt": "x" * 32001}, "negative_prompt", "string_above_max_length"),
    ("gpt-image-1", {"steps": 4}, "steps", "unsupported_parameter"),  # sketch takes no steps
    ("gpt-image-1", {"scheduler": "euler"}, "scheduler", "unsupported_parameter"),
])
def test_refusals(client, live, model, kwargs, param, code):
    with pytest.raises(openai.BadRequestError) as info:
        generate(client, model=model, **kwargs)
    assert (info.value.param, info.value.code) == (param, code)
    assert live.process.poll() is None


def same_picture(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to the float rounding of batched maths (requests may share one pipeline call)."""
    diff = np.abs(a.astype(int) - b.astype(int))
    return diff.max() <= 2 and diff.mean() < 0.05


def test_concurrent_requests_to_one_pipeline(client, live):
    """Four requests at once: all succeed, each with the image its own prompt and seed give alone."""
    def one(args):
        prompt, seed = args
        response, _ = generate(client, model="tiny-sd", prompt=prompt, size="192x192", quality="medium", seed=seed)
        return pixels(response.data[0].b64_json)

    asks = [("a red cat", 21), ("a blue dog", 22), ("a red cat", 23), ("a green tree", 21)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        together = list(pool.map(one, asks))
    alone = [one(ask) for ask in asks]
    for i, (a, b) in enumerate(zip(together, alone)):
        assert same_picture(a, b), asks[i]
    assert not same_picture(alone[0], alone[2]) and not same_picture(alone[0], alone[3])


def test_models_list_the_diffusers_engine(client):
    models = {m.id: m for m in client.models.list()}
    assert models["tiny-sd"].model_extra["engine"] == "diffusers"
    assert models["gpt-image-1"].model_extra["engine"] == "sketch"


def test_health_reports_ready_models(live):
    import httpx

    body = httpx.get(f"{live.base_url}/health").json()
    assert body["status"] == "ok"
    assert body["models"]["tiny-sd"] == {"engine": "diffusers", "state": "ready", "queue_depth": 0}
    assert body["workers"]["tiny-sd"]["engine_calls"] > 0


def png_bytes(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, "PNG")
    return out.getvalue()


def source_pixels(side: int = 256) -> np.ndarray:
    x = np.linspace(0, 255, side, dtype=np.float32)
    return np.stack(np.broadcast_arrays(x[None, :], x[:, None], 255 - x[None, :]), axis=-1).astype(np.uint8)


def edit(client, **kwargs):
    extra = {k: kwargs.pop(k) for k in ("seed", "steps") if k in kwargs}
    raw = client.images.with_raw_response.edit(prompt=kwargs.pop("prompt", PROMPT), extra_body=extra, **kwargs)
    return raw.parse(), raw.headers


# Image-to-image runs the last steps x strength steps of the schedule: SD rounds down, FLUX up.
@pytest.mark.parametrize("model, low_steps", [("tiny-sd", "3"), ("tiny-flux", "4")])
def test_edit_is_image_to_image_at_the_fidelity_strength(client, model, low_steps):
    image = ("in.png", png_bytes(source_pixels()))
    low, headers = edit(client, model=model, image=image, size="256x256", steps=4, seed=1)
    assert pixels(low.data[0].b64_json).shape == (256, 256, 3)
    assert (headers["x-darkroom-strength"], headers["x-darkroom-steps"]) == ("0.8", low_steps)
    high, headers = edit(client, model=model, image=image, size="256x256", steps=4, seed=1, input_fidelity="high")
    assert (headers["x-darkroom-strength"], headers["x-darkroom-steps"]) == ("0.5", "2")
    assert low.data[0].b64_json != high.data[0].b64_json
    assert low.usage.input_tokens_details.image_tokens > 0


def test_edit_with_mask_is_inpainting_and_keeps_the_unmasked_pixels(client):
    source = source_pixels()
    mask = np.zeros((256, 256, 4), np.uint8)
    mask[..., 3] = 255
    mask[:128, :, 3] = 0  # repaint the top half
    result, headers = edit(client, model="tiny-sd", image=("in.png", png_bytes(source)),
                           mask=("mask.png", png_bytes(mask)), size="256x256", steps=3, seed=2)
    out = pixels(result.data[0].b64_json)
    assert np.array_equal(out[128:], source[128:])
    assert np.abs(out[:128].astype(int) - source[:128]).mean() > 10
    assert headers["x-darkroom-strength"] == "1.0"


def test_streaming_partials_come_from_the_pipeline(client):
    events = list(client.images.generate(model="tiny-sd", prompt=PROMPT, size="256x256", stream=True,
                                         partial_images=2, extra_body={"steps": 6, "seed": 4}))
    assert [e.type for e in events] == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    frames = [pixels(e.b64_json) for e in events]
    assert all(f.shape == (256, 256, 3) for f in frames)
    assert not np.array_equal(frames[0], frames[1]) and not np.array_equal(frames[1], frames[2])
    plain, _ = generate(client, model="tiny-sd", size="256x256", steps=6, seed=4)
    assert np.array_equal(frames[2], pixels(plain.data[0].b64_json))  # partials leave the result alone


@pytest.mark.parametrize("model, output_format", [("tiny-sd", "png"), ("tiny-flux", "webp")])
def test_transparent_background_is_a_cut_out_from_a_steered_picture(client, model, output_format):
    """The pipeline is asked for a flat key-colour backdrop (the prompt changes, so does the picture) and
    the service mattes it: RGBA out. How good the matte is, is tests/test_transparency.py's and
    tests/postprocess/test_matting.py's business; random weights draw no flat backdrop."""
    cut, _ = generate(client, model=model, size="256x256", quality="low", seed=9, background="transparent",
                      output_format=output_format)
    plain, _ = generate(client, model=model, size="256x256", quality="low", seed=9, output_format=output_format)
    image = decode_b64(cut.data[0].b64_json)
    assert (image.format, image.mode, image.size) == (output_format.upper(), "RGBA", (256, 256))
    assert cut.background == "transparent" and plain.background == "opaque"
    assert decode_b64(plain.data[0].b64_json).mode == "RGB"
    assert not np.array_equal(np.asarray(image)[..., :3], pixels(plain.data[0].b64_json))


def test_transparent_stream_partials_are_rgba(client):
    events = list(client.images.generate(model="tiny-sd", prompt=PROMPT, size="256x256", stream=True,
                                         partial_images=1, background="transparent",
                                         extra_body={"steps": 4, "seed": 4}))
    assert [e.type for e in events] == ["image_generation.partial_image", "image_generation.completed"]
    assert all(decode_b64(e.b64_json).mode == "RGBA" for e in events)


def test_transparent_edits_are_refused_on_diffusers(client):
    with pytest.raises(openai.BadRequestError) as info:
        edit(client, model="tiny-sd", image=("in.png", png_bytes(source_pixels())), background="transparent")
    assert info.value.param == "background" and "generations only" in info.value.message


def test_streaming_edit_on_flux(client):
    events = list(client.images.edit(model="tiny-flux", image=("in.png", png_bytes(source_pixels())), prompt=PROMPT,
                                     size="256x256", stream=True, partial_images=1,
                                     extra_body={"steps": 4, "seed": 6}))
    assert [e.type for e in events] == ["image_edit.partial_image", "image_edit.completed"]
    assert pixels(events[-1].b64_json).shape == (256, 256, 3)


def test_dalle_family_url_response_from_diffusers(live):
    """A diffusers model can follow dall-e-2 rules too: url responses, generations and variations."""
    import httpx

    response = httpx.post(f"{live.v1}/images/generations", timeout=60, headers={"Authorization": f"Bearer {API_KEY}"},
                          json={"model": "tiny-dalle", "prompt": PROMPT, "size": "256x256"})
    assert response.status_code == 200, response.text
    image = Image.open(io.BytesIO(httpx.get(response.json()["data"][0]["url"]).content))  # a signed link: no key
    assert (image.format, image.size) == ("PNG", (256, 256))
    with openai.OpenAI(base_url=live.v1, api_key=live.api_key, max_retries=0, timeout=60) as client:
        varied = client.images.create_variation(model="tiny-dalle", image=("in.png", png_bytes(source_pixels())),
                                                n=2, size="256x256", response_format="b64_json")
    first, second = (pixels(item.b64_json) for item in varied.data)
    assert first.shape == (256, 256, 3) and not np.array_equal(first, second)
