"""`darkroom serve --ray`: start a local Ray instance (or join `ray_address`), run the application, drain.

The Serve HTTP proxy listens on the server's host and port. On SIGTERM (or Ctrl-C) the application is
deleted: Serve stops routing to it and gives each replica up to `ray_graceful_shutdown_seconds` to
finish its requests before the process exits 0. Ray's usage statistics are off unless
RAY_USAGE_STATS_ENABLED says otherwise, and no dashboard is started. Replicas push their autoscaling
figures every 2 s (RAY_SERVE_REPLICA_AUTOSCALING_METRIC_PUSH_INTERVAL_S, unless set; Ray's is 10 s).

DARKROOM_* variables of this process reach the replicas (Ray's `runtime_env`), so they read the same
settings as this process from the same config file.

Ray Serve's access log is off: Darkroom's own (the ingress's `darkroom.access` JSON lines) is the one.
The proxy keeps one `x-request-id` per answer, Darkroom's (`proxy.py`).

An empty `ray_address` always starts a new local instance ("local"), never one that happens to run on
this machine. The HTTP proxy runs on the node of this process only (`HeadOnly`): a proxy on every node
would need the port free on each, and nodes sharing a host would collide. Behind a load balancer
(KubeRay), the RayService's own `serveConfigV2` sets the proxies.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time

from ..config import Settings
from . import require_ray
from .application import build
from .autoscaling import PUSH_INTERVAL
from .proxy import CALLBACK, CALLBACK_VARIABLE

log = logging.getLogger("darkroom.scaleout")
APP_NAME = "darkroom"


def serve_ray(settings: Settings, config: str | None) -> int:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault(PUSH_INTERVAL, "2")  # Ray's 10 s would hold a burst back for 10 s (`autoscaling.py`)
    os.environ.setdefault(CALLBACK_VARIABLE, CALLBACK)  # one x-request-id per answer (`proxy.py`)
    serve = require_ray()
    import ray

    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if k.startswith("DARKROOM_") or k in (PUSH_INTERVAL, CALLBACK_VARIABLE)}
    ray.init(address=settings.ray_address or "local", include_dashboard=False, logging_level=logging.WARNING,
             runtime_env={"env_vars": env} if env else None)
    port = settings.port or _free_port(settings.host)
    serve.start(http_options={"host": settings.host, "port": port}, proxy_location="HeadOnly")
    # Ray's own per-request log line in each replica costs ~0.7 ms a hop here; Darkroom's access log
    # (`darkroom.access`, `logs.py`) already records every request, once, at the ingress.
    serve.run(build({"config": config}), name=APP_NAME, route_prefix="/", logging_config={"enable_access_log": False})
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    log.info("Ray Serve up in %.1f s: the API at http://%s:%d/v1", time.monotonic() - started, host, port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    log.info("draining: replicas get up to %.0f s to finish their requests", settings.ray_graceful_shutdown)
    serve.delete(APP_NAME)
    serve.shutdown()
    ray.shutdown()
    return 0


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
