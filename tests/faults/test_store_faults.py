"""The stores going away under a live `darkroom serve`, and coming back:

- PostgreSQL (the metadata store: issued keys, their limits, the ledger) stopped mid-load with
  `pg_ctl stop -m fast`: while it is down every request is answered at once, 200 (a key still in the
  lookup cache) or 503 `store_unavailable` with Retry-After, never a 500 or a hang; once it is started
  again (same data folder, same port) requests succeed, and the ledger holds the row of every request
  answered, 2xx and 503 alike, exactly once (rows kept by the ledger while it could not write them).
- S3 (moto's server) stopped mid-load: `url` responses and Darkroom-served links are 503
  `storage_unavailable`; a new, empty moto on the same port (the bucket created again, as an operator
  would) and requests succeed again.

Each request's bound in time is the SDK's timeout: a hang would fail the test, no time is asserted.
"""

from __future__ import annotations

import base64
import contextlib
import io
import time
from collections import Counter

import boto3
import httpx
import openai
import pytest
import sqlalchemy as sa
from PIL import Image

from ..conftest import LiveServer, create_key, start_server, stop_server
from ..postgres import PgServer, pause_postgres, resume_postgres, start_postgres, stop_postgres
from ..s3_server import REGION, TEST_CREDENTIALS, free_port, moto_server

PROMPT = "a lighthouse at dusk, flat illustration"
TRIES = 80  # bounded loops: at most this many requests per phase


@pytest.fixture(scope="module")
def postgres() -> PgServer:
    server = start_postgres()
    yield server
    stop_postgres(server)


@pytest.fixture(scope="module")
def pg_url(postgres) -> str:
    return postgres.create_database("faults")


@pytest.fixture(scope="module")
def pg_server(pg_url, tmp_path_factory) -> LiveServer:
    live = start_server(tmp_path_factory.mktemp("pg-faults"), f'database_url = "{pg_url}"\n')
    yield live
    alive = live.process.poll() is None
    stop_server(live)
    assert alive, f"the server died:\n{live.log()}"


def generate(client: openai.OpenAI) -> tuple[int, str, str | None, dict]:
    """One SDK request: (status, request id, error code, headers); a 200's image is decoded and checked."""
    try:
        raw = client.images.with_raw_response.generate(model="dall-e-2", prompt=PROMPT, size="256x256",
                                                       response_format="b64_json")
    except openai.APIStatusError as exc:
        body = exc.response.json()
        assert set(body["error"]) >= {"message", "type", "param", "code"}, body
        return exc.status_code, exc.response.headers["x-request-id"], body["error"]["code"], dict(exc.response.headers)
    image = Image.open(io.BytesIO(base64.b64decode(raw.parse().data[0].b64_json)))
    assert image.size == (256, 256)
    return raw.status_code, raw.headers["x-request-id"], None, dict(raw.headers)


def ledger_rows(url: str) -> dict[str, list[tuple[int, str | None]]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT request_id, status, error_code FROM usage")).all()
    finally:
        engine.dispose()
    found: dict[str, list[tuple[int, str | None]]] = {}
    for request_id, status, code in rows:
        found.setdefault(request_id, []).append((status, code))
    return found


def test_postgres_stopped_and_restarted_mid_load(postgres, pg_url, pg_server):
    key = create_key(pg_server, "under-load", "--rpm", "6000")  # limits too: leases on the shared buckets
    answered: list[tuple[int, str, str | None]] = []
    with openai.OpenAI(base_url=pg_server.v1, api_key=key, max_retries=0, timeout=30) as client:
        for _ in range(5):
            status, request_id, code, _ = generate(client)
            assert status == 200, code
            answered.append((status, request_id, code))

        pause_postgres(postgres)
        refused = 0
        for _ in range(TRIES):  # the key's lookup is cached for a second: 200s first, then 503s
            status, request_id, code, headers = generate(client)
            answered.append((status, request_id, code))
            assert status in (200, 503), (status, code)
            if status == 503:
                assert code == "store_unavailable" and int(headers["retry-after"]) > 0
                refused += 1
                if refused == 5:
                    break
            time.sleep(0.05)
        assert refused == 5, answered

        resume_postgres(postgres)
        for _ in range(TRIES):  # the pool's dead connections are replaced (pre-ping) on the next use
            status, request_id, code, _ = generate(client)
            answered.append((status, request_id, code))
            assert status in (200, 503), (status, code)
            if status == 200:
                break
            time.sleep(0.1)
        for _ in range(5):
            status, request_id, code, _ = generate(client)
            answered.append((status, request_id, code))
            assert status == 200, code

    statuses = Counter(status for status, _, _ in answered)
    assert statuses[503] >= 5 and set(statuses) == {200, 503}
    wanted = {request_id: [(status, code)] for status, request_id, code in answered}
    found: dict = {}
    for _ in range(100):  # the rows held during the outage are written on the ledger's next try
        found = ledger_rows(pg_url)
        if all(request_id in found for request_id in wanted):
            break
        time.sleep(0.2)
    assert {request_id: found.get(request_id) for request_id in wanted} == wanted  # all there, exactly once
    log = pg_server.log()
    assert "could not write" in log and "writing again" in log  # the ledger did hold rows and retried
    assert "Traceback" not in log


def make_bucket(endpoint: str, bucket: str) -> None:
    boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket=bucket)


def url_image(client: openai.OpenAI) -> tuple[int, str | None, str | None, dict]:
    """(status, url, error code, headers) of one url request."""
    try:
        result = client.images.generate(model="dall-e-2", prompt=PROMPT, size="256x256", response_format="url")
    except openai.APIStatusError as exc:
        body = exc.response.json()
        assert set(body["error"]) >= {"message", "type", "param", "code"}, body
        assert exc.response.headers.get("x-request-id")
        return exc.status_code, None, body["error"]["code"], dict(exc.response.headers)
    return 200, result.data[0].url, None, {}


def fetched_image(url: str) -> tuple[int, int]:
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, response.text
    return Image.open(io.BytesIO(response.content)).size


def test_s3_stopped_mid_load_and_a_new_one_started(tmp_path):
    port, bucket, settings_key = free_port(), "faults", "sk-s3-faults"
    with contextlib.ExitStack() as stack:
        first = contextlib.ExitStack()  # the first S3, stopped mid-test (closing it twice is harmless)
        stack.callback(first.close)
        endpoint = first.enter_context(moto_server(tmp_path / "moto-1.log", port=port))
        make_bucket(endpoint, bucket)
        config = (f'api_keys = ["{settings_key}"]\nstorage = "s3"\ns3_bucket = "{bucket}"\n'
                  f's3_endpoint_url = "{endpoint}"\ns3_region = "{REGION}"\ns3_presign = false\n')
        server = start_server(tmp_path / "server", config, api_key=settings_key, env=TEST_CREDENTIALS)
        stack.callback(stop_server, server)
        client = stack.enter_context(openai.OpenAI(base_url=server.v1, api_key=settings_key, max_retries=0,
                                                   timeout=60))
        links = []
        for _ in range(3):
            status, url, code, _ = url_image(client)
            assert status == 200, code
            assert fetched_image(url) == (256, 256)
            links.append(url)

        first.close()  # S3 goes away
        for _ in range(3):
            status, url, code, headers = url_image(client)
            assert (status, code) == (503, "storage_unavailable") and int(headers["retry-after"]) > 0
        down = httpx.get(links[0], timeout=30)  # a Darkroom-served link reads from S3
        assert down.status_code == 503 and down.json()["error"]["code"] == "storage_unavailable"

        endpoint = stack.enter_context(moto_server(tmp_path / "moto-2.log", port=port))
        status, url, code, _ = url_image(client)
        assert (status, code) == (503, "storage_unavailable")  # an empty S3: no bucket yet
        make_bucket(endpoint, bucket)
        for _ in range(3):
            status, url, code, _ = url_image(client)
            assert status == 200, code
            assert fetched_image(url) == (256, 256)
        gone = httpx.get(links[0], timeout=30)  # the old objects went with the old server
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
        assert server.process.poll() is None
        assert "Traceback" not in server.log()


def test_the_periodic_sweep_survives_a_store_outage(monkeypatch):
    """A sweep that meets a store down (S3, the database) is tried again at the next interval: before,
    its exception ended the sweeper task for the life of the server."""
    import asyncio
    from types import SimpleNamespace

    from darkroom.api import app as app_module
    from darkroom.errors import StoreUnavailable

    calls: list[str] = []

    def sweep() -> int:
        calls.append("images")
        if len(calls) == 1:
            raise StoreUnavailable("The image store could not be reached.", code="storage_unavailable")
        return 0

    store = SimpleNamespace(sweep=sweep)
    meta = SimpleNamespace(kept=SimpleNamespace(sweep=lambda: calls.append("kept") or 0))
    monkeypatch.setattr(app_module, "SWEEP_INTERVAL_SECONDS", 0)

    async def run() -> None:
        sweeper = asyncio.create_task(app_module._sweep_forever(store, meta))
        for _ in range(500):
            if calls.count("kept") >= 2 or sweeper.done():
                break
            await asyncio.sleep(0.01)
        assert not sweeper.done(), sweeper.exception()
        sweeper.cancel()

    asyncio.run(run())
    assert calls[:3] == ["images", "images", "kept"]  # the failed one, then a full sweep
