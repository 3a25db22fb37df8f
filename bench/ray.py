"""What `darkroom serve --ray` adds per request, against one process, in the same run.

    one process   `darkroom serve` with the shared state `--ray` needs (PostgreSQL, S3 on moto), so that
                  both sides store, limit and record the same way
    ray           `darkroom serve --ray` on a local Ray instance with the same settings file: the Serve
                  proxy, the `api` ingress replica, the default sketch model deployment

Both get the same requests, one at a time (httpx, keep-alive): dall-e-2 256x256 b64_json, 1 image
(the engine's own time is ~2 ms, so the difference is the path: proxy -> ingress -> model replica ->
back). Rounds alternate between the two sides; warm-ups are discarded; the table shows the median
over rounds of each round's p50, and the added p50 (ray - one process).

Also: Ray Serve's own cost per hop on this machine, without Darkroom (bench/_ray_floor.py): an HTTP
request through its proxy to an empty route, and handle calls returning nothing, the image, or a
stream of it. Their sum for the two hops of a request is the floor under the added p50.

Also: how long `--ray` takes to become healthy (Ray's start, the Serve controller and proxy, the
replicas), and what moving one 1024x1024 RGB image costs between processes: pickling it (protocol 5,
as Ray does) and the copy the ingress makes of Ray's read-only array.

Throughput from 1 to 2 model replicas: a second `--ray` server (OMP_NUM_THREADS=1, so each replica's torch
runs one thread) serves the tiny diffusers pipeline (tests/tiny_pipelines.py) twice, as `tiny-1` with one
replica and `tiny-2` with two, neither batching (`max_batch_images = 1`), so that the ratio is the replicas'
alone. CONCURRENCY clients send 256x256 requests of STEPS steps to one of them at a time; rounds alternate.
The ingress and the replicas share this machine's two cores, so 2.0 is out of reach: the aim is 1.6.
During the rounds the bench reads the CPU time of every process of the `--ray` server (/proc): the
cores kept busy by the model replicas, the ingress, the figures board (`scaleout/board.py`), Serve's
proxy and controller, the rest of Ray (the driver, GCS, raylet and its helpers), and the clients (this
process), which is what says where the second core went.
"""

from __future__ import annotations

import concurrent.futures
import os
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
CONCURRENCY, STEPS = 4, 8  # the throughput runs
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
                latency = _compare(work, config, rounds, per_round) + "\n" + _floor(100 if quick else 400)
                scaled = _config(work / "scaled", postgres.create_database("scaled"), endpoint, REGION,
                                 _tiny_models(work))
                return latency + "\n\n" + _throughput(work / "scaled", scaled, 2 if quick else 4,
                                                       12 if quick else 32)
        finally:
            stop_postgres(postgres)


def _config(work: Path, database_url: str, endpoint: str, region: str, models: str = "") -> Path:
    import boto3

    bucket = f"bench-{secrets.token_hex(4)}"
    boto3.client("s3", endpoint_url=endpoint, region_name=region, aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket=bucket)
    work.mkdir(parents=True, exist_ok=True)
    path = work / "darkroom.toml"
    path.write_text(f'data_dir = "{work / "data"}"\napi_keys = ["{KEY}"]\ndatabase_url = "{database_url}"\n'
                    f'storage = "s3"\ns3_bucket = "{bucket}"\ns3_endpoint_url = "{endpoint}"\ns3_region = "{region}"\n'
                    + models)
    return path


def _tiny_models(work: Path) -> str:
    """`tiny-1` (one replica) and `tiny-2` (two) on the same tiny pipeline; the ingress reserves no CPU."""
    from tests.tiny_pipelines import build_tiny_sd

    folder = build_tiny_sd(work / "tiny-sd")
    blocks = ["ray_ingress_num_cpus = 0\nray_max_ongoing_requests = 2\n"]
    for name, replicas in (("tiny-1", 1), ("tiny-2", 2)):
        blocks.append(f'[[models]]\nname = "{name}"\nengine = "diffusers"\nfamily = "gpt-image"\npath = "{folder}"\n'
                      f'local_files_only = true\ndevice = "cpu"\nnum_cpus = 0\nmax_batch_images = 1\n'
                      f"min_replicas = {replicas}\nmax_replicas = {replicas}\n")
    return "\n".join(blocks)


def _throughput(work: Path, config: Path, rounds: int, per_round: int) -> str:
    """Requests per second through `tiny-1` and `tiny-2`, CONCURRENCY clients, rounds alternating."""
    port = free_port()
    process = start_process([sys.executable, "-m", "darkroom", "serve", "--ray", "--port", str(port), "--config",
                             str(config)], work / "ray.log", f"http://{HOST}:{port}/health", timeout=300,
                            env={**RAY_ENV, "HOME": str(work), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"})
    rates: dict[str, list[float]] = {"tiny-1": [], "tiny-2": []}
    busy: dict[str, dict[str, float]] = {model: dict.fromkeys(ROLES, 0.0) for model in rates}  # CPU seconds
    wall: dict[str, float] = dict.fromkeys(rates, 0.0)
    try:
        with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=120, headers={"Authorization": f"Bearer {KEY}"},
                          limits=httpx.Limits(max_connections=CONCURRENCY * 2)) as client:
            for model in rates:
                _burst(client, model, CONCURRENCY)  # warm-up: every replica has run once
            for index in range(rounds):
                for model in (rates if index % 2 == 0 else reversed(list(rates))):
                    before, started = _cpu_by_role(process.pid, model), time.monotonic()
                    _burst(client, model, per_round)
                    took, after = time.monotonic() - started, _cpu_by_role(process.pid, model)
                    rates[model].append(per_round / took)
                    wall[model] += took
                    for role in ROLES:
                        busy[model][role] += after[role] - before[role]
    finally:
        stop_process(process)
    one, two = median(rates["tiny-1"]), median(rates["tiny-2"])
    rows = [[model, str(replicas), fmt(median(rates[model])),
             *(fmt(busy[model][role] / wall[model]) for role in ROLES)]
            for model, replicas in (("tiny-1", 1), ("tiny-2", 2))]
    return "\n".join([
        f"throughput: {rounds} rounds x {per_round} requests per model, {CONCURRENCY} clients, tiny SD 256x256, "
        f"{STEPS} steps, one torch thread per replica; cores busy during the rounds, by process",
        table(["model", "replicas", "images/s", *ROLES], rows),
        f"2 replicas / 1 replica: {fmt(two / one)}x (aim 1.6x)",
    ])


ROLES = ("model replicas", "ingress", "figures", "proxy", "controller", "rest of Ray", "clients")
_ACTORS = (("ServeReplica:darkroom:api ", "ingress"), ("ServeReplica:darkroom:figures ", "figures"),
           ("ProxyActor", "proxy"), ("ServeController", "controller"))  # Ray's process titles -> roles


def _cpu_by_role(root: int, model: str) -> dict[str, float]:
    """CPU seconds (user + system) used so far by the `--ray` server's process tree (`root` and every
    process under it: Ray's workers are the raylet's children), by role, and by this process (the
    clients). Ray names its worker processes after their actor ("ray::ServeReplica:darkroom:api")."""
    from darkroom.scaleout.application import deployment_name

    ticks = os.sysconf("SC_CLK_TCK")
    parents, seconds, names = {}, {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            names[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        parents[int(entry.name)] = int(fields[1])
        seconds[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    used = dict.fromkeys(ROLES, 0.0)
    used["clients"] = sum(os.times()[:2])
    tree, grown = {root}, True
    while grown:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grown = bool(more)
    replica = f"ServeReplica:darkroom:{deployment_name(model)} "
    for pid in tree & seconds.keys():
        name = names[pid] + " "
        role = "model replicas" if replica in name else next(
            (r for title, r in _ACTORS if title in name), "rest of Ray")
        used[role] += seconds[pid]
    return used


def _burst(client: httpx.Client, model: str, count: int) -> None:
    body = {"model": model, "prompt": "a lighthouse at dusk", "size": "256x256", "steps": STEPS}

    def one(index: int) -> None:
        response = client.post("/v1/images/generations", json={**body, "seed": index})
        if response.status_code != 200:
            raise RuntimeError(f"{model}: {response.status_code}: {response.text[:300]}")

    with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(one, range(count)))


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


def _floor(requests: int) -> str:
    """Ray Serve's own cost per hop here (bench/_ray_floor.py, a Ray instance of its own): the least `--ray` adds."""
    import json
    import subprocess

    done = subprocess.run([sys.executable, "-m", "bench._ray_floor", str(requests)], capture_output=True, text=True,
                          timeout=300, check=True, cwd=Path(__file__).resolve().parent.parent,
                          env={**os.environ, **RAY_ENV})
    floor = json.loads(done.stdout.strip().splitlines()[-1])
    least = floor["http, empty route"] + floor["handle, 256x256 image"]
    return "\n".join([f"Ray Serve alone, p50 per hop ({requests} calls each): " + ", ".join(
        f"{name} {fmt(ms)} ms" for name, ms in floor.items()),
        f"so the proxy hop plus the model hop with the image cost Ray at least {fmt(least)} ms a request here"])


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
