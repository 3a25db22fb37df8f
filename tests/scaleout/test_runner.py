"""A real `darkroom serve --ray` (local Ray instance: the api ingress and sketch model deployments) with the
official Python SDK: generations, streams with partials, edits, the error envelope, keys from the shared
PostgreSQL, a flood answered with 503s and Retry-After, a model replica killed mid-request (a clean
answer, then a new replica serves), and SIGTERM draining a job that outlasts Ray's 20 s grace, then exit 0.

The `elastic` model autoscales between 1 and 2 replicas, with short delays so that the test sees both ways.

`tiny` is the tiny diffusers pipeline (tests/tiny_pipelines.py) in a replica of its own: its extensions,
native size and partials are what the loaded pipeline gives, which the ingress learns from the replica.
Its pipeline carries tests/faults/faulty_serve.py's faults, planted in the Ray workers through PYTHONPATH
(`planted_env`): a "fault:hang" prompt holds the job inside the pipeline until the test releases it.

The `flood` model is a sketch engine of its own with room for one request in its replica and one in Ray's
queue in front of it (ray_max_ongoing_requests = 1, max_queue = 1): a burst of large requests overflows it.
"""

from __future__ import annotations

import concurrent.futures
import io
import os
import re
import signal
import threading
import time

import httpx
import numpy as np
import openai
import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from ..conftest import LiveServer, create_key, diffusers_model, stop_server
from ..faults.faulty_serve import planted_env
from ..images import decode_b64
from .conftest import ray_env, shared_state, start_ray_server

PROMPT = "a lighthouse on a rocky island at dusk, flat illustration"
RELEASE = "release-the-hang"  # in the server's folder: a "fault:hang" job goes on once it exists
RAY_GRACE = 20  # seconds: Ray's own graceful_shutdown_timeout_s, after which it force-kills a draining replica
MODELS = """
ray_max_ongoing_requests = 1
[[models]]
name = "flood"
engine = "sketch"
max_queue = 1
num_cpus = 0  # the api and the default sketch deployment take the 2 CPUs of a small machine
[[models]]
name = "elastic"
engine = "sketch"
num_cpus = 0
min_replicas = 1
max_replicas = 2
target_work_per_replica = 50  # one 1536x1024 job of 4 images counts 157 megapixel-steps: 2 replicas
scale_up_delay_seconds = 0.5
scale_down_delay_seconds = 2
"""


@pytest.fixture(scope="module")
def server(postgres, s3_endpoint, tiny_pipelines, tmp_path_factory) -> LiveServer:
    models = MODELS + diffusers_model("tiny", tiny_pipelines["sd"], num_cpus=0)
    workdir = tmp_path_factory.mktemp("ray")
    env = planted_env(ray_env(workdir), release=workdir / RELEASE)
    server = start_ray_server(workdir, shared_state(postgres, s3_endpoint, "ray") + models, env=env)
    yield server
    stop_server(server)


@pytest.fixture()
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=server.api_key, max_retries=0)


def test_generate_decodes_to_the_asked_size_and_format(client):
    result = client.images.generate(model="gpt-image-1", prompt=PROMPT, size="1024x1536", quality="low",
                                    output_format="jpeg")
    image = decode_b64(result.data[0].b64_json)
    assert (image.format, image.size) == ("JPEG", (1024, 1536))
    assert np.asarray(image).std() > 10  # a drawing, not a flat fill
    assert result.output_format == "jpeg" and result.usage.output_tokens > 0


def test_url_responses_are_stored_in_s3_and_served(client):
    result = client.images.generate(model="dall-e-2", prompt=PROMPT, size="256x256", response_format="url")
    body = httpx.get(result.data[0].url, timeout=10).content
    assert Image.open(io.BytesIO(body)).size == (256, 256)


def test_stream_sends_partials_before_the_completed_image(client):
    events = list(client.images.generate(model="gpt-image-1", prompt=PROMPT, size="1024x1024", quality="low",
                                         stream=True, partial_images=2))
    kinds = [event.type for event in events]
    assert kinds == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    assert [event.partial_image_index for event in events[:2]] == [0, 1]
    assert decode_b64(events[-1].b64_json).size == (1024, 1024)
    assert decode_b64(events[0].b64_json).size == (1024, 1024)


def test_edit_keeps_the_unmasked_half(client):
    source = np.zeros((1024, 1024, 3), np.uint8)
    source[:, :, 2] = 200
    mask = np.full((1024, 1024, 4), 255, np.uint8)
    mask[:512, :, 3] = 0  # the top half is repainted
    result = client.images.edit(model="gpt-image-1", image=("in.png", _png(source)), mask=("m.png", _png(mask)),
                                prompt=PROMPT, size="1024x1024")
    out = np.asarray(decode_b64(result.data[0].b64_json))
    assert out.shape == (1024, 1024, 3)
    assert np.array_equal(out[512:], source[512:])
    assert not np.array_equal(out[:512], source[:512])


def test_a_diffusers_model_takes_what_its_loaded_pipeline_takes(client):
    raw = client.images.with_raw_response.generate(model="tiny", prompt=PROMPT, size="256x256",
                                                   extra_body={"steps": 3, "seed": 5, "negative_prompt": "blurry"})
    assert (raw.headers["x-darkroom-served-by"], raw.headers["x-darkroom-steps"]) == ("tiny", "3")
    assert decode_b64(raw.parse().data[0].b64_json).size == (256, 256)
    events = list(client.images.generate(model="tiny", prompt=PROMPT, size="256x256", stream=True, partial_images=1,
                                         extra_body={"steps": 4}))
    assert [e.type for e in events] == ["image_generation.partial_image", "image_generation.completed"]
    model = client.models.retrieve("tiny").model_extra
    assert model["engine"] == "diffusers" and "steps" in model["capabilities"]["extensions"]


def test_a_rules_error_is_the_openai_envelope(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="dall-e-3", prompt=PROMPT, n=2)
    assert caught.value.body["param"] == "n" and caught.value.body["type"] == "invalid_request_error"
    assert re.fullmatch(r"req_[0-9a-f]{32}", caught.value.request_id)  # one id, Darkroom's


def test_unknown_model_is_a_400_naming_the_param(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="no-such-model", prompt=PROMPT)
    assert caught.value.body["param"] == "model"


def test_one_request_id_and_darkrooms_own_log_lines_reach_the_output_not_rays_access_lines(server):
    answer = _post(server, {"model": "dall-e-2", "prompt": PROMPT, "size": "256x256"})
    assert answer.status_code == 200
    [request_id] = answer.headers.get_list("x-request-id")  # Darkroom's, not a second one from Serve's proxy
    assert re.fullmatch(r"req_[0-9a-f]{32}", request_id)
    for _ in range(100):  # Ray streams the replicas' output to the driver's in batches
        if f'"request_id":"{request_id}"' in server.log():
            break
        time.sleep(0.1)
    log = server.log()
    assert f'"request_id":"{request_id}"' in log  # the ingress's darkroom.access JSON line
    assert f"INFO darkroom.service: {request_id} generated model=dall-e-2" in log
    assert "INFO darkroom.scaleout: replica of flood ready (engine sketch)" in log  # a model replica's
    assert "POST /v1/images/generations 200" not in log and "CALL call OK" not in log  # Ray's access log is off


def test_keys_come_from_the_shared_store(server):
    key = create_key(server, "limited", "--models", "dall-e-2")
    limited = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=key, max_retries=0)
    result = limited.images.generate(model="dall-e-2", prompt=PROMPT, size="256x256", response_format="b64_json")
    assert decode_b64(result.data[0].b64_json).size == (256, 256)
    with pytest.raises(openai.NotFoundError) as caught:
        limited.images.generate(model="gpt-image-1", prompt=PROMPT)
    assert caught.value.body["code"] == "model_not_found"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="dr-not-a-key", max_retries=0).images.generate(
            model="dall-e-2", prompt=PROMPT)


def test_a_flood_gets_503_with_retry_after_never_a_hang_or_500(server):
    def one(_: int) -> httpx.Response:
        return httpx.post(f"{server.base_url}/v1/images/generations", timeout=60,
                          headers={"Authorization": f"Bearer {server.api_key}"},
                          json={"model": "flood", "prompt": PROMPT, "size": "1536x1024", "n": 4})

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(16)))
    statuses = sorted(r.status_code for r in answers)
    assert set(statuses) <= {200, 503}, statuses
    assert 200 in statuses and 503 in statuses, statuses
    refused = next(r for r in answers if r.status_code == 503)
    assert refused.json()["error"]["code"] == "server_overloaded"
    assert int(refused.headers["retry-after"]) >= 1


def test_a_client_that_disconnects_cancels_its_call_on_the_model_replica(server):
    before = _cancelled(server)
    # n=10: far more work than the disconnect takes to reach the replica, even on a loaded machine
    body = {"model": "flood", "prompt": PROMPT, "size": "1536x1024", "n": 10, "quality": "high", "stream": True,
            "partial_images": 3}
    with httpx.Client(timeout=60) as client:
        with client.stream("POST", f"{server.base_url}/v1/images/generations", json=body,
                           headers={"Authorization": f"Bearer {server.api_key}"}) as response:
            assert response.status_code == 200
            for line in response.iter_lines():  # the first partial: the replica is running the call
                if "image_generation.partial_image" in line:
                    break
        # leaving the block closes the connection before the images are done
    for _ in range(300):  # the replica posts its figures every second
        if _cancelled(server) > before:
            return
        time.sleep(0.2)
    raise AssertionError("the model replica never saw its call cancelled:\n" + server.log()[-3000:])


def _cancelled(server: LiveServer) -> int:
    """Jobs the flood model's replicas dropped or stopped because their client left (their own figures)."""
    replicas = _health(server)["workers"]["flood"]["replicas"]
    return sum(r["cancelled_queued"] + r["cancelled_running"] for r in replicas.values())


def _health(server: LiveServer) -> dict:
    return httpx.get(f"{server.base_url}/health", timeout=5).json()


def test_health_and_metrics_show_each_model_replica(server, client):
    client.images.generate(model="flood", prompt=PROMPT, size="1024x1024", quality="low", n=2)
    for _ in range(50):  # the replica posts its figures every second
        replicas = _health(server)["workers"]["flood"]["replicas"]
        if replicas and next(iter(replicas.values()))["engine_calls"] >= 1:
            break
        time.sleep(0.2)
    assert len(replicas) == 1, replicas
    (replica_id, figures), = replicas.items()
    assert figures["node"] and figures["work"] == 0 and figures["batch_images"]["count"] >= 1
    summed = _health(server)["workers"]["flood"]
    assert summed["engine_calls"] >= figures["engine_calls"]  # the deployment's sum (the one replica, by now)
    samples = {(s.name, s.labels.get("worker"), s.labels.get("replica")): (s.value, s.labels)
               for family in text_string_to_metric_families(httpx.get(f"{server.base_url}/metrics", timeout=5).text)
               for s in family.samples}
    assert samples["darkroom_replicas", "flood", None][0] == 1
    calls, labels = samples["darkroom_replica_engine_calls_total", "flood", replica_id]
    assert calls >= 1 and labels["node"] == figures["node"]
    assert samples["darkroom_engine_calls_total", "flood", None][0] >= calls  # summed over the replicas


def test_autoscaling_adds_a_replica_under_load_and_removes_it_when_idle(server):
    stop, statuses = threading.Event(), []

    def load() -> None:
        while not stop.is_set():
            statuses.append(_post(server, {"model": "elastic", "prompt": PROMPT, "size": "1536x1024", "n": 4,
                                           "quality": "high"}).status_code)

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        clients = [pool.submit(load) for _ in range(3)]
        try:
            grew = _wait_for_replicas(server, "elastic", 2)
        finally:
            stop.set()
        for done in clients:
            done.result()
    assert grew, "the deployment never grew to 2 replicas under load"
    assert _wait_for_replicas(server, "elastic", 1), "the deployment never shrank back to 1 replica when idle"
    assert statuses and set(statuses) == {200}, statuses  # nothing lost while replicas came and went
    answer = _post(server, {"model": "elastic", "prompt": PROMPT, "size": "1024x1024", "quality": "low"})
    assert answer.status_code == 200


def _wait_for_replicas(server: LiveServer, worker: str, count: int, timeout: float = 90) -> bool:
    """Until the deployment has `count` live replicas (each posts its figures every second; one that
    stopped leaves the board 5 s later)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(_health(server)["workers"][worker]["replicas"]) == count:
            return True
        time.sleep(0.5)
    return False


def test_a_replica_killed_mid_request_gives_a_clean_answer_then_recovers(server, client):
    pids = set(re.findall(r"ServeReplica:darkroom:model-flood pid=(\d+)", server.log()))
    assert len(pids) == 1, pids  # the flood test above made the replica log its calls
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        running = pool.submit(_post, server, {"model": "flood", "prompt": PROMPT, "size": "1536x1024", "n": 4,
                                              "quality": "high"})
        _wait_until_busy(server, "flood")
        os.kill(int(pids.pop()), signal.SIGKILL)
        answer = running.result(timeout=120)
    # a 503 with Retry-After, or (not streamed yet: retried once, on the replica Ray brings up) a 200
    assert answer.status_code in (200, 503), answer.text
    if answer.status_code == 503:
        assert answer.json()["error"]["type"] == "server_error" and answer.headers["retry-after"]
    for _ in range(120):  # Ray brings a new replica up
        answer = _post(server, {"model": "flood", "prompt": PROMPT, "size": "1024x1024", "quality": "low"})
        if answer.status_code == 200:
            break
        assert answer.status_code == 503, answer.text
        time.sleep(0.5)
    assert answer.status_code == 200
    assert decode_b64(answer.json()["data"][0]["b64_json"]).size == (1024, 1024)


def _post(server: LiveServer, body: dict) -> httpx.Response:
    return httpx.post(f"{server.base_url}/v1/images/generations", json=body, timeout=120,
                      headers={"Authorization": f"Bearer {server.api_key}"})


def test_sigterm_drains_a_job_longer_than_rays_grace_and_exits_0(server):
    # the module's server, once the others are done with it (this test runs last in the file)
    client = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=server.api_key, max_retries=0)
    release = server.log_path.parent / RELEASE
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        running = pool.submit(client.images.generate, model="tiny", prompt=f"fault:hang {PROMPT}", size="256x256")
        _wait_until_busy(server, "tiny")
        server.process.send_signal(signal.SIGTERM)
        time.sleep(RAY_GRACE + 5)
        # Ray's default would have killed the replicas by now: the job is still held, the server still up
        assert not running.done() and server.process.poll() is None
        release.touch()
        result = running.result(timeout=120)
    assert decode_b64(result.data[0].b64_json).size == (256, 256)
    assert server.process.wait(timeout=120) == 0


def _wait_until_busy(server: LiveServer, worker: str) -> None:
    """Until the ingress has a job out at the model's deployment (`sent`)."""
    for _ in range(400):
        if _health(server)["workers"][worker]["sent"] >= 1:
            return
        time.sleep(0.05)
    raise AssertionError("the request never reached the model deployment")


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
