"""Slow engines load in the background: /health says so, requests get a 503 with Retry-After until
the model is ready, and a failed load is reported (in-process, with engines the test controls)."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from darkroom.api.app import create_app
from darkroom.catalog import Catalog, build_catalog
from darkroom.config import load_settings
from darkroom.engines.base import Capabilities, Engine, Generation, GenerationJob


class GatedEngine(Engine):
    """Loads only when the test opens the gate; fails to load if told to."""

    name = "gated"
    loads_slowly = True
    capabilities = Capabilities(native_alpha=False, max_pixels=1 << 24)

    def __init__(self, fail: bool = False) -> None:
        self.gate = threading.Event()
        self.fail = fail

    def load(self) -> None:
        assert self.gate.wait(30)
        if self.fail:
            raise RuntimeError("weights are corrupt: /models/x/unet.safetensors")

    def generate(self, job: GenerationJob) -> Generation:
        return Generation([np.zeros((job.height, job.width, 3), np.uint8) for _ in job.seeds])


def app_with(engine: Engine, tmp_path):
    settings = load_settings(data_dir=tmp_path)
    specs = {spec.name: spec for spec in build_catalog(settings)}
    specs["slow"] = dataclasses.replace(specs["gpt-image-1"], name="slow", engine=engine, engine_name="gated")
    return create_app(settings, Catalog(specs))


def wait_for(client, status: int) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        response = client.get("/health")
        if response.status_code == status:
            return response.json()
        time.sleep(0.02)
    pytest.fail(f"/health never answered {status}")


def test_loading_then_ready(tmp_path):
    engine = GatedEngine()
    with TestClient(app_with(engine, tmp_path)) as client:
        body = wait_for(client, 503)
        assert body["status"] == "loading" and body["models"]["slow"]["state"] == "loading"
        assert body["models"]["gpt-image-1"]["state"] == "ready"  # sketch serves at once
        early = client.post("/v1/images/generations", json={"model": "slow", "prompt": "x"})
        assert early.status_code == 503 and early.json()["error"]["code"] == "model_loading"
        assert int(early.headers["retry-after"]) > 0
        assert client.post("/v1/images/generations", json={"model": "gpt-image-1", "prompt": "x",
                                                            "quality": "low"}).status_code == 200
        engine.gate.set()
        assert wait_for(client, 200)["models"]["slow"]["state"] == "ready"
        assert client.post("/v1/images/generations", json={"model": "slow", "prompt": "x"}).status_code == 200


def test_failed_load_is_reported_and_stops_the_server(tmp_path):
    engine = GatedEngine(fail=True)
    app = app_with(engine, tmp_path)
    stopped = []
    app.state.on_load_failure = stopped.append
    with TestClient(app) as client:
        engine.gate.set()
        body = wait_for(client, 503)
        deadline = time.monotonic() + 10
        while body["status"] != "failed" and time.monotonic() < deadline:
            body = client.get("/health").json()
        assert body["status"] == "failed" and body["models"]["slow"]["state"] == "failed"
        response = client.post("/v1/images/generations", json={"model": "slow", "prompt": "x"})
        assert response.status_code == 503 and response.json()["error"]["code"] == "model_unavailable"
    assert stopped and "Model 'slow' failed to load" in stopped[0] and "unet.safetensors" in stopped[0]


class KeyedGatedEngine(GatedEngine):
    """A slow engine without alpha that draws on a key colour: its transparent images need matting."""

    capabilities = Capabilities(native_alpha=False, keyed_alpha=True, max_pixels=1 << 24)


def test_a_model_that_cuts_out_is_ready_only_once_matting_is_compiled(tmp_path, monkeypatch):
    """pymatting compiles on its first import (~45 s on a fresh install): the loader runs that beside the
    engine's load, and the model stays `loading` until both are done, so no request pays for it."""
    compiled = threading.Event()
    calls = []

    def slow_warm_up() -> None:
        calls.append(threading.current_thread().name)
        assert compiled.wait(30)

    monkeypatch.setattr("darkroom.loading.warm_up_matting", slow_warm_up)
    engine = KeyedGatedEngine()
    with TestClient(app_with(engine, tmp_path)) as client:
        engine.gate.set()  # the weights are loaded...
        deadline = time.monotonic() + 10
        while not calls and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # time enough for the engine's load to finish behind the gate
        body = wait_for(client, 503)  # ...but matting is still compiling
        assert body["models"]["slow"]["state"] == "loading" and len(calls) == 1
        compiled.set()
        assert wait_for(client, 200)["models"]["slow"]["state"] == "ready"


def test_engines_with_alpha_or_without_transparency_do_not_wait_for_matting(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr("darkroom.loading.warm_up_matting", lambda: calls.append(1))
    engine = GatedEngine()  # no alpha and no key colour: transparency is refused, nothing to compile
    with TestClient(app_with(engine, tmp_path)) as client:
        engine.gate.set()
        wait_for(client, 200)
    assert calls == []
