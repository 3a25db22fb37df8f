"""What `darkroom serve --ray` adds per request, against one process, in the same run.

    one process   `darkroom serve` with the shared state `--ray` needs (PostgreSQL, S3 on moto), so that
                  both sides store, limit and record the same way
    ray           `darkroom serve --ray` on a local Ray instance with the same settings file: the Serve
                  proxy, the `api` ingress replica, the default sketch model deployment

Both get the same requests, one at a time (httpx, keep-alive): dall-e-2 256x256 b64_json, 1 image
(the engine's own time is ~2 ms, so the difference is the path: proxy -> ingress -> model replica ->
back). Rounds alternate between the two sides; warm-ups are discarded; the table shows the median
over rounds of each round's p50, and the added p50 (ray - one process).

Also: how long `--ray` takes to become healthy (Ray's start, the Serve controller and proxy, the
replicas), and what moving one 1024x1024 RGB image costs between processes: pickling it (protocol 5,
as Ray does) and the copy the ingress makes of Ray's read-only array.

Not measured yet: throughput from 1 to 2 model replicas (the tiny diffusers model, one torch thread
each); on this 2-core machine the ingress and both replicas compete for the same two cores.
"""

from __future__ import annotations

import pickle
import secrets
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from ._common import HOST, fmt, free_port, median, percentile, start_process, stop_process, table

REQUEST = {"model": "dall-e-2", "prompt": "a lighthouse at dusk", "size": "256x256", "response_format": "b64_json"}
KEY = "sk-bench-ray"
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true"}


def run(quick: bool) -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.postgres import start_postgres, stop_postgres
    from tests.s3_server import REGION, moto_server

    rounds, per_round = (3, 10) if quick else (8, 40)
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        work = Path(tmp)
        postgres = start_postgres()  # its own folder: the temporary one is private to this user
        try:
            with moto_server(work / "moto.log") as endpoint:
                config = _config(work, postgres.create_database("bench"), endpoint, REGION)
                return _compare(work, config, rounds, per_round)
        finally:
            stop_postgres(postgres)


def _config(work: Path, database_url: str, endpoint: str, region: str) -> Path:
    import boto3

    bucket = f"bench-{secrets.token_hex(4)}"
    boto3.client("s3", endpoint_url=endpoint, region_name=region, aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket=bucket)
    path = work / "darkroom.toml"
    path.write_text(f'data_dir = "{work / "data"}"\napi_keys = ["{KEY}"]\ndatabase_url = "{database_url}"\n'
                    f'storage = "s3"\ns3_bucket = "{bucket}"\ns3_endpoint_url = "{endpoint}"\ns3_region = "{region}"\n')
    return path


def _compare(work: Path, config: Path, rounds: int, per_round: int) -> str:
    ports = {"one process": free_port(), "ray": free_port()}
    processes = {}
    try:
        for name, port in ports.items():
            flag = ["--ray"] if name == "ray" else []
            started = time.monotonic()
            processes[name] = start_process(
                [sys.executable, "-m", "darkroom", "serve", *flag, "--port", str(port), "--config", str(config)],
                work / f"{name}.log", f"http://{HOST}:{port}/health", timeout=180,
                env={**RAY_ENV, "HOME": str(work)})
            if name == "ray":
                ray_start = time.monotonic() - started
        p50s: dict[str, list[float]] = {name: [] for name in ports}
        every: dict[str, list[float]] = {name: [] for name in ports}
        clients = {name: httpx.Client(base_url=f"http://{HOST}:{port}", timeout=60,
                                      headers={"Authorization": f"Bearer {KEY}"}) for name, port in ports.items()}
        for name in ports:
            _times(clients[name], 5)  # warm-up
        for index in range(rounds):
            order = list(ports) if index % 2 == 0 else list(reversed(ports))
            for name in order:
                times = _times(clients[name], per_round)
                p50s[name].append(percentile(times, 50))
                every[name].extend(times)
    finally:
        for process in processes.values():
            stop_process(process)
    rows = [[name, fmt(median(p50s[name]) * 1000), fmt(percentile(every[name], 90) * 1000)] for name in ports]
    added = (median(p50s["ray"]) - median(p50s["one process"])) * 1000
    pickled, copied = _transfer_cost()
    return "\n".join([
        f"ray: {rounds} rounds x {per_round} sequential requests per side; dall-e-2 256x256 b64_json",
        table(["server", "p50 ms", "p90 ms"], rows),
        f"added p50 through Ray: {fmt(added)} ms per request",
        f"darkroom serve --ray healthy after {fmt(ray_start, 1)} s (local Ray start + Serve + replicas)",
        f"one 1024x1024 RGB image: pickle dumps+loads {fmt(pickled * 1000)} ms, writable copy {fmt(copied * 1000)} ms",
    ])


def _times(client: httpx.Client, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.monotonic()
        response = client.post("/v1/images/generations", json=REQUEST)
        times.append(time.monotonic() - started)
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
    return times


def _transfer_cost(repeats: int = 50) -> tuple[float, float]:
    image = np.random.default_rng(0).integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
    pickles, copies = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        back = pickle.loads(pickle.dumps(image, protocol=5))
        pickles.append(time.perf_counter() - started)
        started = time.perf_counter()
        np.array(back)
        copies.append(time.perf_counter() - started)
    return median(pickles), median(copies)
