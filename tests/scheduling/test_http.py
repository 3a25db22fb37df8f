"""The scheduler seen from clients: a real uvicorn server in a thread of this process, with the
gated test engine behind the model name `gated`, driven with the official `openai` SDK, httpx and
a raw socket. The engine is in this process, so the tests read its call log directly.

Every wait is bounded (GUARD seconds); nothing asserts on a duration.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import openai
import pytest
import uvicorn
from PIL import Image

from darkroom.api.app import create_app
from darkroom.catalog import Catalog, build_catalog
from darkroom.config import load_settings
from darkroom.scheduling.worker import WorkerSettings

from .engines import GatedEngine, colour

GUARD = 15.0  # seconds: the longest any wait may take before the test fails rather than hangs
MODEL = "gated"


class ThreadedServer:
    """uvicorn serving `app` on 127.0.0.1 (a free port) from a background thread."""

    def __init__(self, app) -> None:
        self.app = app
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name="uvicorn-test", daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + GUARD
        while time.monotonic() < deadline:
            if not self.thread.is_alive():
                raise RuntimeError("the test server stopped while starting")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        raise RuntimeError("the test server never answered /health")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(GUARD)
        self.sock.close()
        assert not self.thread.is_alive(), "the test server did not stop"

    def health(self) -> dict:
        return httpx.get(f"{self.base_url}/health", timeout=GUARD).json()

    def figures(self) -> dict:
        return self.health()["workers"][MODEL]

    def sdk(self, **options: Any) -> openai.OpenAI:
        return openai.OpenAI(api_key="sk-test", base_url=f"{self.base_url}/v1", timeout=GUARD, **options)

    def worker(self):
        service = self.app.state.service
        return service.worker_for(service.catalog.get(MODEL).engine)


@pytest.fixture()
def serve(tmp_path) -> Iterator[Callable[..., ThreadedServer]]:
    """serve(engine, request_timeout_seconds=..., **WorkerSettings fields) -> a started server."""
    started: list[tuple[ThreadedServer, GatedEngine]] = []

    def start(engine: GatedEngine, *, request_timeout_seconds: float = 60.0, **scheduling) -> ThreadedServer:
        settings = load_settings(data_dir=tmp_path / f"data{len(started)}",
                                 request_timeout_seconds=request_timeout_seconds)
        specs = {spec.name: spec for spec in build_catalog(settings)}
        specs[MODEL] = dataclasses.replace(specs["gpt-image-1"], name=MODEL, engine=engine, engine_name="gated",
                                           any_size=True, scheduling=WorkerSettings(**scheduling))
        server = ThreadedServer(create_app(settings, Catalog(specs)))
        started.append((server, engine))
        server.start()
        return server

    yield start
    for server, engine in started:
        engine.gate.open()  # let held calls finish so the server can shut down
        server.stop()


@pytest.fixture()
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="client") as executor:
        yield executor


def eventually(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + GUARD
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.01)


def generate(client: openai.OpenAI, prompt: str, seed: int, n: int = 1):
    """One SDK request for the gated model; the raw response (headers, retries_taken) and its parsed body."""
    raw = client.images.with_raw_response.generate(model=MODEL, prompt=prompt, n=n, size="64x64",
                                                   extra_body={"seed": seed})
    return raw, raw.parse()


def assert_own_images(response, prompt: str, seed: int, n: int = 1) -> None:
    assert len(response.data) == n
    for i, item in enumerate(response.data):
        pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(item.b64_json))).convert("RGB"))
        assert pixels.shape == (64, 64, 3)
        assert (pixels == colour(prompt, seed + i)).all(), f"{prompt!r} image {i} is not its own"


def post_json(prompt: str, **fields: Any) -> dict:
    return {"model": MODEL, "prompt": prompt, "size": "64x64", **fields}


# ---- batching ----------------------------------------------------------------------------------------


def test_concurrent_sdk_requests_share_a_batch_and_each_gets_its_own_image(serve, pool):
    engine = GatedEngine(max_batch=8)
    server = serve(engine, max_batch_images=8)
    client = server.sdk(max_retries=0)
    first = pool.submit(generate, client, "first of all", 1)
    engine.wait_calls(1, GUARD)  # runs alone, held at the gate while the others queue
    asks = [("a red kite", 10, 1), ("a green pear", 20, 2), ("a blue boat", 30, 1), ("a grey cat", 40, 1)]
    futures = [pool.submit(generate, client, prompt, seed, n) for prompt, seed, n in asks]
    eventually(lambda: server.health()["models"][MODEL]["queue_depth"] == len(asks), "all four requests queued")
    engine.gate.open()

    raw, response = first.result(GUARD)
    assert_own_images(response, "first of all", 1)
    assert raw.headers["x-darkroom-batch-jobs"] == "1"
    for (prompt, seed, n), future in zip(asks, futures):
        raw, response = future.result(GUARD)
        assert_own_images(response, prompt, seed, n)
        assert raw.headers["x-darkroom-batch-jobs"] == "4"  # this client's job shared its engine call
    calls = engine.prompts()
    assert len(calls) == 2 and calls[0] == ["first of all"]
    assert sorted(calls[1]) == sorted(prompt for prompt, _, _ in asks)
    assert server.figures()["batch_images"]["count"] == 2


@pytest.mark.parametrize("failure, culprit_status, bystander_status", [("invalid", 400, 200), ("error", 500, 500)])
def test_failure_in_a_shared_batch_over_http(serve, pool, failure, culprit_status, bystander_status):
    """A 400-type failure hits only the request at fault; any other engine error hits the whole batch."""
    engine = GatedEngine(invalid_prompts=["culprit"] if failure == "invalid" else (),
                         failing_prompts=["culprit"] if failure == "error" else ())
    server = serve(engine, max_batch_images=4)
    client = server.sdk(max_retries=0)
    first = pool.submit(generate, client, "first", 1)
    engine.wait_calls(1, GUARD)
    url = f"{server.base_url}/v1/images/generations"
    culprit = pool.submit(httpx.post, url, json=post_json("culprit", seed=2), timeout=GUARD)
    bystander = pool.submit(httpx.post, url, json=post_json("bystander", seed=3), timeout=GUARD)
    eventually(lambda: server.health()["models"][MODEL]["queue_depth"] == 2, "both requests queued")
    engine.gate.open()
    first.result(GUARD)

    assert culprit.result(GUARD).status_code == culprit_status
    response = bystander.result(GUARD)
    assert response.status_code == bystander_status
    if bystander_status == 200:
        pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(response.json()["data"][0]["b64_json"]))))
        assert (pixels == colour("bystander", 3)).all()
    else:
        assert response.json()["error"]["code"] == "internal_error"
    assert sorted(engine.prompts()[1]) == ["bystander", "culprit"]  # they did share a call


# ---- the bounded queue ---------------------------------------------------------------------------------


def fill_queue(server: ThreadedServer, engine: GatedEngine, pool: ThreadPoolExecutor) -> list:
    """With max_queue=1 and the gate closed: one request running, one queued."""
    client = server.sdk(max_retries=0)
    calls_before = len(engine.calls)
    running = pool.submit(generate, client, "running", 1)
    engine.wait_calls(calls_before + 1, GUARD)
    queued = pool.submit(generate, client, "queued", 2)
    eventually(lambda: server.health()["models"][MODEL]["queue_depth"] == 1, "the second request queued")
    return [running, queued]


def test_full_queue_gives_the_sdk_a_503_server_overloaded_with_retry_after(serve, pool):
    engine = GatedEngine()
    server = serve(engine, max_queue=1, max_batch_images=1)
    in_flight = fill_queue(server, engine, pool)

    with pytest.raises(openai.InternalServerError) as refused:
        generate(server.sdk(max_retries=0), "refused", 3)
    error = refused.value
    assert error.status_code == 503
    assert (error.type, error.code) == ("server_error", "server_overloaded")
    assert 1 <= int(error.response.headers["retry-after"]) <= 60  # honoured by both SDKs
    assert server.figures()["rejected"] == 1

    engine.gate.open()
    for future in in_flight:
        future.result(GUARD)
    assert engine.prompts() == [["running"], ["queued"]]  # the refused request never ran


def test_sdk_with_retries_waits_out_a_full_queue_and_succeeds(serve, pool):
    engine = GatedEngine()
    server = serve(engine, max_queue=1, max_batch_images=1)
    engine.gate.open()
    warm = server.sdk(max_retries=0)
    for i in range(3):  # a completion history, so that Retry-After reflects a fast engine (1 s)
        generate(warm, f"warm-up {i}", 100 + i)
    engine.gate.close()
    in_flight = fill_queue(server, engine, pool)

    def open_after_first_refusal() -> None:
        deadline = time.monotonic() + GUARD
        while server.figures()["rejected"] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        engine.gate.open()

    opener = threading.Thread(target=open_after_first_refusal, daemon=True)
    opener.start()
    raw, response = generate(server.sdk(max_retries=3), "patient", 7)
    opener.join(GUARD)

    assert_own_images(response, "patient", 7)
    assert raw.retries_taken >= 1  # it was refused at first, then retried
    assert server.figures()["rejected"] == raw.retries_taken
    for future in in_flight:
        future.result(GUARD)
    assert engine.prompts()[3:] == [["running"], ["queued"], ["patient"]]


# ---- deadlines and disconnects ----------------------------------------------------------------------------


def assert_timeout_envelope(response: httpx.Response) -> None:
    assert response.status_code == 504
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("server_error", "timeout", None)
    assert error["message"]


def test_request_past_its_deadline_while_running_gets_504_and_the_engine_stops(serve):
    engine = GatedEngine(steps=8, pause_at=2)
    server = serve(engine, request_timeout_seconds=1.0)
    url = f"{server.base_url}/v1/images/generations"
    # The gate stays shut: the request can only end by its deadline.
    assert_timeout_envelope(httpx.post(url, json=post_json("too slow"), timeout=GUARD))

    [call] = engine.calls
    assert call.finished.wait(GUARD), "the engine was never told to stop"
    assert call.outcome == "stopped" and call.steps_run == 2 < call.steps_asked
    eventually(lambda: server.figures()["stopped_early"] == 1, "/health counted the stopped call")
    assert server.figures()["timed_out"] == 1

    engine.gate.open()  # and the server serves on
    assert httpx.post(url, json=post_json("fine"), timeout=GUARD).status_code == 200


def test_request_past_its_deadline_while_queued_gets_504_and_never_runs(serve, pool):
    # An engine that cannot be interrupted keeps the only slot busy past both deadlines.
    engine = GatedEngine(stoppable=False)
    server = serve(engine, request_timeout_seconds=1.0, max_batch_images=4)
    url = f"{server.base_url}/v1/images/generations"
    running = pool.submit(httpx.post, url, json=post_json("holds the engine"), timeout=GUARD)
    [call] = engine.wait_calls(1, GUARD)
    queued = pool.submit(httpx.post, url, json=post_json("never started"), timeout=GUARD)
    for future in (running, queued):
        assert_timeout_envelope(future.result(GUARD))
    assert server.figures()["timed_out"] == 2

    engine.gate.open()
    assert call.finished.wait(GUARD)
    eventually(lambda: server.figures()["cancelled_queued"] == 1, "the expired queued job was dropped")
    assert engine.prompts() == [["holds the engine"]]
    assert server.figures()["cancelled_running"] == 1  # the held call's result was discarded
    assert httpx.post(url, json=post_json("fine"), timeout=GUARD).status_code == 200


def test_client_that_disconnects_while_queued_never_runs(serve, pool):
    engine = GatedEngine()
    server = serve(engine, max_batch_images=4)
    running = pool.submit(generate, server.sdk(max_retries=0), "running", 1)
    engine.wait_calls(1, GUARD)

    # A client whose read timeout passes while its request waits in the queue closes the connection.
    with httpx.Client(timeout=httpx.Timeout(GUARD, read=0.5)) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.post(f"{server.base_url}/v1/images/generations", json=post_json("impatient"))
    worker = server.worker()  # (no public figure says "cancelled but still queued": read the queue itself)
    eventually(lambda: any(t.cancelled for t in list(worker._queue)), "the server saw the disconnect")
    engine.gate.open()

    running.result(GUARD)
    eventually(lambda: server.figures()["cancelled_queued"] >= 1, "/health counted the dropped job")
    assert engine.prompts() == [["running"]]
    assert server.figures()["queue_depth"] == 0


def test_client_that_disconnects_mid_generation_stops_the_engine(serve):
    engine = GatedEngine(steps=8, pause_at=3)
    server = serve(engine)
    body = json.dumps(post_json("walks away")).encode()
    request = (f"POST /v1/images/generations HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", server.port), timeout=GUARD) as conn:
        conn.sendall(request)
        [call] = engine.wait_calls(1, GUARD)
        eventually(lambda: call.steps_run == 3, "the engine reached step 3")
    # The connection is closed: the engine is told to stop at its next check, with the gate still shut.
    assert call.finished.wait(GUARD), "the engine was never told to stop"
    assert call.outcome == "stopped" and call.steps_run == 3 < call.steps_asked
    eventually(lambda: server.figures()["stopped_early"] == 1, "/health counted the stopped call")
    assert server.figures()["cancelled_running"] == 1
