"""The `figures` deployment: where every model replica posts its worker's figures, for `/health` and `/metrics`.

A request through Serve reaches one replica of a deployment, so no replica can answer for the others.
Instead each model replica posts, every `REPORT_SECONDS`, its worker's figures (`scheduling/figures.py`:
queue depth, engine calls, batch sizes, cancellations), the work it holds in megapixel-steps (what the
autoscaler sees) and its own Retry-After estimate, to this one-replica deployment. An ingress replica
reads the reports of each model deployment (`RemoteWorker.refresh`) and shows them per replica and
summed per deployment, so every ingress replica gives the same cluster-wide answer.

A report older than `STALE_SECONDS` is dropped: its replica stopped (scaled down, or died). Its counters
leave the deployment's sums with it, which Prometheus reads as a counter reset. The board holds figures
only, never anything a request needs: if it restarts, the figures are back one report later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..scheduling.figures import WorkerFigures

REPORT_SECONDS = 1.0
STALE_SECONDS = 5.0


async def every_report(exchange: Callable[[], Awaitable[None]], what: str, log: logging.Logger) -> None:
    """Await `exchange()` every REPORT_SECONDS until cancelled (a replica posting, an ingress reading). A
    failure is logged once per streak of failures (`what` names the exchange) and tried again next time:
    the board holds figures only, so nothing waits on it."""
    failing = False
    while True:
        try:
            await exchange()
            failing = False
        except Exception as exc:  # noqa: BLE001 - figures only: try again next time
            if not failing:
                log.warning("%s: failed (%s); trying again every %g s", what, exc, REPORT_SECONDS)
            failing = True
        await asyncio.sleep(REPORT_SECONDS)


@dataclass
class ReplicaReport:
    """What one model replica posts: pickled by Ray, so plain data only."""

    figures: WorkerFigures
    work: float  # megapixel-steps queued and running
    retry_after: int  # seconds until its queue has likely drained (`EngineWorker.retry_after`)
    node: str = ""  # the Ray node it runs on


class FiguresBoard:
    """The body of the `figures` deployment (one replica, no CPU of its own)."""

    def __init__(self) -> None:
        self._reports: dict[str, dict[str, tuple[float, ReplicaReport]]] = {}

    async def post(self, deployment: str, replica: str, report: ReplicaReport) -> None:
        self._reports.setdefault(deployment, {})[replica] = (time.monotonic(), report)

    async def read(self, deployment: str) -> dict[str, ReplicaReport]:
        """The fresh reports of `deployment`'s replicas, by replica id."""
        now = time.monotonic()
        reports = self._reports.get(deployment, {})
        for replica in [r for r, (at, _) in reports.items() if now - at > STALE_SECONDS]:
            del reports[replica]
        return {replica: report for replica, (_, report) in reports.items()}
