"""The autoscaling policy of a model deployment: replicas for the queued work, not the request count.

Ray's default policy divides ongoing requests by a target per replica, which cannot tell a 4-step
512x512 job from a 50-step 2048x2048 one (a factor of 200 in work). Each replica reports the work it
holds, queued plus running, in megapixel-steps, and how many jobs that is
(`ModelReplica.record_autoscaling_stats`); this policy (Ray 2.60's
`AutoscalingPolicy(policy_function=...)`, which gets those figures, averaged over Ray's look-back
window, in `ctx.aggregated_metrics`) asks for enough replicas that each holds about
`target_work_per_replica`. Requests still waiting in Ray's queue in front of the replicas (every
replica at `ray_max_ongoing_requests`) are not in any replica's figures: each counts as the mean work
of the jobs the replicas hold (their sizes are not known before a replica takes them), or as one
target's worth when the replicas hold none. Ray then applies the deployment's bounds and its up- and
down-scaling delays. Without figures yet (a replica just started), it keeps the current count.

Replicas push their figures to Ray's controller every `RAY_SERVE_REPLICA_AUTOSCALING_METRIC_PUSH_INTERVAL_S`
(Ray's default 10 s; `darkroom serve --ray` sets 2 s unless it is set, and deploy/kuberay sets it too):
with the 2 s up-scaling delay, a burst asks for a new replica about 4 s after it starts. The look-back
window holds at least two pushes (5 s at 2 s pushes; 25 s at Ray's 10 s, where a 5 s window would often
hold none and the policy would keep the current count). Ray still checks the window against its
deprecated `metrics_interval_s`, so that is given the push interval, which is what it stands for.
"""

from __future__ import annotations

import math
import os
from typing import Any

POLICY = "darkroom.scaleout.autoscaling:WorkPolicy"
PUSH_INTERVAL = "RAY_SERVE_REPLICA_AUTOSCALING_METRIC_PUSH_INTERVAL_S"
RAY_PUSH_SECONDS = 10.0  # Ray's default push interval


def replicas_for(work: float, target: float) -> int:
    """Replicas that hold about `target` megapixel-steps each: at least 1 while there is any work."""
    return math.ceil(work / target) if work > 0 else 0


class WorkPolicy:
    """Ray builds it with the deployment's `policy_kwargs` and calls it on its controller loop."""

    def __init__(self, target_work_per_replica: float = 100.0) -> None:
        self.target = target_work_per_replica

    def __call__(self, ctx: Any) -> tuple[int, dict[str, Any]]:
        """The replica count the reported work (and the requests queued in front of it) calls for."""
        metrics = ctx.aggregated_metrics or {}
        figures = metrics.get("work")
        if not figures:
            return ctx.target_num_replicas, ctx.policy_state
        work, jobs = sum(figures.values()), sum((metrics.get("jobs") or {}).values())
        queued = ctx.total_queued_requests
        queued = (queued() if callable(queued) else queued) or 0
        return replicas_for(work + queued * (work / jobs if jobs else self.target), self.target), ctx.policy_state


def autoscaling_config(min_replicas: int, max_replicas: int, target_work: float, upscale_delay: float = 2.0,
                       downscale_delay: float = 60.0) -> dict[str, Any]:
    """Serve's `autoscaling_config` for one model deployment (the delays: `scale_up_delay_seconds` and
    `scale_down_delay_seconds` of the model's config).

    Defaults: up after 2 s of more work than the replicas hold (a job takes 1-120 s, so a burst is real
    work), down after 60 s idle (a model's replica takes seconds to minutes to load)."""
    push = push_interval()
    return {
        "min_replicas": min_replicas, "max_replicas": max_replicas, "initial_replicas": min_replicas or 1,
        "metrics_interval_s": push, "look_back_period_s": max(5.0, 2.5 * push),
        "upscale_delay_s": upscale_delay, "downscale_delay_s": downscale_delay,
        "policy": {"policy_function": POLICY, "policy_kwargs": {"target_work_per_replica": target_work}},
    }


def push_interval() -> float:
    """How often replicas push their figures: $RAY_SERVE_REPLICA_AUTOSCALING_METRIC_PUSH_INTERVAL_S, else Ray's."""
    try:
        seconds = float(os.environ.get(PUSH_INTERVAL, RAY_PUSH_SECONDS))
    except ValueError:
        return RAY_PUSH_SECONDS
    return seconds if seconds > 0 else RAY_PUSH_SECONDS
