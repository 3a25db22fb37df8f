"""The scheduler (src/darkroom/scheduling/worker.py) in a real `darkroom serve` process, on the tiny
random-weight SD pipeline (tests/tiny_pipelines.py): client disconnects while running and while queued,
the bounded queue through the official SDK, and batching across requests.

A request is made long with the `steps` extension (a step at 256x256 takes some tens of ms here).
Every wait is bounded; no assertion is about how long something took.

The server is the session's diffusers server (`live`, tests/conftest.py: a plain model, a `max_queue = 1`
model and a batching model, each with its own engine instance and worker). What needs a server of its
own is elsewhere: the request deadline (a 504, the engine stopping at its next step) beside the other
engine faults in tests/faults/test_engine_faults.py, and the SIGTERM drain, a second signal and a grace
period that runs out in tests/faults/test_signals.py.
"""

from __future__ import annotations

import concurrent.futures
import re
import threading
import time

import httpx
import numpy as np
import openai
import pytest

from ..conftest import API_KEY, LiveServer
from ..images import decode_b64

PROMPT = "a red lighthouse on a hill at sunset"
SIZE = "256x256"
LONG_STEPS = 150  # a few seconds on the tiny pipeline at 256x256
CUT_SIZE = "512x512"  # for long requests that are cut short anyway: 4x the work per step, more margin
WAIT_S = 60.0  # the bound on every poll
AUTH = {"Authorization": f"Bearer {API_KEY}"}
# The worker's log line when it stops an engine call whose clients all left ("... after N steps").
STOPPED_LINE = re.compile(r"darkroom\.scheduling: worker \S+: stopped (?:a batch|an engine call)\b.*? "
                          r"after (\d+) steps")


@pytest.fixture()
def live(diffusers_server):
    """The session's diffusers server (tests/conftest.py): tiny-sd, tiny-sd-q1 (max_queue 1) and tiny-sd-batch
    (batches of up to 4 images, 200 ms window)."""
    return diffusers_server


# ---------------------------------------------------------------------------------------------
# Helpers


def body(model: str = "tiny-sd", **fields) -> dict:
    return {"model": model, "prompt": PROMPT, "size": SIZE, **fields}


def post(server: LiveServer, payload: dict, timeout: float = 120.0) -> httpx.Response:
    return httpx.post(f"{server.v1}/images/generations", json=payload, headers=AUTH, timeout=timeout)


def health(server: LiveServer) -> dict:
    return httpx.get(f"{server.base_url}/health", timeout=10).json()


def figures(server: LiveServer, model: str = "tiny-sd") -> dict:
    return health(server)["workers"][model]


def wait_for(condition, what: str, timeout: float = WAIT_S, every: float = 0.05):
    """Poll `condition()` until it returns something truthy (returned), at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"gave up after {timeout:.0f} s waiting for: {what}")


class Background:
    """Run `fn()` in a thread; `.result()` waits (bounded) and returns its value or raises its error."""

    def __init__(self, fn) -> None:
        self._future: concurrent.futures.Future = concurrent.futures.Future()
        threading.Thread(target=self._run, args=(fn,), daemon=True).start()

    def _run(self, fn) -> None:
        try:
            self._future.set_result(fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self._future.set_exception(exc)

    def done(self) -> bool:
        return self._future.done()

    def result(self, timeout: float = 120.0):
        return self._future.result(timeout)


def start_long(server: LiveServer, model: str = "tiny-sd", steps: int = LONG_STEPS, **fields) -> Background:
    """Send a long request in a thread and return once its engine call has started (engine_calls moved)."""
    calls = figures(server, model)["engine_calls"]
    request = Background(lambda: post(server, body(model, steps=steps, seed=1, **fields)))
    wait_for(lambda: request.done() or figures(server, model)["engine_calls"] > calls, "the long request to start")
    assert not request.done(), f"the long request ended before it could be observed running: {request.result()}"
    return request


def assert_image(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    image = decode_b64(response.json()["data"][0]["b64_json"])
    assert (image.format, image.size) == ("PNG", (256, 256))


def stopped_after(server: LiveServer) -> list[int]:
    return [int(n) for n in STOPPED_LINE.findall(server.log())]


def pixels(b64_json: str) -> np.ndarray:
    return np.asarray(decode_b64(b64_json)).astype(int)


# ---------------------------------------------------------------------------------------------
# Cancellation


def test_client_gone_mid_generation_stops_the_engine_early(live):
    before = figures(live)
    lines_before = len(stopped_after(live))
    with pytest.raises(httpx.ReadTimeout):  # the client stops waiting while its image is being made
        post(live, body(steps=LONG_STEPS, seed=2, size=CUT_SIZE), timeout=httpx.Timeout(60.0, read=1.0))
    after = wait_for(lambda: (f := figures(live))["stopped_early"] > before["stopped_early"] and f,
                     "stopped_early to count the abandoned request")
    assert after["engine_calls"] == before["engine_calls"] + 1
    steps = wait_for(lambda: stopped_after(live)[lines_before:], "the 'stopped a batch' log line")
    assert 1 <= steps[0] < LONG_STEPS  # the pipeline stopped at a step, well before its last one
    assert_image(post(live, body(steps=2, seed=3)))  # and the model serves the next request as usual


def test_client_gone_while_queued_never_runs(live):
    before = figures(live)
    first = start_long(live)
    calls_with_first = figures(live)["engine_calls"]
    with pytest.raises(httpx.ReadTimeout):  # waits behind `first`, then gives up
        post(live, body(steps=2, seed=4), timeout=httpx.Timeout(60.0, read=1.0))
    assert not first.done(), "the first request finished before the second gave up: make it longer"
    assert_image(first.result())
    after = wait_for(lambda: (f := figures(live))["cancelled_queued"] > before["cancelled_queued"] and f,
                     "cancelled_queued to count the request that gave up")
    assert after["engine_calls"] == calls_with_first  # the abandoned request never reached the engine
    assert after["queue_depth"] == 0
    assert after["stopped_early"] == before["stopped_early"]  # the first one ran to the end


# ---------------------------------------------------------------------------------------------
# The bounded queue, through the official Python SDK


def test_full_queue_is_503_server_overloaded_and_the_sdk_retries(live):
    model = "tiny-sd-q1"
    first = start_long(live, model, steps=40)
    queued = Background(lambda: post(live, body(model, steps=40, seed=5)))
    wait_for(lambda: figures(live, model)["queue_depth"] == 1, "the second request to be queued")
    rejected = figures(live, model)["rejected"]
    with (openai.OpenAI(base_url=live.v1, api_key=API_KEY, max_retries=0, timeout=120) as client,
          pytest.raises(openai.InternalServerError) as info):
        client.images.generate(model=model, prompt=PROMPT, size=SIZE, extra_body={"steps": 2, "seed": 6})
    error = info.value
    assert error.status_code == 503
    assert error.code == "server_overloaded"
    assert error.body["type"] == "server_error"
    assert 1 <= int(error.response.headers["retry-after"]) <= 60
    assert figures(live, model)["rejected"] == rejected + 1
    # With retries, the SDK waits (honouring Retry-After) until the queue has room, then succeeds.
    with openai.OpenAI(base_url=live.v1, api_key=API_KEY, max_retries=5, timeout=120) as client:
        response = client.images.generate(model=model, prompt=PROMPT, size=SIZE, extra_body={"steps": 2, "seed": 6})
    assert decode_b64(response.data[0].b64_json).size == (256, 256)
    assert_image(first.result())
    assert_image(queued.result())
    assert figures(live, model)["rejected"] >= rejected + 2  # at least the first try of the retried one


# ---------------------------------------------------------------------------------------------
# Batching across requests


def test_concurrent_requests_share_engine_calls_with_the_pixels_they_get_alone(live):
    model = "tiny-sd-batch"
    asks = [("a red cat", 31), ("a blue dog", 32), ("a green tree", 33), ("a house by the sea", 34)]
    start = threading.Barrier(len(asks))

    def one(client: openai.OpenAI, prompt: str, seed: int, together: bool) -> tuple[np.ndarray, int]:
        if together:
            start.wait(timeout=30)
        raw = client.images.with_raw_response.generate(model=model, prompt=prompt, size=SIZE,
                                                       extra_body={"steps": 4, "seed": seed})
        return pixels(raw.parse().data[0].b64_json), int(raw.headers["x-darkroom-batch"])

    with openai.OpenAI(base_url=live.v1, api_key=API_KEY, max_retries=0, timeout=120) as client:
        with concurrent.futures.ThreadPoolExecutor(len(asks)) as pool:
            together = list(pool.map(lambda ask: one(client, *ask, True), asks))
        alone = [one(client, *ask, False) for ask in asks]
    batches = [batch for _, batch in together]
    assert max(batches) > 1, f"no request shared an engine call: x-darkroom-batch = {batches}"
    assert all(batch == 1 for _, batch in alone)
    for (a, _), (b, _), ask in zip(together, alone, asks):
        diff = np.abs(a - b)
        assert diff.max() <= 2 and diff.mean() < 0.05, (ask, int(diff.max()), float(diff.mean()))
    assert np.abs(alone[0][0] - alone[1][0]).mean() > 1  # and the images do differ from one another
    assert figures(live, model)["batch_images"]["max_recent"] > 1
