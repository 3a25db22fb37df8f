"""`GET /metrics` as Prometheus sees it: scraped over HTTP and parsed with prometheus_client's own parser.

The session's live server is shared with other tests, so its checks compare a scrape before with
one after and expect exactly the requests sent in between. The gated engine (tests/scheduling)
holds requests in flight, in the queue and past their deadline, for the gauges and job counters.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from PIL import Image
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from darkroom.api.app import create_app
from darkroom.catalog import Catalog, build_catalog
from darkroom.config import load_settings
from darkroom.metrics import Metrics, _buckets
from darkroom.record import RequestRecord
from darkroom.scheduling.figures import WorkerFigures
from darkroom.scheduling.worker import WorkerSettings
from tests.scheduling.engines import GatedEngine
from tests.scheduling.test_http import GUARD, ThreadedServer, eventually

SECONDS = ("darkroom_request_seconds", "darkroom_queue_wait_seconds", "darkroom_engine_seconds",
           "darkroom_encode_seconds")


class Scrape:
    """One parsed /metrics page: sample values looked up by name and a subset of labels."""

    def __init__(self, text: str) -> None:
        self.families = {family.name: family for family in text_string_to_metric_families(text)}
        self.samples = [sample for family in self.families.values() for sample in family.samples]

    def total(self, name: str, **labels: str) -> float:
        """The sum of every `name` sample whose labels include `labels` (0 when there is none)."""
        return sum(s.value for s in self.samples if s.name == name and labels.items() <= s.labels.items())


def scrape(base_url: str) -> Scrape:
    response = httpx.get(f"{base_url}/metrics", timeout=GUARD)
    assert response.status_code == 200, response.text
    return Scrape(response.text)


def png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), 120, np.uint8)).save(buf, "PNG")
    return buf.getvalue()


# ---- the live server ---------------------------------------------------------------------------------


def test_metrics_is_open_prometheus_text(server):
    response = httpx.get(f"{server.base_url}/metrics")  # no API key, like /health
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    page = Scrape(response.text)
    for name, kind in [("darkroom_requests", "counter"), ("darkroom_request_seconds", "histogram"),
                       ("darkroom_images_generated", "counter"), ("darkroom_inflight_requests", "gauge"),
                       ("darkroom_queue_depth", "gauge"), ("darkroom_batch_images", "histogram"),
                       ("darkroom_jobs_cancelled", "counter"), ("darkroom_jobs_timed_out", "counter"),
                       ("darkroom_jobs_rejected", "counter"), ("darkroom_engine_calls", "counter")]:
        assert page.families[name].type == kind, name
    # one queue per engine worker: the shared sketch engine and the configured gpt-image-2-alpha
    depths = {s.labels["worker"]: s for s in page.families["darkroom_queue_depth"].samples}
    assert "gpt-image-2-alpha" in depths and all(s.labels["engine"] == "sketch" for s in depths.values())


def test_image_requests_move_counters_and_histograms_by_exactly_what_was_sent(server, http):
    before = scrape(server.base_url)
    ok = [http.post("/v1/images/generations", json={"model": "gpt-image-1", "prompt": "a kite", "quality": "low",
                                                    "size": "1024x1024", "n": n}) for n in (1, 2)]
    bad = http.post("/v1/images/generations", json={"model": "gpt-image-1", "prompt": "a kite", "size": "7x7"})
    unknown = http.post("/v1/images/generations", json={"model": "gpt-image-9", "prompt": "a kite"})
    refused = httpx.post(f"{server.v1}/images/generations", json={"prompt": "a kite"})  # no key
    edit = http.post("/v1/images/edits", files={"image": ("a.png", png(64, 64), "image/png")},
                     data={"model": "gpt-image-1", "prompt": "add a hat", "quality": "low", "size": "1024x1024"})
    assert [r.status_code for r in (*ok, bad, unknown, refused, edit)] == [200, 200, 400, 400, 401, 200], edit.text
    http.get("/v1/models")  # not an image request: counted nowhere
    after = scrape(server.base_url)

    def delta(name: str, **labels: str) -> float:
        return after.total(name, **labels) - before.total(name, **labels)

    image_model = {"model": "gpt-image-1", "engine": "sketch"}
    assert delta("darkroom_requests_total", **image_model, operation="generate", status="200") == 2
    assert delta("darkroom_requests_total", **image_model, operation="edit", status="200") == 1
    # a known model refused by its rules keeps its label; an unknown one gets none (a client's string
    # never becomes a label), nor does a request refused before its body was read
    assert delta("darkroom_requests_total", **image_model, operation="generate", status="400") == 1
    assert delta("darkroom_requests_total", model="", engine="", operation="generate", status="400") == 1
    assert delta("darkroom_requests_total", model="", operation="generate", status="401") == 1
    assert delta("darkroom_requests_total") == 6
    assert delta("darkroom_images_generated_total", **image_model) == 4
    for name in SECONDS:  # the refused request counts in the total time only
        made = 4 if name == "darkroom_request_seconds" else 3
        assert delta(f"{name}_count", model="gpt-image-1") == made, name
        assert delta(f"{name}_bucket", model="gpt-image-1", le="+Inf") == made, name
        assert delta(f"{name}_sum", model="gpt-image-1") >= 0, name
    assert delta("darkroom_request_seconds_count", model="") == 2  # the unknown model and the 401
    assert delta("darkroom_queue_wait_seconds_count", model="") == 0  # they never queued
    # three engine calls on the shared sketch worker, of 1, 2 and 1 images
    assert delta("darkroom_engine_calls_total", engine="sketch") == 3
    assert delta("darkroom_batch_images_count", engine="sketch") == 3
    assert delta("darkroom_batch_images_sum", engine="sketch") == 4
    assert delta("darkroom_batch_images_bucket", engine="sketch", le="1.0") == 2
    assert delta("darkroom_batch_images_bucket", engine="sketch", le="2.0") == 3
    assert after.total("darkroom_inflight_requests") == 0


# ---- the gated engine: requests held in flight, queued, timed out, refused -------------------------------


@pytest.fixture()
def gated(tmp_path) -> Iterator[Callable[..., tuple[ThreadedServer, GatedEngine]]]:
    """gated(request_timeout_seconds=..., stoppable=..., **WorkerSettings fields) -> a started server and its
    engine, serving model `gated` from a worker of its own."""
    started: list[tuple[ThreadedServer, GatedEngine]] = []

    def start(*, request_timeout_seconds: float = 60.0, stoppable: bool = True,
              **scheduling) -> tuple[ThreadedServer, GatedEngine]:
        engine = GatedEngine(stoppable=stoppable)
        settings = load_settings(data_dir=tmp_path / f"data{len(started)}",
                                 request_timeout_seconds=request_timeout_seconds)
        specs = {spec.name: spec for spec in build_catalog(settings)}
        specs["gated"] = dataclasses.replace(specs["gpt-image-1"], name="gated", engine=engine, engine_name="gated",
                                             any_size=True, scheduling=WorkerSettings(**scheduling))
        server = ThreadedServer(create_app(settings, Catalog(specs)))
        started.append((server, engine))
        server.start()
        return server, engine

    yield start
    for server, engine in started:
        engine.gate.open()
        server.stop()


def post(server: ThreadedServer, prompt: str, n: int = 1) -> httpx.Response:
    return httpx.post(f"{server.base_url}/v1/images/generations", timeout=GUARD,
                      json={"model": "gated", "prompt": prompt, "size": "64x64", "n": n})


def test_inflight_queue_depth_and_batches_while_requests_are_held(gated):
    server, engine = gated(max_batch_images=4)
    worker = {"worker": "gated", "engine": "gated"}
    with ThreadPoolExecutor(max_workers=4) as pool:
        first = pool.submit(post, server, "first")
        engine.wait_calls(1, GUARD)  # held at the gate
        queued = [pool.submit(post, server, prompt, n) for prompt, n in (("second", 2), ("third", 1))]
        eventually(lambda: scrape(server.base_url).total("darkroom_queue_depth", **worker) == 2, "two queued")
        page = scrape(server.base_url)
        assert page.total("darkroom_inflight_requests") == 3
        assert page.total("darkroom_requests_total") == 0  # nothing has ended yet
        engine.gate.open()
        assert [f.result(GUARD).status_code for f in (first, *queued)] == [200, 200, 200]
    page = scrape(server.base_url)
    assert page.total("darkroom_inflight_requests") == 0
    assert page.total("darkroom_queue_depth", **worker) == 0
    assert page.total("darkroom_engine_calls_total", **worker) == 2
    assert page.total("darkroom_batch_images_bucket", **worker, le="1.0") == 1  # "first" alone
    assert page.total("darkroom_batch_images_bucket", **worker, le="3.0") == 2  # "second" and "third" together
    assert page.total("darkroom_batch_images_sum", **worker) == 4
    assert page.total("darkroom_images_generated_total", model="gated", engine="gated") == 4
    assert page.total("darkroom_requests_total", model="gated", status="200") == 3


def test_timed_out_cancelled_and_rejected_jobs(gated):
    # An engine call that cannot be stopped keeps the engine busy while the queued job expires.
    server, engine = gated(request_timeout_seconds=1.0, stoppable=False, max_queue=1, max_batch_images=1)
    worker = {"worker": "gated", "engine": "gated"}
    with ThreadPoolExecutor(max_workers=3) as pool:
        running = pool.submit(post, server, "running")
        engine.wait_calls(1, GUARD)
        waiting = pool.submit(post, server, "waiting")
        eventually(lambda: scrape(server.base_url).total("darkroom_queue_depth", **worker) == 1, "one queued")
        refused = post(server, "refused")  # the queue is full
        assert refused.status_code == 503
        assert running.result(GUARD).status_code == 504 and waiting.result(GUARD).status_code == 504
    engine.gate.open()  # the held call ends: its result is discarded, then the expired job leaves the queue

    def settled() -> bool:
        page = scrape(server.base_url)
        return page.total("darkroom_jobs_cancelled_total", **worker) == 2

    eventually(settled, "both jobs counted as cancelled")
    page = scrape(server.base_url)
    assert page.total("darkroom_jobs_timed_out_total", **worker) == 2
    assert page.total("darkroom_jobs_cancelled_total", **worker, where="queued") == 1
    assert page.total("darkroom_jobs_cancelled_total", **worker, where="running") == 1
    assert page.total("darkroom_engine_calls_total", **worker) == 1  # the expired job never ran
    assert page.total("darkroom_engine_calls_stopped_total", **worker) == 0
    assert page.total("darkroom_jobs_rejected_total", **worker) == 1
    assert page.total("darkroom_requests_total", model="gated", status="504") == 2
    assert page.total("darkroom_requests_total", model="gated", status="503") == 1
    assert page.total("darkroom_inflight_requests") == 0


# ---- in-process ----------------------------------------------------------------------------------------


def record(path: str = "/v1/images/generations", status: int = 200, method: str = "POST",
           **summary) -> RequestRecord:
    return RequestRecord("req_1", method, path, status, 0.25, None, summary=summary)


def test_finish_counts_image_requests_only():
    metrics = Metrics(list)
    metrics.finish(record("/health", method="GET"))
    metrics.finish(record("/v1/images/generations", method="GET", status=405))
    metrics.finish(record("/v1/images/variations/", status=499))  # the client left before the answer
    metrics.finish(record(model="m", engine="e", operation="generate", images=3, queue_ms=2.0, engine_ms=500.0,
                          encode_ms=10.0))
    page = Scrape(_text(metrics))
    assert page.total("darkroom_requests_total") == 2
    assert page.total("darkroom_requests_total", model="", engine="", operation="variation", status="499") == 1
    assert page.total("darkroom_images_generated_total", model="m", engine="e") == 3
    assert page.total("darkroom_engine_seconds_sum", model="m") == 0.5
    assert page.total("darkroom_engine_seconds_bucket", model="m", le="0.5") == 1
    assert page.total("darkroom_engine_seconds_bucket", model="m", le="0.25") == 0
    assert page.total("darkroom_encode_seconds_count", model="") == 0  # the 499 never got that far


def test_worker_collector_reads_the_figures_at_scrape_time():
    figures = WorkerFigures(queue_depth=3, engine_calls=7, rejected=1, cancelled_queued=2, cancelled_running=4,
                            stopped_early=1, timed_out=5)
    worker = type("Worker", (), {"name": "w", "engine": type("Engine", (), {"name": "sketch"})(),
                                 "figures": figures})()
    metrics = Metrics(lambda: [worker])
    for size in (1, 1, 4, 5, 70):
        figures.batch_images.add(size)
    figures.queue_depth = 6  # read when scraped, not when registered
    page = Scrape(_text(metrics))
    labels = {"worker": "w", "engine": "sketch"}
    assert page.total("darkroom_queue_depth", **labels) == 6
    assert page.total("darkroom_jobs_cancelled_total", **labels, where="running") == 4
    assert page.total("darkroom_jobs_timed_out_total", **labels) == 5
    assert page.total("darkroom_batch_images_count", **labels) == 5
    assert page.total("darkroom_batch_images_sum", **labels) == 81
    assert page.total("darkroom_batch_images_bucket", **labels, le="4.0") == 3
    assert page.total("darkroom_batch_images_bucket", **labels, le="64.0") == 4
    assert page.total("darkroom_batch_images_bucket", **labels, le="+Inf") == 5


def test_buckets_are_cumulative_and_end_at_inf():
    buckets = _buckets({1: 2, 3: 1, 100: 1})
    assert buckets[0] == ("1.0", 2) and buckets[-1] == ("+Inf", 4)
    counts = [n for _, n in buckets]
    assert counts == sorted(counts)


def test_apps_do_not_share_a_registry(tmp_path):
    one = create_app(load_settings(data_dir=tmp_path / "one"))
    two = create_app(load_settings(data_dir=tmp_path / "two"))
    assert one.state.metrics.registry is not two.state.metrics.registry
    one.state.metrics.finish(record(model="m", engine="e"))
    assert Scrape(_text(two.state.metrics)).total("darkroom_requests_total") == 0


def _text(metrics: Metrics) -> str:
    return generate_latest(metrics.registry).decode()
