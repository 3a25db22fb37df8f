"""`GET /metrics`: Prometheus metrics in the text format (what they are: `darkroom/metrics.py`).

Open without an API key, like `/health`: Prometheus and other monitoring scrapers rarely carry
bearer tokens, and nothing here is secret (counts and timings by model name, never prompts, keys or
key names). To keep it private, do it in the network: don't route `/metrics` through the public
proxy, or bind the server to an internal interface.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from prometheus_client import generate_latest

from ..metrics import Metrics

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # the text format every Prometheus reads


def install_metrics(app: FastAPI) -> None:
    """Add the /metrics route and what feeds it to `app` (called once by `create_app`, after it set
    `app.state.service`): `app.state.metrics`, and its finisher in `app.state.finishers`."""
    app.state.metrics = Metrics(lambda: app.state.service.workers.values(), lambda: app.state.service.router,
                                lambda: getattr(getattr(app.state, "store", None), "ledger", None))
    app.state.finishers = getattr(app.state, "finishers", [])
    app.state.finishers.append(app.state.metrics.finish)
    app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)


async def metrics(request: Request) -> Response:
    # async: the workers' figures are read on the event loop, the only place they are written.
    body = generate_latest(request.app.state.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE)
