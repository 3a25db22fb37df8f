"""`background: transparent` on an engine without alpha: the engine draws on a key colour, the service
cuts the subject out (postprocess/matting.py). In-process, with an engine that composites a known
soft-edged subject over the key colour it was asked for (tinted, shaded and noisy, as a diffusion
model's backdrop is), so that the alpha that comes back can be compared with the true one. The
diffusers engine itself is covered in tests/engines/test_diffusers_live.py.
"""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from darkroom.api.app import create_app
from darkroom.catalog import Catalog, build_catalog
from darkroom.config import load_settings
from darkroom.engines.base import Capabilities, Engine, Generation, GenerationJob
from darkroom.postprocess.keying import KEYS

from .images import decode_b64


def true_alpha(width: int, height: int) -> np.ndarray:
    """A disc with a soft edge ~6 px wide, and a soft-edged bar: the subject's real coverage."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    disc = np.clip((min(width, height) * 0.3 - np.hypot(x - width * 0.45, y - height * 0.5)) / 6 + 0.5, 0, 1)
    bar = np.clip((6 - np.abs(y - height * 0.8)) / 3, 0, 1) * ((x > width * 0.2) & (x < width * 0.8))
    return np.maximum(disc, bar)


def subject(width: int, height: int) -> np.ndarray:
    """A textured orange-brown foreground (far from every key colour)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    stripes = 0.5 + 0.5 * np.sin(x / 5 + y / 9)
    return np.stack([200 + 40 * stripes, 110 + 50 * stripes, 40 + 20 * stripes], -1)


class KeyedEngine(Engine):
    """Draws `subject` over the job's key colour, as a diffusion model steered to a flat backdrop would."""

    name = "keyed"
    capabilities = Capabilities(native_alpha=False, keyed_alpha=True, max_pixels=1024 * 1024,
                                operations=frozenset({"generate", "edit"}), partial_images=True)

    def __init__(self) -> None:
        self.jobs: list[GenerationJob] = []

    def generate(self, job: GenerationJob) -> Generation:
        self.jobs.append(job)
        rng = np.random.default_rng(job.seeds[0])
        alpha = true_alpha(job.width, job.height)[..., None]
        key = np.array(job.key.rgb if job.key else (128, 128, 128), np.float32)
        shade = np.linspace(0.92, 1.05, job.height, dtype=np.float32)[:, None, None]
        backdrop = np.clip(key * shade + np.array([6, -4, 3]) + rng.normal(0, 3, (job.height, job.width, 3)), 0, 255)
        picture = alpha * subject(job.width, job.height) + (1 - alpha) * backdrop
        pixels = np.clip(picture + 0.5, 0, 255).astype(np.uint8)
        if job.partial_images and job.on_partial:
            job.on_partial(0, 0, pixels)
        return Generation([pixels.copy() for _ in job.seeds])


@pytest.fixture(scope="module")
def engine() -> KeyedEngine:
    return KeyedEngine()


@pytest.fixture(scope="module")
def client(engine, tmp_path_factory):
    settings = load_settings(data_dir=tmp_path_factory.mktemp("transparency"))
    specs = {spec.name: spec for spec in build_catalog(settings)}
    base = specs["gpt-image-1"]
    specs["keyed"] = dataclasses.replace(base, name="keyed", engine=engine, engine_name="keyed")
    specs["keyed-magenta"] = dataclasses.replace(base, name="keyed-magenta", engine=engine, engine_name="keyed",
                                                 transparent_key="magenta")
    specs["keyed-opaque"] = dataclasses.replace(base, name="keyed-opaque", engine=engine, engine_name="keyed",
                                                transparent_background=False)
    with TestClient(create_app(settings, Catalog(specs))) as c:
        yield c


def generate(client, **fields) -> dict:
    response = client.post("/v1/images/generations", json={"model": "keyed", "prompt": "a todo app mascot",
                                                           "size": "1024x1024", **fields})
    assert response.status_code == 200, response.text
    return response.json()


def rgba(body: dict, index: int = 0) -> np.ndarray:
    image = decode_b64(body["data"][index]["b64_json"])
    assert image.mode == "RGBA"
    return np.asarray(image)


@pytest.mark.parametrize("output_format", ["png", "webp"])
def test_a_transparent_request_is_a_real_cut_out(client, engine, output_format):
    body = generate(client, background="transparent", output_format=output_format,
                    **({"output_compression": 100} if output_format == "webp" else {}))
    job = engine.jobs[-1]
    assert job.key == KEYS["green"] and not job.transparent  # drawn on green, cut out by the service
    assert body["background"] == "transparent"
    pixels = rgba(body)
    alpha = pixels[..., 3] / 255
    truth = true_alpha(1024, 1024)
    assert np.abs(alpha - truth).mean() <= 0.05
    soft = (truth > 0.05) & (truth < 0.95)
    assert ((alpha[soft] > 0.02) & (alpha[soft] < 0.98)).mean() > 0.5  # soft edges keep partial alpha
    visible = pixels[alpha > 0.5][:, :3].astype(int)
    green = np.array(KEYS["green"].rgb)
    assert np.abs(visible - green).sum(axis=1).min() > 60  # no key colour left in the subject
    assert (visible[:, 1] <= visible[:, 0] + 10).mean() > 0.99  # and no green cast: orange stays orange


def test_the_key_avoids_the_colours_the_prompt_names(client, engine):
    generate(client, background="transparent", prompt="a green frog mascot")
    assert engine.jobs[-1].key.name != "green"
    generate(client, model="keyed-magenta", background="transparent")
    assert engine.jobs[-1].key == KEYS["magenta"]


def test_auto_is_transparent_only_when_the_prompt_asks(client, engine):
    body = generate(client, prompt="a todo app icon on a transparent background")
    assert body["background"] == "transparent" and rgba(body).shape == (1024, 1024, 4)
    body = generate(client, prompt="a todo app icon")
    assert body["background"] == "opaque" and engine.jobs[-1].key is None
    assert decode_b64(body["data"][0]["b64_json"]).mode == "RGB"


def test_partials_are_keyed_too(client):
    response = client.post("/v1/images/generations", json={
        "model": "keyed", "prompt": "a todo app mascot", "size": "1024x1024", "background": "transparent",
        "stream": True, "partial_images": 1})
    assert response.status_code == 200
    events = [line[len("data: "):] for line in response.text.splitlines() if line.startswith("data: ")]
    frames = [json.loads(event) for event in events]
    assert [f["type"] for f in frames] == ["image_generation.partial_image", "image_generation.completed"]
    for frame in frames:
        alpha = rgba({"data": [frame]})[..., 3] / 255
        assert np.abs(alpha - true_alpha(1024, 1024)).mean() <= 0.1


@pytest.mark.parametrize("model, fields, message", [
    ("keyed-opaque", {"background": "transparent"}, "not supported for this model"),
    ("keyed", {"background": "transparent", "output_format": "jpeg"}, "JPEG"),
])
def test_refusals(client, model, fields, message):
    response = client.post("/v1/images/generations", json={"model": model, "prompt": "x", **fields})
    assert response.status_code == 400 and message in response.json()["error"]["message"]
    assert response.json()["error"]["param"] == "background"


def test_edits_on_a_keyed_engine_cannot_be_transparent(client):
    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), (200, 100, 40)).save(buffer, "PNG")
    response = client.post("/v1/images/edits", files={"image": ("in.png", buffer.getvalue(), "image/png")},
                           data={"model": "keyed", "prompt": "x", "background": "transparent"})
    assert response.status_code == 400
    assert "generations only" in response.json()["error"]["message"]
