"""Failures inside a diffusers pipeline are translated at the engine boundary (in-process, tiny SD):
out of memory -> 503 with Retry-After and the model still usable; the pipeline's ValueError -> 400
with its message; anything else -> sanitised 500."""

from __future__ import annotations

import contextlib
import time

import pytest
from fastapi.testclient import TestClient

from darkroom.api.app import create_app
from darkroom.catalog import build_catalog
from darkroom.config import load_settings

from .failing import FailOnce


@pytest.fixture(scope="module")
def app_and_engine(tiny_pipelines, tmp_path_factory):
    settings = load_settings(data_dir=tmp_path_factory.mktemp("data"), models=[{
        "name": "tiny-sd", "engine": "diffusers", "path": str(tiny_pipelines["sd"]), "local_files_only": True,
        "device": "cpu", "warmup": False, "presets": {"low": {"steps": 1}, "medium": {"steps": 1},
                                                      "high": {"steps": 1}}}])
    catalog = build_catalog(settings)
    engine = catalog.get("tiny-sd").engine
    with TestClient(create_app(settings, catalog), raise_server_exceptions=False) as client:
        deadline = time.monotonic() + 120
        while client.get("/health").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        yield client, engine


@contextlib.contextmanager
def failing_once(engine, error: Exception):
    """The engine's pipeline raises `error` on its next call, then works again."""
    engine._pipe = FailOnce(engine._pipe, error)
    try:
        yield
    finally:
        engine._pipe = engine._pipe.__dict__["pipe"]


def post(client):
    return client.post("/v1/images/generations", json={"model": "tiny-sd", "prompt": "x", "size": "64x64"})


def test_out_of_memory_is_503_with_retry_after_and_the_model_recovers(app_and_engine):
    import torch

    client, engine = app_and_engine
    with failing_once(engine, torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20 GiB")):
        response = post(client)
        assert response.status_code == 503
        error = response.json()["error"]
        assert (error["type"], error["code"]) == ("server_error", "out_of_memory")
        assert int(response.headers["retry-after"]) > 0 and response.headers["x-request-id"]
        assert "20 GiB" not in error["message"]
        assert post(client).status_code == 200  # still serving


def test_pipeline_value_error_is_400_with_its_message(app_and_engine):
    client, engine = app_and_engine
    with failing_once(engine, ValueError("`height` and `width` have to be divisible by 8 but are 60.")):
        response = post(client)
        assert response.status_code == 400
        error = response.json()["error"]
        assert "have to be divisible by 8 but are 60" in error["message"] and error["param"] == "size"
        assert post(client).status_code == 200


def test_other_failures_are_sanitised_500(app_and_engine):
    client, engine = app_and_engine
    with failing_once(engine, RuntimeError("cuDNN error at /opt/secret/path 0xdeadbeef")):
        response = post(client)
        assert response.status_code == 500
        assert "secret" not in response.text and "cuDNN" not in response.text
        assert response.json()["error"]["type"] == "server_error"
        assert post(client).status_code == 200


@pytest.mark.parametrize("error", [
    RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
                 "you tried to allocate 100000000000000 bytes. Error code 12 (Cannot allocate memory)"),
    MemoryError(),
], ids=["torch-cpu-allocator", "MemoryError"])
def test_host_out_of_memory_is_503_too(app_and_engine, error):
    client, engine = app_and_engine
    with failing_once(engine, error):
        response = post(client)
        assert response.status_code == 503
        error_body = response.json()["error"]
        assert error_body["code"] == "out_of_memory" and "alloc" not in error_body["message"]
        assert post(client).status_code == 200
