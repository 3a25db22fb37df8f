"""schemathesis against /openapi.json of a live `darkroom serve` (sketch engine), every operation, with API
keys on and off: no 5xx, every error in OpenAI's envelope, every 2xx valid against its schema, only
documented statuses, content types and headers (`x-request-id` on every response).

Bounded by count, not time: a fixed number of examples per operation (positive and negative data),
derandomized (a fixed seed), no example database.
"""

from __future__ import annotations

import json

import pytest
import requests
import schemathesis
from schemathesis.config import SchemathesisConfig
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from darkroom.api.openapi import build_document
from tests.conftest import API_KEY, start_server, stop_server

EXAMPLES = 10  # per operation, mode and server: 15 operations x 2 servers
KEYED = f'api_keys = ["{API_KEY}"]\nstore_all = true\n'
OPEN = "store_all = false\n"


def error_envelope(ctx, response, case) -> None:  # noqa: ANN001 - schemathesis' check signature
    """Any status >= 400, documented or not: OpenAI's envelope with its four keys, and a request id."""
    assert response.headers.get("x-request-id", [""])[0].startswith("req_"), "no x-request-id"
    if response.status_code < 400:
        return
    body = json.loads(response.content)
    assert set(body) == {"error"}, body
    assert {"message", "type", "param", "code"} <= set(body["error"]), body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body


def no_server_error(ctx, response, case) -> None:  # noqa: ANN001
    assert response.status_code < 500 or response.status_code == 503 and case.path == "/health", \
        f"{response.status_code}: {response.content[:500]!r}"


CHECKS = [no_server_error, error_envelope, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


# The document the server serves is `build_document()` (checked first, below); loading it here lets
# schemathesis parametrize at collection time, before any server runs.
SCHEMA = schemathesis.openapi.from_dict(build_document())
# Keys off: the random phase alone (the coverage phase's every-boundary cases run once, with keys on).
QUICK = schemathesis.openapi.from_dict(build_document(), config=SchemathesisConfig.from_dict(
    {"phases": {"coverage": {"enabled": False}}}))
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))


def _serve(tmp_path_factory: pytest.TempPathFactory, name: str, config: str):  # noqa: ANN202
    live = start_server(tmp_path_factory.mktemp(name), config)
    assert requests.get(f"{live.base_url}/openapi.json", timeout=10).json() == build_document()
    yield live
    alive = live.process.poll() is None
    stop_server(live)
    assert alive, f"the server died during fuzzing:\n{live.log()}"
    assert "Traceback" not in live.log(), live.log()[-4000:]


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory):
    yield from _serve(tmp_path_factory, "fuzz-keyed", KEYED)


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory):
    yield from _serve(tmp_path_factory, "fuzz-open", OPEN)


@SCHEMA.parametrize()
@FUZZ
def test_keys_on(case, keyed) -> None:  # noqa: ANN001
    case.call_and_validate(base_url=keyed.base_url, session=_session(),
                           headers={"Authorization": f"Bearer {API_KEY}"}, checks=CHECKS, timeout=60)


@QUICK.parametrize()
@FUZZ
def test_keys_off(case, open_server) -> None:  # noqa: ANN001
    case.call_and_validate(base_url=open_server.base_url, session=_session(), checks=CHECKS, timeout=60)


_SESSION: list[requests.Session] = []


def _session() -> requests.Session:
    if not _SESSION:
        _SESSION.append(requests.Session())
    return _SESSION[0]
