"""Engine faults in a real server process: a diffusers pipeline that raises, runs out of memory, or
hangs past the request's deadline mid-generation (tests/faults/faulty_serve.py plants them, keyed by
the prompt). Each time the client gets OpenAI's envelope with the right status and code, and the next
request on the same server gets a valid image, with /health ok again.

A request that is simply longer than the deadline (`request_timeout_seconds`, 3 s here) gets a 504
at the deadline, and the engine lets go of it at its next denoising step.

The hang is deaf to cancellation until the test releases it: the client's 504 goes out at the deadline,
then, `stuck_after_seconds` later, the worker reports itself stuck (/health `degraded`, 503) and answers
new requests with 503 `engine_stuck` at once instead of letting them wait out their deadlines; once
the call returns (it stops at its next step, nobody waits for it) the worker serves again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from ..conftest import API_KEY, LiveServer, diffusers_model, free_port, stop_server
from ..engines.test_scheduling_live import (CUT_SIZE, LONG_STEPS, assert_image, body, figures, health, post,
                                            stopped_after, wait_for)
from ..images import decode_b64

ROOT = Path(__file__).resolve().parents[2]


def start_faulty(workdir: Path, config: str, release: Path) -> LiveServer:
    """`python -m tests.faults.faulty_serve serve ...`: darkroom serve with the faults planted."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "darkroom.toml"
    config_path.write_text(f'data_dir = "{(workdir / "data").as_posix()}"\napi_keys = ["{API_KEY}"]\n' + config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DARKROOM_")}
    env.update(HF_HUB_OFFLINE="1", DARKROOM_FAULT_RELEASE=str(release),
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH", "")]))
    port, log_path = free_port(), workdir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "tests.faults.faulty_serve", "serve", "--port", str(port),
                                    "--config", str(config_path)], stdout=log, stderr=subprocess.STDOUT, env=env,
                                   cwd=ROOT)
    server = LiveServer(f"http://127.0.0.1:{port}", API_KEY, process, log_path)
    try:
        wait_for(lambda: _healthy(server), "the faulty server to become healthy", timeout=180, every=0.2)
    except AssertionError:
        stop_server(server)
        raise AssertionError(server.log()) from None
    return server


def _healthy(server: LiveServer) -> bool:
    if server.process.poll() is not None:
        raise AssertionError(f"the server exited with {server.process.returncode}:\n{server.log()}")
    try:
        return httpx.get(f"{server.base_url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def faulty(tiny_pipelines, tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    release = root / "release-the-hang"
    server = start_faulty(root / "server", "request_timeout_seconds = 3\n" + diffusers_model(
        "tiny-sd", tiny_pipelines["sd"], stuck_after_seconds=1), release)
    yield server, release
    alive = server.process.poll() is None
    stop_server(server)
    assert alive, server.log()


def sdk(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.v1, api_key=API_KEY, max_retries=0, timeout=60)


def recovered(server: LiveServer) -> None:
    """The next request on the same server gets a valid image (through the SDK), and /health is ok."""
    with sdk(server) as client:
        result = client.images.generate(model="tiny-sd", prompt="a quiet harbour", size="256x256",
                                        extra_body={"steps": 2, "seed": 11})
    assert decode_b64(result.data[0].b64_json).size == (256, 256)
    state = httpx.get(f"{server.base_url}/health", timeout=10)
    assert (state.status_code, state.json()["status"]) == (200, "ok"), state.text
    assert server.process.poll() is None


def envelope(response: httpx.Response) -> dict:
    assert response.headers["content-type"].startswith("application/json"), response.text
    assert response.headers["x-request-id"]
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    return error


def test_an_engine_that_raises_is_a_sanitised_500(faulty):
    server, _ = faulty
    response = post(server, body(prompt="fault:raise a harbour", steps=4))
    assert response.status_code == 500, response.text
    error = envelope(response)
    assert error["type"] == "server_error" and error["message"]
    assert "secret" not in response.text and "CUBLAS" not in response.text
    recovered(server)


@pytest.mark.parametrize("fault", ["oom-cuda", "oom-host", "memoryerror"])
def test_out_of_memory_mid_generation_is_a_503_and_the_model_serves_on(faulty, fault):
    server, _ = faulty
    response = post(server, body(prompt=f"fault:{fault} a harbour", steps=4))
    assert response.status_code == 503, response.text
    error = envelope(response)
    assert (error["type"], error["code"]) == ("server_error", "out_of_memory")
    assert int(response.headers["retry-after"]) >= 1
    assert "20.00 GiB" not in error["message"] and "allocate" not in error["message"]
    recovered(server)


def test_a_request_past_the_deadline_is_a_504_and_the_engine_stops_at_its_next_step(faulty):
    server, _ = faulty
    before = figures(server)
    response = post(server, body(steps=LONG_STEPS, seed=7, size=CUT_SIZE))
    assert response.status_code == 504, response.text
    assert (envelope(response)["type"], envelope(response)["code"]) == ("server_error", "timeout")
    after = wait_for(lambda: (f := figures(server))["stopped_early"] + f["cancelled_queued"] > before[
        "stopped_early"] + before["cancelled_queued"] and f, "the engine to stop early (or the job to leave the queue)")
    assert after["timed_out"] == before["timed_out"] + 1
    if after["stopped_early"] > before["stopped_early"]:
        assert stopped_after(server) and stopped_after(server)[-1] < LONG_STEPS
    recovered(server)


def test_an_engine_that_hangs_past_the_deadline(faulty):
    server, release = faulty
    release.unlink(missing_ok=True)
    before = figures(server)
    with sdk(server) as client, pytest.raises(openai.APIStatusError) as info:
        client.images.generate(model="tiny-sd", prompt="fault:hang a harbour", size="256x256",
                               extra_body={"steps": 4, "seed": 12})
    assert info.value.status_code == 504 and info.value.code == "timeout"  # at the deadline, not at the end
    # The call ignores its cancellation: stuck_after_seconds later the worker says so, and refuses work.
    state = wait_for(lambda: (h := health(server))["workers"]["tiny-sd"]["stuck"] and h, "the worker to be stuck")
    assert state["status"] == "degraded"
    assert httpx.get(f"{server.base_url}/health", timeout=10).status_code == 503
    refused = post(server, body(steps=2, seed=13))
    assert refused.status_code == 503, refused.text
    assert envelope(refused)["code"] == "engine_stuck" and int(refused.headers["retry-after"]) >= 1
    release.touch()  # the hang ends; the engine's next step callback sees nobody waits and stops
    wait_for(lambda: not health(server)["workers"]["tiny-sd"]["stuck"], "the worker to recover")
    after = figures(server)
    assert after["stuck_calls"] == before["stuck_calls"] + 1
    assert after["timed_out"] == before["timed_out"] + 1
    assert after["stopped_early"] == before["stopped_early"] + 1  # it stopped at the step after the hang
    assert_image(post(server, body(steps=2, seed=14)))
    recovered(server)
    log = server.log()
    assert "it is stuck; refusing jobs until it returns" in log and "the stuck engine call returned" in log
