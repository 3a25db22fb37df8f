"""`darkroom serve --ray` joining a cluster of two Ray nodes on this machine (`ray start --head` and a second
`ray start --address` process, each with a custom resource of its own), with a model pinned to each node
by `resources`: each serves (the one pinned to `node_b` can only run on the second node), partials stream
from it, and the Node SDK's seed scenario (tests/node) passes through the cluster. The API runs as two
ingress replicas, which share keys and limits through PostgreSQL.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from ..conftest import LiveServer, create_key, darkroom_cli, free_port, stop_server
from ..images import decode_b64
from .conftest import API_KEY, ray_env, shared_state, start_ray_server

RAY = str(Path(sys.executable).with_name("ray"))
PROMPT = "a red kite over green hills, flat illustration"


def _ray_start(workdir: Path, name: str, *args: str) -> subprocess.Popen:
    log = (workdir / f"ray-{name}.log").open("wb")
    # Both nodes are this machine, so which is "local" to the HTTP proxy is arbitrary: let the proxy spread
    # requests over the ingress replicas wherever they landed (Ray prefers its own node's by default).
    env = {**ray_env(workdir), "RAY_SERVE_PROXY_PREFER_LOCAL_NODE_ROUTING": "0"}
    return subprocess.Popen([RAY, "start", "--block", "--disable-usage-stats", *args], stdout=log,
                            stderr=subprocess.STDOUT, env=env)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> str:
    workdir = tmp_path_factory.mktemp("cluster")
    port = free_port()
    head = _ray_start(workdir, "head", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
                      f"--resources={json.dumps({'node_a': 1})}")
    address = f"127.0.0.1:{port}"
    worker = None
    try:
        _wait_for_nodes(workdir, address, 1)
        worker = _ray_start(workdir, "worker", f"--address={address}", "--num-cpus=1",
                            f"--resources={json.dumps({'node_b': 1})}")
        _wait_for_nodes(workdir, address, 2)
        yield address
    finally:
        for process in (worker, head):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


def _wait_for_nodes(workdir: Path, address: str, count: int) -> None:
    code = ("import ray, time\nray.init(address=%r, logging_level='ERROR')\n"
            "for _ in range(300):\n"
            "    if sum(n['Alive'] for n in ray.nodes()) >= %d: break\n"
            "    time.sleep(0.2)\n"
            "else: raise SystemExit('the nodes did not join')\n") % (address, count)
    done = subprocess.run([sys.executable, "-c", code], env=ray_env(workdir), capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def server(cluster, postgres, s3_endpoint, tmp_path_factory) -> LiveServer:
    # s3_presign = false: links point at this server (the seed scenario downloads them from it)
    config = shared_state(postgres, s3_endpoint, "cluster") + f'ray_address = "{cluster}"\ns3_presign = false\n' + """
ray_ingress_replicas = 2
ray_ingress_num_cpus = 0.5

[[models]]
name = "gpt-image-2-alpha"
engine = "sketch"
family = "gpt-image-2"
transparent_background = true
num_cpus = 0

[[models]]
name = "on-a"
engine = "sketch"
num_cpus = 0
resources = {node_a = 1}

[[models]]
name = "on-b"
engine = "sketch"
num_cpus = 0
resources = {node_b = 1}
"""
    server = start_ray_server(tmp_path_factory.mktemp("cluster-server"), config)
    yield server
    stop_server(server)


@pytest.fixture()
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=API_KEY, max_retries=0)


@pytest.mark.parametrize("model", ["on-a", "on-b", "gpt-image-1"])
def test_each_pinned_model_serves(client, model):
    result = client.images.with_raw_response.generate(model=model, prompt=PROMPT, size="1024x1024", quality="low")
    assert result.headers["x-darkroom-served-by"] == model
    assert re.fullmatch(r"req_[0-9a-f]{32}", result.headers["x-request-id"])  # one id, not the proxy's as well
    assert decode_b64(result.parse().data[0].b64_json).size == (1024, 1024)


def test_partials_stream_from_the_second_node(client):
    events = list(client.images.generate(model="on-b", prompt=PROMPT, size="1024x1024", quality="low", stream=True,
                                         partial_images=1))
    assert [e.type for e in events] == ["image_generation.partial_image", "image_generation.completed"]


def test_node_sdk_seed_scenario_through_the_cluster(server):
    from ..test_sdk_node import REPO, _node, _run

    proc = _run([_node(), "--test", "--test-reporter=spec", "tests/node/seed_scenario.test.mjs"], cwd=REPO,
                env={"DARKROOM_BASE_URL": server.v1, "DARKROOM_API_KEY": server.api_key})
    passed = re.search(r"^ℹ pass (\d+)$", proc.stdout, re.M)
    assert proc.returncode == 0 and "ℹ fail 0" in proc.stdout and passed and int(passed.group(1)) >= 20, \
        proc.stdout[-4000:] + proc.stderr[-2000:]


def test_two_ingress_replicas_share_keys_and_limits(server):
    """A key made by the CLI works on both ingress replicas, its per-minute limit is one budget across them
    (two replicas counting alone would let about twice as many through), and once revoked both refuse it."""
    rpm = 4
    key = create_key(server, "shared-limit", "--rpm", str(rpm))
    auth = {"Authorization": f"Bearer {key}"}
    started = time.monotonic()
    answers = [httpx.get(f"{server.v1}/models", headers=auth, timeout=30) for _ in range(16)]
    elapsed = time.monotonic() - started
    assert len({a.headers["x-darkroom-ingress"] for a in answers}) == 2  # both replicas answered
    served = sum(a.status_code == 200 for a in answers)
    refill = int(elapsed * rpm / 60)  # what the bucket earned back meanwhile
    assert rpm <= served <= rpm + refill, ([a.status_code for a in answers], elapsed)
    refused = [a for a in answers if a.status_code != 200]
    assert {a.status_code for a in refused} == {429}
    assert {a.json()["error"]["code"] for a in refused} == {"rate_limit_exceeded"}
    assert len({a.headers["x-darkroom-ingress"] for a in refused}) == 2  # each replica refused some
    other = create_key(server, "to-revoke")
    assert all(httpx.get(f"{server.v1}/models", headers={"Authorization": f"Bearer {other}"}).status_code == 200
               for _ in range(4))
    revoked = darkroom_cli(server, "keys", "revoke", "to-revoke")
    assert revoked.returncode == 0, revoked.stderr
    time.sleep(1.5)  # each process caches a key for a second
    answers = [httpx.get(f"{server.v1}/models", headers={"Authorization": f"Bearer {other}"}) for _ in range(8)]
    assert {a.status_code for a in answers} == {401}
    assert len({a.headers["x-darkroom-ingress"] for a in answers}) == 2
