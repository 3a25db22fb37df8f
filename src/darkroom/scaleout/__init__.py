"""Darkroom on Ray Serve (`darkroom serve --ray`): the same app, its engines in replicas across a cluster.

    requirements.py   what `--ray` needs before Ray starts: PostgreSQL and S3 (no ray import)
    application.py    `build(args)`: the Serve application (KubeRay's `import_path`, and `--ray`)
    replica.py        a model deployment's replica: Darkroom's own EngineWorker and engine
    remote_worker.py  the ingress's stand-in for a worker: submits jobs to a model deployment
    autoscaling.py    the autoscaling policy: queued work (megapixel-steps), not request counts
    runner.py         `darkroom serve --ray`: start or join Ray, run the application, drain on SIGTERM

Nothing outside this package imports ray; `require_ray()` imports it and names the extra when missing.
"""

from __future__ import annotations

from typing import Any

RAY_EXTRA_MESSAGE = "darkroom serve --ray needs Ray Serve: pip install 'darkroom[ray]'"


def require_ray() -> Any:
    """`ray.serve`, or an ImportError that names the pip extra."""
    try:
        from ray import serve
    except ImportError as exc:
        raise ImportError(RAY_EXTRA_MESSAGE) from exc
    return serve
