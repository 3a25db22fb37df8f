"""The autoscaling policy of a model deployment: replicas for the queued work, not the request count.

Ray's default policy divides ongoing requests by a target per replica, which cannot tell a 4-step
512x512 job from a 50-step 2048x2048 one (a factor of 200 in work). Each replica reports the work it
holds, queued plus running, in megapixel-steps (`ModelReplica.record_autoscaling_stats`); this policy
(Ray 2.60's `AutoscalingPolicy(policy_function=...)`, which gets those figures, averaged over Ray's
look-back window, in `ctx.aggregated_metrics`) asks for enough replicas that each holds about
`target_work_per_replica`. Ray then applies the deployment's bounds and its up- and down-scaling
delays. Without figures yet (a replica just started), it keeps the current count.
"""

from __future__ import annotations

import math
from typing import Any

POLICY = "darkroom.scaleout.autoscaling:WorkPolicy"


def replicas_for(work: float, target: float) -> int:
    """Replicas that hold about `target` megapixel-steps each: at least 1 while there is any work."""
    return math.ceil(work / target) if work > 0 else 0


class WorkPolicy:
    """Ray builds it with the deployment's `policy_kwargs` and calls it on its controller loop."""

    def __init__(self, target_work_per_replica: float = 100.0) -> None:
        self.target = target_work_per_replica

    def __call__(self, ctx: Any) -> tuple[int, dict[str, Any]]:
        """The replica count the reported work calls for."""
        figures = (ctx.aggregated_metrics or {}).get("work")
        if not figures:
            return ctx.target_num_replicas, ctx.policy_state
        return replicas_for(sum(figures.values()), self.target), ctx.policy_state


def autoscaling_config(min_replicas: int, max_replicas: int, target_work: float) -> dict[str, Any]:
    """Serve's `autoscaling_config` for one model deployment.

    Delays: up after 2 s of more work than the replicas hold (a job takes 1-120 s, so a burst is real
    work), down after 60 s idle (a model's replica takes seconds to minutes to load)."""
    return {
        "min_replicas": min_replicas, "max_replicas": max_replicas, "initial_replicas": min_replicas or 1,
        "look_back_period_s": 5.0, "upscale_delay_s": 2.0, "downscale_delay_s": 60.0,
        "policy": {"policy_function": POLICY, "policy_kwargs": {"target_work_per_replica": target_work}},
    }
