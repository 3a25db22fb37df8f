"""Ray Serve's own cost per hop on this machine, as `darkroom serve --ray` configures it (access log off).

    python -m bench._ray_floor [REQUESTS]      prints one JSON object: p50 milliseconds of each

    http, empty route        an HTTP request through Serve's proxy to a replica that answers ""
    handle, empty            a call from one replica to another that returns None
    handle, 256x256 image    the same call returning the pixels of bench ray's request (192 KiB: above
                             Ray's 100 KiB inline limit, so it travels through the object store)
    handle, streamed         a streaming call yielding that image once (what a job with partials uses)

`--ray` puts two hops on a request's path (proxy -> ingress, ingress -> model replica, the second with
the image), so their sum is the least Ray can add; bench/ray.py prints these beside its measured figure.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

from ._common import HOST, free_port, median

WARM_UP = 10


def main(requests: int) -> dict[str, float]:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import httpx
    import numpy as np
    import ray
    from ray import serve

    @serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 0})
    class Model:
        def __init__(self) -> None:
            self.image = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)

        async def empty(self) -> None:
            return None

        async def image_(self) -> np.ndarray:
            return self.image

        async def stream(self):
            yield ("done", self.image)

    @serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 0})
    class Front:
        def __init__(self, model) -> None:
            self.model = model

        async def __call__(self, request) -> str:
            return ""

        async def calls(self, count: int) -> dict[str, float]:
            streamed = self.model.options(method_name="stream", stream=True)
            kinds = {"handle, empty": lambda: self.model.empty.remote(),
                     "handle, 256x256 image": lambda: self.model.image_.remote()}
            out = {}
            for name, call in kinds.items():
                times = []
                for index in range(count + WARM_UP):
                    started = time.perf_counter()
                    await call()
                    if index >= WARM_UP:
                        times.append(time.perf_counter() - started)
                out[name] = median(times) * 1000
            times = []
            for index in range(count + WARM_UP):
                started = time.perf_counter()
                async for _ in streamed.remote():
                    pass
                if index >= WARM_UP:
                    times.append(time.perf_counter() - started)
            out["handle, streamed"] = median(times) * 1000
            return out

    port = free_port()
    ray.init(address="local", include_dashboard=False, logging_level=logging.ERROR)
    try:
        serve.start(http_options={"host": HOST, "port": port})
        handle = serve.run(Front.bind(Model.bind()), name="floor", route_prefix="/",
                           logging_config={"enable_access_log": False})
        times = []
        with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=30) as client:
            for index in range(requests + WARM_UP):
                started = time.perf_counter()
                client.get("/").raise_for_status()
                if index >= WARM_UP:
                    times.append(time.perf_counter() - started)
        return {"http, empty route": median(times) * 1000, **handle.calls.remote(requests).result()}
    finally:
        serve.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)))
