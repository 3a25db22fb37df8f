"""Opt-in GPU tests (DARKROOM_GPU_TESTS=1 on a CUDA machine): the same code path on CUDA with the
automatic device and dtype, and, when DARKROOM_TEST_MODEL names a real pipeline, real weights."""

from __future__ import annotations

import os

import openai
import pytest

from ..conftest import API_KEY, start_server, stop_server
from ..images import decode_b64

pytestmark = pytest.mark.gpu


def serve_model(tmp_path, path: str, **options: str):
    lines = "\n".join(f"{key} = {value}" for key, value in options.items())
    config = (f'api_keys = ["{API_KEY}"]\n[[models]]\nname = "gpu-model"\nengine = "diffusers"\n'
              f'family = "gpt-image"\npath = "{path}"\ndevice = "auto"\ndtype = "auto"\n{lines}\n')
    return start_server(tmp_path, config, timeout=900)


def test_tiny_pipeline_on_cuda(tiny_pipelines, tmp_path):
    import torch

    assert torch.cuda.is_available(), "DARKROOM_GPU_TESTS=1 needs CUDA"
    server = serve_model(tmp_path, str(tiny_pipelines["sd"]), local_files_only="true")
    try:
        with openai.OpenAI(base_url=server.v1, api_key=API_KEY, max_retries=0) as client:
            raw = client.images.with_raw_response.generate(model="gpu-model", prompt="a cat", size="256x256", n=2,
                                                           extra_body={"seed": 1})
            response = raw.parse()
        assert [decode_b64(d.b64_json).size for d in response.data] == [(256, 256)] * 2
        assert "on cuda" in server.log()
    finally:
        stop_server(server)


@pytest.mark.skipif(not os.environ.get("DARKROOM_TEST_MODEL"), reason="DARKROOM_TEST_MODEL is not set")
def test_real_checkpoint(tmp_path):
    server = serve_model(tmp_path, os.environ["DARKROOM_TEST_MODEL"])
    try:
        with openai.OpenAI(base_url=server.v1, api_key=API_KEY, max_retries=0, timeout=600) as client:
            response = client.images.generate(model="gpu-model", prompt="a hero image for a todo app, flat",
                                              quality="low")
        image = decode_b64(response.data[0].b64_json)
        assert image.format == "PNG" and image.size[0] >= 512
    finally:
        stop_server(server)
