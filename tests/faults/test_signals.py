"""Signals against a real `darkroom serve` process with the tiny diffusers pipeline (src/darkroom/shutdown.py).

The first SIGTERM drains: /health says draining (503), new requests get a 503 envelope, and work in
flight finishes within `shutdown_grace_seconds`. A second SIGTERM (or Ctrl-C) during the drain ends it
early: the request still in flight is answered with OpenAI's envelope (503 `shutting_down`,
Retry-After), never uvicorn's plain-text 500, and the process exits 0. Both happen in one process: a
short request finishes during the drain, a long one is still running at the second signal. The time it
took to exit is printed (`-s` shows it), never asserted. (A grace period that runs out is in
tests/engines/test_scheduling_live.py.)
"""

from __future__ import annotations

import signal
import time

import httpx
import pytest

from ..engines.test_scheduling_live import (assert_image, body, health, post, serve, start_long, stopped_after,
                                            wait_for)
from ..conftest import diffusers_model, stop_server

LONG_STEPS = 200  # the most a request may ask; at 512x512 far longer than the test needs
SHORT_STEPS = 40  # a second or two at 256x256: long enough to see the drain start, short enough to finish


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_the_first_signal_drains_and_a_second_answers_in_flight_with_the_envelope(second, tiny_pipelines,
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
        server.process.send_signal(second)
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
        print(f"\nsecond {signal.Signals(second).name}: in-flight client answered after {answered:.2f} s, "
              f"process exited after {exited:.2f} s")
        assert stopped_after(server) and stopped_after(server)[-1] < LONG_STEPS  # the engine call stopped early
        assert "Internal Server Error" not in server.log()
    finally:
        stop_server(server)
