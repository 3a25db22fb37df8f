"""Signals against real `darkroom serve` processes with the tiny diffusers pipeline (src/darkroom/shutdown.py).

The first SIGTERM drains: /health says draining (503), new requests get a 503 envelope, and work in
flight finishes within `shutdown_grace_seconds`. A second SIGTERM during the drain ends it early: the
request still in flight is answered with OpenAI's envelope (503 `shutting_down`, Retry-After), never
uvicorn's plain-text 500, and the process exits 0. Both happen in one process: a short request
finishes during the drain, a long one is still running at the second signal. The time it took to exit
is printed (`-s` shows it), never asserted.

A Ctrl-C (SIGINT) drains the same way, and when the grace period runs out the request still running
gets the same 503 and its engine call stops. SIGTERM and SIGINT take one path in `handle_exit`, so a
second Ctrl-C is the second SIGTERM's case; each process here costs a diffusers start (~10 s).
"""

from __future__ import annotations

import signal
import time

import httpx

from ..conftest import API_KEY, LiveServer, diffusers_model, start_server, stop_server
from ..engines.test_scheduling_live import assert_image, body, health, post, start_long, stopped_after, wait_for

LONG_STEPS = 200  # the most a request may ask; at 512x512 far longer than the test needs
SHORT_STEPS = 40  # a second or two at 256x256: long enough to see the drain start, short enough to finish


def serve(tmp_path_factory, name: str, body: str) -> LiveServer:
    """A server of the test's own: each test here ends its process."""
    config = f'api_keys = ["{API_KEY}"]\n' + body
    return start_server(tmp_path_factory.mktemp(name), config, env={"HF_HUB_OFFLINE": "1"}, timeout=180)


def test_the_first_sigterm_drains_and_a_second_answers_in_flight_with_the_envelope(tiny_pipelines,
                                                                                  tmp_path_factory):
    sd = tiny_pipelines["sd"]
    server = serve(tmp_path_factory, "signals", "shutdown_grace_seconds = 600\n" + diffusers_model("tiny-sd", sd)
                   + diffusers_model("tiny-sd-short", sd))
    try:
        in_flight = start_long(server, steps=LONG_STEPS, size="512x512")
        finishing = start_long(server, "tiny-sd-short", steps=SHORT_STEPS)
        server.process.send_signal(signal.SIGTERM)
        wait_for(lambda: health(server)["status"] == "draining", "/health to say draining")
        refused = post(server, body(steps=2, seed=9))
        assert refused.status_code == 503, refused.text
        error = refused.json()["error"]
        assert (error["type"], error["code"]) == ("server_error", "shutting_down")
        assert int(refused.headers["retry-after"]) >= 1
        state = httpx.get(f"{server.base_url}/health", timeout=10)
        assert (state.status_code, state.json()["status"]) == (503, "draining")
        assert not finishing.done(), "the short request ended before the drain was observed: make it longer"
        assert_image(finishing.result())  # work in flight finishes during the drain
        assert not in_flight.done(), "the long request ended before the second signal"
        sent = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        response = in_flight.result(timeout=60)
        answered = time.monotonic() - sent
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/json"), response.text
        error = response.json()["error"]
        assert set(error) >= {"message", "type", "param", "code"}
        assert (error["type"], error["code"]) == ("server_error", "shutting_down")
        assert int(response.headers["retry-after"]) >= 1 and response.headers["x-request-id"]
        assert server.process.wait(timeout=60) == 0, server.log()
        exited = time.monotonic() - sent
        print(f"\nsecond SIGTERM: in-flight client answered after {answered:.2f} s, "
              f"process exited after {exited:.2f} s")
        assert stopped_after(server) and stopped_after(server)[-1] < LONG_STEPS  # the engine call stopped early
        assert "Internal Server Error" not in server.log()
    finally:
        stop_server(server)


def test_a_ctrl_c_drain_whose_grace_period_ends_answers_in_flight_with_a_503(tiny_pipelines, tmp_path_factory):
    """Past `shutdown_grace_seconds` the request in flight is answered with OpenAI's envelope (503,
    shutting_down, Retry-After) so SDKs retry elsewhere, its engine call stops, and the process exits 0."""
    server = serve(tmp_path_factory, "grace", "shutdown_grace_seconds = 1\n" + diffusers_model(
        "tiny-sd", tiny_pipelines["sd"]))
    try:
        in_flight = start_long(server, steps=LONG_STEPS, size="512x512")
        server.process.send_signal(signal.SIGINT)
        response = in_flight.result()
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/json"), response.text
        error = response.json()["error"]
        assert (error["type"], error["code"]) == ("server_error", "shutting_down")
        assert int(response.headers["retry-after"]) >= 1 and response.headers["x-request-id"]
        assert server.process.wait(timeout=60) == 0, server.log()
        assert stopped_after(server) and stopped_after(server)[-1] < LONG_STEPS
        assert "received SIGINT: finishing work in flight" in server.log()
    finally:
        stop_server(server)
