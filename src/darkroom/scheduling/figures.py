"""Figures a worker keeps about its work, for `/health` and `/metrics` (`darkroom/metrics.py` reads them
at scrape time). They are written on the event loop only, never from engine threads."""

from __future__ import annotations

import collections
import copy
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class Stat:
    """A running count and sum, plus the most recent samples for percentiles."""

    count: int = 0
    total: float = 0.0
    recent: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=256))

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.recent.append(value)

    def absorb(self, other: Stat) -> None:
        """Add `other`'s samples to these (the figures of several replicas, as one)."""
        self.count += other.count
        self.total += other.total
        self.recent.extend(other.recent)

    def summary(self) -> dict[str, float]:
        if not self.recent:
            return {"count": self.count}
        ordered = sorted(self.recent)
        return {"count": self.count, "mean": round(self.total / self.count, 6),
                "p50": round(statistics.median(ordered), 6), "max_recent": round(ordered[-1], 6)}


@dataclass
class Tally(Stat):
    """A `Stat` of small whole numbers that also counts each value exactly (batch sizes: a few distinct
    values), so that a histogram can be built from it at any bucket bounds."""

    counts: collections.Counter[int] = field(default_factory=collections.Counter)

    def add(self, value: float) -> None:
        super().add(value)
        self.counts[int(value)] += 1

    def absorb(self, other: Stat) -> None:
        super().absorb(other)
        self.counts.update(getattr(other, "counts", {}))


@dataclass
class WorkerFigures:
    queue_depth: int = 0
    engine_calls: int = 0
    rejected: int = 0  # refused with 503 because the queue was full
    cancelled_queued: int = 0  # left the queue before running (client gone or deadline passed)
    cancelled_running: int = 0  # ran (or started) but their result was discarded
    stopped_early: int = 0  # engine calls stopped mid-way because every job of the batch was gone
    timed_out: int = 0  # requests that hit the deadline (504)
    stuck_calls: int = 0  # engine calls that ran on `stuck_after_seconds` after all their jobs had gone
    stuck: bool = False  # every engine slot is held by such a call now (503 engine_stuck)
    queue_wait: Stat = field(default_factory=Stat)  # seconds
    batch_images: Tally = field(default_factory=Tally)  # images per engine call
    engine_seconds: Stat = field(default_factory=Stat)  # per engine call
    encode_seconds: Stat = field(default_factory=Stat)  # per request

    def absorb(self, other: WorkerFigures) -> None:
        """Add `other`'s counts and samples to these; `stuck` if either is."""
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in SAMPLES:
            getattr(self, name).absorb(getattr(other, name))
        self.stuck = self.stuck or other.stuck

    def plus(self, others: Iterable[WorkerFigures]) -> WorkerFigures:
        """These figures with `others` added (a remote worker's, with its model replicas'), as a new object;
        these very figures when there are no others."""
        others = list(others)
        if not others:
            return self
        total = copy.deepcopy(self)
        for other in others:
            total.absorb(other)
        return total

    def brief(self) -> str:
        return (f"cancelled so far: {self.cancelled_queued} queued, {self.cancelled_running} running, "
                f"{self.stopped_early} stopped early")

    def as_dict(self) -> dict:
        return {
            "queue_depth": self.queue_depth, "engine_calls": self.engine_calls, "rejected": self.rejected,
            "cancelled_queued": self.cancelled_queued, "cancelled_running": self.cancelled_running,
            "stopped_early": self.stopped_early, "timed_out": self.timed_out, "stuck_calls": self.stuck_calls,
            "stuck": self.stuck,
            "queue_wait_seconds": self.queue_wait.summary(), "batch_images": self.batch_images.summary(),
            "engine_seconds": self.engine_seconds.summary(), "encode_seconds": self.encode_seconds.summary(),
        }


COUNTS = ("queue_depth", "engine_calls", "rejected", "cancelled_queued", "cancelled_running", "stopped_early",
          "timed_out", "stuck_calls")
SAMPLES = ("queue_wait", "batch_images", "engine_seconds", "encode_seconds")


def figures_of(worker: object) -> WorkerFigures:
    """A worker's figures as `/health` and `/metrics` show them: its own, plus those its model replicas
    reported when it is a `scaleout.RemoteWorker` (whose `replicas` holds them; in-process workers have
    none)."""
    own: WorkerFigures = worker.figures  # type: ignore[attr-defined]
    return own.plus(report.figures for report in getattr(worker, "replicas", {}).values())
