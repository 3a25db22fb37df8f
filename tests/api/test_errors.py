"""The one error mapping: every exception becomes OpenAI's envelope, and failures stay sanitised.

In-process (the engines here are made to fail on purpose); the live tests cover the rest.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient
from starlette.exceptions import HTTPException

from darkroom import errors
from darkroom.api.app import create_app
from darkroom.api.errors import error_response, to_darkroom_error
from darkroom.catalog import Catalog, build_catalog
from darkroom.config import load_settings
from darkroom.engines.base import Capabilities, Engine, Generation, GenerationJob


class BrokenEngine(Engine):
    name = "broken"
    capabilities = Capabilities(native_alpha=True, max_pixels=4096 * 4096)

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def generate(self, job: GenerationJob) -> Generation:
        if self.mode == "raise":
            raise RuntimeError("secret detail /srv/weights/model.bin at 0x7f00deadbeef")
        return Generation([np.zeros((8, 8, 3), np.uint8)])  # wrong shape on purpose


@pytest.fixture()
def client(tmp_path):
    settings = load_settings(data_dir=tmp_path)
    base = build_catalog(settings)
    specs = {spec.name: spec for spec in base}
    for mode in ("raise", "shape"):
        specs[f"broken-{mode}"] = dataclasses.replace(specs["gpt-image-1"], name=f"broken-{mode}",
                                                      engine=BrokenEngine(mode), engine_name="broken")
    with TestClient(create_app(settings, Catalog(specs)), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("model", ["broken-raise", "broken-shape"])
def test_engine_failure_is_sanitised_500_and_server_keeps_serving(client, model):
    response = client.post("/v1/images/generations", json={"model": model, "prompt": "x"})
    assert response.status_code == 500
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("server_error", "internal_error", None)
    for leak in ("secret", "/srv", "0x7f", "Traceback", "RuntimeError"):
        assert leak not in response.text
    assert response.headers["x-request-id"].startswith("req_")
    ok = client.post("/v1/images/generations", json={"model": "gpt-image-1", "prompt": "x", "quality": "low"})
    assert ok.status_code == 200


def all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from all_subclasses(sub)


@pytest.mark.parametrize("cls", sorted(all_subclasses(errors.DarkroomError), key=lambda c: c.__name__),
                         ids=lambda c: c.__name__)
def test_every_error_class_maps_to_an_envelope(cls):
    response = error_response(to_darkroom_error(cls("message", param="p")))
    assert response.status_code == cls.status and 400 <= cls.status < 600
    body = response.body.decode()
    for key in ('"message":"message"', '"type":', '"param":"p"', '"code":'):
        assert key in body


@pytest.mark.parametrize("exc, status, code", [
    (HTTPException(404), 404, "not_found"),
    (HTTPException(405), 405, "method_not_allowed"),
    (HTTPException(409, "conflict"), 409, "invalid_value"),
    (RequestValidationError([{"loc": ("body", "n"), "msg": "bad", "type": "x"}]), 400, "invalid_value"),
    (ValueError("internal /secret"), 500, "internal_error"),
])
def test_foreign_exceptions_are_translated(exc, status, code):
    error = to_darkroom_error(exc)
    assert (error.status, error.code) == (status, code)
    assert "/secret" not in error.message
