"""Signals against a real `darkroom serve` process with the tiny diffusers pipeline (src/darkroom/shutdown.py).

The first SIGTERM drains (tests/engines/test_scheduling_live.py covers that: work in flight finishes
within `shutdown_grace_seconds`, new requests get a 503 envelope). A second SIGTERM (or Ctrl-C)
during the drain ends it early: the request still in flight is answered with OpenAI's envelope (503
`shutting_down`, Retry-After), never uvicorn's plain-text 500, and the process exits 0. The time it
took to exit is printed (`-s` shows it), never asserted.
"""

from __future__ import annotations

import signal
import time

import pytest

from ..engines.test_scheduling_live import body, health, model_block, post, serve, start_long, stopped_after, wait_for
from ..conftest import stop_server

LONG_STEPS = 200  # the most a request may ask; at 512x512 far longer than the test needs


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_second_signal_answers_in_flight_with_the_envelope_and_exits(second, tiny_pipelines, tmp_path_factory):
    server = serve(tmp_path_factory, "signals", "shutdown_grace_seconds = 600\n" + model_block(
        "tiny-sd", tiny_pipelines["sd"]))
    try:
        in_flight = start_long(server, steps=LONG_STEPS, size="512x512")
        server.process.send_signal(signal.SIGTERM)
        wait_for(lambda: health(server)["status"] == "draining", "/health to say draining")
        refused = post(server, body(steps=2, seed=9))
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "shutting_down"
        assert not in_flight.done(), "the in-flight request ended before the second signal"
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
