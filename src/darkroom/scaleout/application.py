"""`build(args)`: Darkroom as a Ray Serve application (`darkroom.scaleout.application:build`).

KubeRay's `serveConfigV2` points `import_path` here, with `args: {config: <TOML settings file>}`;
`darkroom serve --ray` calls it too. The application is:

- `api`: the FastAPI app of one process (`api/app.py`: auth, rules, moderation, limits, storage,
  ledger, unchanged), `ray_ingress_replicas` replicas of it (`ray_ingress_num_cpus` each). Its engine
  workers are `RemoteWorker`s. Every answer names the ingress replica that gave it (`x-darkroom-ingress`).
- one deployment per local engine instance (`model-<name>`: each configured model; `model-dall-e-2`
  holds the default catalog's shared sketch engine), whose replicas run `ModelReplica`. Upstream
  models have none: the ingress forwards them itself, as one process does.
- `figures`: one replica, no CPU, where model replicas post their figures for the ingress's `/health`
  and `/metrics` (`board.py`).

Ray's defaults are set from Darkroom's settings: `max_ongoing_requests` per model replica
(`ray_max_ongoing_requests`, 5) with a bounded queue in front (`max_queue`, then 503), the graceful
shutdown timeout (`ray_graceful_shutdown_seconds`, never below `request_timeout_seconds`, where Ray's
20 s would kill long jobs), per-model resources, and autoscaling on queued work (`autoscaling.py`).
"""

from __future__ import annotations

import re
from typing import Any

from ..catalog import Catalog, build_catalog
from ..config import ModelConfig, Settings, load_settings
from ..logs import configure_replica
from . import require_ray
from .autoscaling import autoscaling_config
from .board import FiguresBoard
from .proxy import ResponseHeaders
from .replica import ModelReplica
from .requirements import check_shared_state

INGRESS_MAX_ONGOING = 1000  # the ingress mostly waits on model replicas; its own limits are Darkroom's


def build(args: dict[str, Any]) -> Any:
    """The bound Serve application for the settings file `args["config"]` (plus DARKROOM_* variables)."""
    serve = require_ray()
    config = args.get("config") or None
    settings = load_settings(config)
    check_shared_state(settings)
    catalog = build_catalog(settings)
    grace = settings.ray_graceful_shutdown
    board = serve.deployment(FiguresBoard, name="figures", num_replicas=1, ray_actor_options={"num_cpus": 0},
                             max_ongoing_requests=INGRESS_MAX_ONGOING).bind()
    models = {}
    for name in engine_models(catalog):
        own = next((m for m in settings.models if m.name == name), None) or ModelConfig(name=name)
        models[name] = serve.deployment(
            ModelReplica, name=deployment_name(name), ray_actor_options=actor_options(own),
            max_ongoing_requests=settings.ray_max_ongoing_requests, max_queued_requests=own.max_queue,
            graceful_shutdown_timeout_s=grace, graceful_shutdown_wait_loop_s=1.0, **replica_count(own),
        ).bind(config, name, board)
    ingress = serve.deployment(serve.ingress()(Ingress), name="api", num_replicas=settings.ray_ingress_replicas,
                               ray_actor_options={"num_cpus": settings.ray_ingress_num_cpus},
                               max_ongoing_requests=INGRESS_MAX_ONGOING, graceful_shutdown_timeout_s=grace,
                               graceful_shutdown_wait_loop_s=1.0)
    return ingress.bind(config, models, board)


def engine_models(catalog: Catalog) -> list[str]:
    """The first model name of each local engine instance: each becomes a deployment."""
    names: dict[int, str] = {}
    for spec in catalog:
        if not spec.engine.forwards:
            names.setdefault(id(spec.engine), spec.name)
    return list(names.values())


def deployment_name(model: str) -> str:
    return "model-" + re.sub(r"[^A-Za-z0-9_.-]", "_", model)


def actor_options(model: ModelConfig) -> dict[str, Any]:
    options: dict[str, Any] = {"num_cpus": model.num_cpus, "num_gpus": model.num_gpus}
    if model.resources:
        options["resources"] = dict(model.resources)
    return options


def replica_count(model: ModelConfig) -> dict[str, Any]:
    if model.min_replicas == model.max_replicas:
        return {"num_replicas": model.max_replicas}
    return {"autoscaling_config": autoscaling_config(model.min_replicas, model.max_replicas,
                                                     model.target_work_per_replica, model.scale_up_delay_seconds,
                                                     model.scale_down_delay_seconds)}


class Ingress:
    """The `api` deployment: Darkroom's FastAPI app, its engine workers sending jobs to the models."""

    def __init__(self, config: str | None, models: dict[str, Any], board: Any = None) -> None:
        self.settings: Settings = load_settings(config)
        configure_replica(self.settings.log_level)  # the access log, the prompt log: Ray would drop them
        self.models = models  # model name -> DeploymentHandle
        self.board = board  # the figures deployment's handle

    def __serve_build_asgi_app__(self) -> Any:
        from ..api.app import create_app
        from .remote_worker import RemoteWorker

        app = create_app(self.settings)
        service = app.state.service
        for spec in app.state.catalog:
            worker = service.workers[id(spec.engine)]
            if spec.name in self.models:
                service.workers[id(spec.engine)] = RemoteWorker(spec.engine, self.models[spec.name], worker.name,
                                                                self.board, deployment_name(spec.name))
        app.add_middleware(IngressHeader, replica=_replica_tag())
        return app


def _replica_tag() -> str:
    from ray import serve

    try:
        return serve.get_replica_context().replica_tag
    except Exception:  # noqa: BLE001 - outside a replica (a unit test building the app): no tag to give
        return "none"


class IngressHeader(ResponseHeaders):
    """`x-darkroom-ingress: <replica tag>` on every HTTP answer, streams included, so a client (or a test)
    can tell which ingress replica answered; each replica has its own `sent` figures."""

    def __init__(self, app: Any, replica: str) -> None:
        header = (b"x-darkroom-ingress", replica.encode("latin-1", "replace"))
        super().__init__(app, lambda headers: [*headers, header])
