"""`GET /health`: always open; 200 when every model is ready, 503 while any is loading or failed, while
moderation's classifiers load (`moderation`: loading, ready or off; ~1 s after start), or while the
server drains for shutdown, or (`degraded`) while an engine worker is stuck on a call that would not
stop. Also each engine worker's figures (queue, batches, cancellations; with `--ray`, summed over
the model's replicas, and each replica's own under `replicas`, with the work it holds in
megapixel-steps, what the autoscaler sees; `sent`: the jobs this ingress replica has out there), and the circuit breaker of each route target (`targets`: closed, open or half-open; an open breaker
does not make the server unhealthy, its route skips that target)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .. import __version__
from ..scheduling.figures import figures_of

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    service = request.app.state.service
    loader = service.loader
    status = "draining" if service.draining else {"ready": "ok"}.get(loader.status, loader.status)
    moderation = service.moderator.status
    if status == "ok" and moderation == "loading":
        status = "loading"
    figures = {id(worker): figures_of(worker) for worker in service.workers.values()}
    if status == "ok" and any(shown.stuck for shown in figures.values()):
        status = "degraded"  # an engine is stuck (`scheduling/worker.py`): restart the process to free it
    models = loader.models()
    for spec in request.app.state.catalog:
        models[spec.name]["queue_depth"] = figures[id(service.worker_for(spec.engine))].queue_depth
    workers = {worker.name: figures[id(worker)].as_dict() for worker in service.workers.values()}
    for worker in service.workers.values():
        if hasattr(worker, "replicas"):  # a model deployment's (`scaleout/`): its replicas, one by one
            workers[worker.name]["sent"] = worker.load  # jobs this ingress replica has out at the deployment
            workers[worker.name]["replicas"] = {
                replica: {"node": report.node, "work": round(report.work, 3), "retry_after": report.retry_after,
                          **report.figures.as_dict()} for replica, report in worker.replicas.items()}
    body = {"status": status, "version": __version__, "models": models, "moderation": moderation, "workers": workers,
            "routes": {name: list(route.targets) for name, route in request.app.state.catalog.routes.items()},
            "targets": service.router.health()}
    return JSONResponse(body, status_code=200 if status == "ok" else 503)
