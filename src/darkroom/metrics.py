"""Darkroom's Prometheus metrics, in a registry of their own (never the global one: several apps may
live in one process, as they do in the tests).

Two sources feed them:

- `Metrics.finish(record)`, a finisher (`record.py`): once per `POST /v1/images/*` request after its
  response has ended, for the request counts and the latency and image histograms;
- `WorkerCollector`, which reads each engine worker's figures (`scheduling/figures.py`) at scrape
  time, for the queue, the batches and the cancelled, timed-out and rejected jobs. The figures are
  the one source of truth, so `/health` and `/metrics` never disagree.

    darkroom_requests_total{model,engine,operation,status}   counter    status: the HTTP status sent
                                                                        (499: the client left first)
    darkroom_request_seconds{model}                           histogram  first byte in to last byte out,
                                                                        every request (refused ones too)
    darkroom_queue_wait_seconds{model}                        histogram  succeeded requests only:
    darkroom_engine_seconds{model}                            histogram    the service's timings
    darkroom_encode_seconds{model}                            histogram
    darkroom_moderation_seconds{model}                        histogram
    darkroom_images_generated_total{model,engine}             counter
    darkroom_inflight_requests                                gauge      image requests being served
    darkroom_queue_depth{worker,engine}                       gauge      jobs waiting (not running)
    darkroom_batch_images{worker,engine}                      histogram  images per engine call
    darkroom_engine_calls_total{worker,engine}                counter
    darkroom_engine_calls_stopped_total{worker,engine}        counter    stopped: all their clients left
    darkroom_jobs_cancelled_total{worker,engine,where}        counter    where: queued | running
    darkroom_jobs_timed_out_total{worker,engine}              counter    the request got a 504
    darkroom_jobs_rejected_total{worker,engine}               counter    queue full: 503
    darkroom_cost_usd_total{model}                            counter    priced requests' costs (`pricing.py`)
    darkroom_route_fallbacks_total{route,from_target,to_target}  counter  a route moved on (`routing.py`)
    darkroom_target_breaker_open{target}                      gauge      1 while a route target's breaker is
                                                                        open (skipped), else 0
    darkroom_target_breaker_opened_total{target}              counter    times it opened
    darkroom_ledger_rows_written_total                        counter    usage rows committed by this process
    darkroom_ledger_rows_pending                              gauge      rows recorded, not committed yet: what
                                                                        a crash now would lose (`store/ledger.py`)
    darkroom_ledger_rows_dropped_total                        counter    rows refused: the ledger held its maximum

With `darkroom serve --ray` the figures above are summed over each model deployment's replicas, and
each replica's own are added (`scaleout/board.py`):

    darkroom_replicas{worker}                                 gauge      live replicas of the deployment
    darkroom_replica_queue_depth{worker,replica,node}         gauge      jobs waiting in that replica
    darkroom_replica_work{worker,replica,node}                gauge      megapixel-steps queued and running:
                                                                        what the autoscaler sees
    darkroom_replica_engine_calls_total{worker,replica,node}  counter
    darkroom_replica_batch_images{worker,replica,node}        histogram  images per engine call

An upstream model's `worker` is its forwarding gate (`scheduling/gate.py`): queue depth and calls are
its upstream calls waiting and made.

`model` is the served model name once the request was validated, "" before (a client's unknown
model name never becomes a label). A worker serves one engine instance, which several model names
may share (every default OpenAI name shares the built-in sketch engine): its `worker` label is its
name in `/health` (the first model that uses it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from .record import RequestRecord
from .scheduling.figures import figures_of

if TYPE_CHECKING:
    from .routing import Router
    from .scheduling.worker import EngineWorker
    from .store.ledger import UsageLedger

# 5 ms (a refused request) .. 10 min (a big diffusers batch behind a long queue).
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64)
OPERATIONS = {"/v1/images/generations": "generate", "/v1/images/edits": "edit",
              "/v1/images/variations": "variation"}


def image_operation(method: str, path: str) -> str | None:
    """The operation of an image request (`generate`, `edit`, `variation`), else None."""
    return OPERATIONS.get(path.rstrip("/")) if method == "POST" else None


class Metrics:
    """The metrics of one app. `workers` is called at each scrape (the service's engine workers)."""

    def __init__(self, workers: Callable[[], Iterable[EngineWorker]],
                 router: Callable[[], Router | None] = lambda: None,
                 ledger: Callable[[], UsageLedger | None] = lambda: None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("darkroom_requests", "Image requests answered, by model, engine, operation "
                                "and HTTP status.", ("model", "engine", "operation", "status"), registry=self.registry)
        self.request_seconds = self._seconds("darkroom_request_seconds", "Image request latency, first byte "
                                             "received to last byte sent.")
        self.queue_seconds = self._seconds("darkroom_queue_wait_seconds", "Time a request's job waited in its "
                                           "engine's queue.")
        self.engine_seconds = self._seconds("darkroom_engine_seconds", "Time a request's job spent in the engine.")
        self.encode_seconds = self._seconds("darkroom_encode_seconds", "Time spent encoding (and storing) a "
                                            "request's images.")
        self.moderation_seconds = self._seconds("darkroom_moderation_seconds", "Time spent moderating a request's "
                                                "prompt and images.")
        self.images = Counter("darkroom_images_generated", "Images generated.", ("model", "engine"),
                              registry=self.registry)
        self.inflight = Gauge("darkroom_inflight_requests", "Image requests being served now.",
                              registry=self.registry)
        self.cost = Counter("darkroom_cost_usd", "What requests cost, priced from their usage.", ("model",),
                            registry=self.registry)
        self.registry.register(WorkerCollector(workers))
        self.registry.register(RouterCollector(router))
        self.registry.register(LedgerCollector(ledger))

    def _seconds(self, name: str, documentation: str) -> Histogram:
        return Histogram(name, documentation, ("model",), buckets=SECONDS_BUCKETS, registry=self.registry)

    def finish(self, record: RequestRecord) -> None:
        """The finisher: count an image request once its response has ended; other routes are ignored."""
        operation = image_operation(record.method, record.path)
        if operation is None:
            return
        summary = record.summary
        model, engine = summary.get("model", ""), summary.get("engine", "")
        self.requests.labels(model, engine, summary.get("operation", operation), str(record.status)).inc()
        self.request_seconds.labels(model).observe(record.seconds)
        for key, histogram in (("queue_ms", self.queue_seconds), ("engine_ms", self.engine_seconds),
                               ("encode_ms", self.encode_seconds), ("moderation_ms", self.moderation_seconds)):
            if key in summary:
                histogram.labels(model).observe(summary[key] / 1000)
        if summary.get("images"):
            self.images.labels(model, engine).inc(summary["images"])
        if summary.get("cost_usd") and record.status == 200:
            self.cost.labels(model).inc(summary["cost_usd"])


class RouterCollector:
    """The routes' fallbacks and their targets' breakers, read when scraped."""

    def __init__(self, router: Callable[[], Router | None]) -> None:
        self.router = router

    def collect(self) -> Iterator[Metric]:
        router = self.router()
        fallbacks = CounterMetricFamily("darkroom_route_fallbacks", "Requests a route moved on to its next target "
                                        "for (the first did no work).", labels=["route", "from_target", "to_target"])
        open_now = GaugeMetricFamily("darkroom_target_breaker_open", "1 while a route target's circuit breaker is "
                                     "open.", labels=["target"])
        opened = CounterMetricFamily("darkroom_target_breaker_opened", "Times a route target's circuit breaker "
                                     "opened.", labels=["target"])
        if router is not None:
            for (route, failed, following), count in router.fallbacks.items():
                fallbacks.add_metric([route, failed, following], count)
            for name, breaker in router.breakers.items():
                open_now.add_metric([name], 1 if breaker.state == "open" else 0)
                opened.add_metric([name], breaker.opened_total)
        yield from (fallbacks, open_now, opened)


class LedgerCollector:
    """The usage ledger's writer: rows committed, pending and dropped, read when scraped."""

    def __init__(self, ledger: Callable[[], UsageLedger | None]) -> None:
        self.ledger = ledger

    def collect(self) -> Iterator[Metric]:
        ledger = self.ledger()
        if ledger is None:
            return
        written = CounterMetricFamily("darkroom_ledger_rows_written", "Usage rows this process committed to the "
                                      "ledger.")
        pending = GaugeMetricFamily("darkroom_ledger_rows_pending", "Usage rows recorded and not committed yet "
                                    "(what a crash now would lose).")
        dropped = CounterMetricFamily("darkroom_ledger_rows_dropped", "Usage rows refused because the ledger held "
                                      "its maximum of rows it could not write.")
        written.add_metric([], ledger.written)
        pending.add_metric([], ledger.pending)
        dropped.add_metric([], ledger.dropped)
        yield from (written, pending, dropped)


class WorkerCollector:
    """Each engine worker's figures as Prometheus metrics, read when scraped (on the event loop, where
    the figures are written)."""

    def __init__(self, workers: Callable[[], Iterable[EngineWorker]]) -> None:
        self.workers = workers

    def collect(self) -> Iterator[Metric]:
        labels = ["worker", "engine"]
        depth = GaugeMetricFamily("darkroom_queue_depth", "Jobs waiting in the engine worker's queue.", labels=labels)
        calls = CounterMetricFamily("darkroom_engine_calls", "Engine calls (batches) made.", labels=labels)
        stopped = CounterMetricFamily("darkroom_engine_calls_stopped", "Engine calls stopped mid-way because "
                                      "every client of the batch had gone.", labels=labels)
        cancelled = CounterMetricFamily("darkroom_jobs_cancelled", "Jobs whose client went away or whose "
                                        "deadline passed, by where they were then.", labels=[*labels, "where"])
        timed_out = CounterMetricFamily("darkroom_jobs_timed_out", "Requests that passed their deadline (504).",
                                        labels=labels)
        rejected = CounterMetricFamily("darkroom_jobs_rejected", "Jobs refused because the queue was full (503).",
                                       labels=labels)
        batches = HistogramMetricFamily("darkroom_batch_images", "Images per engine call.", labels=labels)
        workers = list(self.workers())
        for worker in workers:
            figures, names = figures_of(worker), [worker.name, worker.engine.name]
            depth.add_metric(names, figures.queue_depth)
            calls.add_metric(names, figures.engine_calls)
            stopped.add_metric(names, figures.stopped_early)
            cancelled.add_metric([*names, "queued"], figures.cancelled_queued)
            cancelled.add_metric([*names, "running"], figures.cancelled_running)
            timed_out.add_metric(names, figures.timed_out)
            rejected.add_metric(names, figures.rejected)
            tally = figures.batch_images
            batches.add_metric(names, _buckets(tally.counts), sum_value=tally.total)
        yield from (depth, calls, stopped, cancelled, timed_out, rejected, batches)
        remote = [worker for worker in workers if hasattr(worker, "replicas")]
        if remote:
            yield from _replica_metrics(remote)


def _replica_metrics(workers: list) -> Iterator[Metric]:
    """With `--ray`: each model deployment's live replicas, and each replica's own figures (`scaleout/board.py`)."""
    labels = ["worker", "replica", "node"]
    count = GaugeMetricFamily("darkroom_replicas", "Live replicas of the model deployment (with --ray).",
                              labels=["worker"])
    depth = GaugeMetricFamily("darkroom_replica_queue_depth", "Jobs waiting in one model replica's queue.",
                              labels=labels)
    work = GaugeMetricFamily("darkroom_replica_work", "Megapixel-steps queued and running in one model replica "
                             "(what the autoscaler sees).", labels=labels)
    calls = CounterMetricFamily("darkroom_replica_engine_calls", "Engine calls (batches) one model replica made.",
                                labels=labels)
    batches = HistogramMetricFamily("darkroom_replica_batch_images", "Images per engine call of one model replica.",
                                    labels=labels)
    for worker in workers:
        count.add_metric([worker.name], len(worker.replicas))
        for replica, report in worker.replicas.items():
            names = [worker.name, replica, report.node]
            depth.add_metric(names, report.figures.queue_depth)
            work.add_metric(names, report.work)
            calls.add_metric(names, report.figures.engine_calls)
            tally = report.figures.batch_images
            batches.add_metric(names, _buckets(tally.counts), sum_value=tally.total)
    yield from (count, depth, work, calls, batches)


def _buckets(counts: dict[int, int]) -> list[tuple[str, float]]:
    """Exact per-value counts -> cumulative Prometheus buckets, `+Inf` last."""
    bounds = [*BATCH_BUCKETS, float("inf")]
    return [(_bound(bound), sum(n for value, n in counts.items() if value <= bound)) for bound in bounds]


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else str(float(bound))
