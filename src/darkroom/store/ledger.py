"""The usage ledger: one row per image request (who, which model, what it made, tokens, timings, status).

Rows come from the middleware's `RequestRecord`s (`record.py`) through `UsageLedger.record`, which
only queues them: a thread of the ledger's own writes them in batches (one transaction per batch,
at most every `FLUSH_SECONDS`), so a request never waits for the database. `close()` writes what is
left. Reading (`darkroom usage`, `GET /v1/usage/images`) goes through `rows` and `buckets`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from typing import Any

import sqlalchemy as sa

from ..record import RequestRecord
from .schema import usage

log = logging.getLogger("darkroom.store")
FLUSH_SECONDS = 0.2
BATCH_ROWS = 500
IMAGE_ROUTES = ("/v1/images/generations", "/v1/images/edits", "/v1/images/variations")
SOURCES = {"generate": "image.generation", "edit": "image.edit", "variation": "image.variation"}
_SUMMARY_COLUMNS = ("model", "engine", "operation", "n", "size", "quality", "output_format", "stream", "images",
                    "input_tokens", "output_tokens", "total_tokens", "queue_ms", "engine_ms", "encode_ms",
                    "moderation", "cost_usd", "served_by", "upstream_request_id")


class UsageLedger:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._pending = 0  # rows queued and not yet written, under `_lock`
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._stop = threading.Event()  # set by `close`: write what is queued now, then end

    # ---- writing ------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._write_forever, name="darkroom-ledger", daemon=True)
        self._thread.start()

    def record(self, record: RequestRecord) -> None:
        """A finisher: queue the row of an image request (returns at once)."""
        if record.method != "POST" or record.path.rstrip("/") not in IMAGE_ROUTES:
            return
        row = {name: record.summary.get(name) for name in _SUMMARY_COLUMNS}
        row.update(created_at=time.time(), request_id=record.request_id, key_name=record.key_name,
                   path=record.path, images=row["images"] or 0, total_ms=round(record.seconds * 1000, 2),
                   status=record.status, error_code=record.error_code)
        with self._lock:
            self._pending += 1
            self._idle.clear()
        self._queue.put(row)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued row is written; False if `timeout` passed first."""
        return self._idle.wait(timeout)

    def close(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def _write_forever(self) -> None:
        """Wait for a row, let more gather for FLUSH_SECONDS (sleeping: queued rows do not wake the
        thread one by one), then write everything queued, BATCH_ROWS rows per transaction."""
        while True:
            first = self._queue.get()
            self._stop.wait(FLUSH_SECONDS)
            rows, stop = [first], first is None
            while True:
                try:
                    rows.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if None in rows:
                stop = True
                rows = [row for row in rows if row is not None]
            for start in range(0, len(rows), BATCH_ROWS):
                batch = rows[start:start + BATCH_ROWS]
                self._write(batch)
                with self._lock:
                    self._pending -= len(batch)
                    if not self._pending:
                        self._idle.set()
            if stop:
                return

    def _write(self, rows: list[dict[str, Any]]) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(usage), rows)
        except Exception:  # the ledger must never take the server down; the log keeps the requests
            log.exception("could not write %d usage rows", len(rows))

    # ---- reading ------------------------------------------------------------------------------

    def spent(self, key: str, since: float) -> float:
        """What `key`'s requests since `since` cost, in USD (rows not yet written are not counted)."""
        query = sa.select(sa.func.sum(usage.c.cost_usd)).where(usage.c.key_name == key, usage.c.created_at >= since)
        with self.engine.connect() as conn:
            return float(conn.execute(query).scalar_one() or 0.0)

    def rows(self, since: float | None = None, key: str | None = None, until: float | None = None) -> list[dict]:
        query = sa.select(usage).order_by(usage.c.created_at)
        if since is not None:
            query = query.where(usage.c.created_at >= since)
        if until is not None:
            query = query.where(usage.c.created_at < until)
        if key is not None:
            query = query.where(usage.c.key_name == key)
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def buckets(self, start: float, end: float, width: int, group_by: tuple[str, ...] = (),
                key: str | None = None, only: dict[str, set[str]] | None = None) -> list[dict[str, Any]]:
        """OpenAI's usage buckets for images: `width`-second buckets from `start`, results grouped by
        any of model, size, source and api_key_id (here: the key's name), keeping only rows whose
        values are in `only` (same names). Only successful requests count."""
        counts: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for row in self.rows(start, key, end):
            if row["status"] != 200:
                continue
            if only and any(_group_value(row, name) not in values for name, values in only.items()):
                continue
            bucket = int(start + (row["created_at"] - start) // width * width)
            group = tuple(_group_value(row, name) for name in group_by)
            totals = counts[(bucket, group)]
            totals["images"] += row["images"]
            totals["num_model_requests"] += 1
            for name in ("input_tokens", "output_tokens"):
                totals[name] += row[name] or 0
            totals["cost_usd"] += round((row["cost_usd"] or 0) * 1_000_000)  # micro-dollars: exact sums
        result = []
        for bucket_start in range(int(start), int(end), width):
            results = []
            for (bucket, group), totals in sorted(counts.items(), key=lambda item: str(item[0])):
                if bucket != bucket_start:
                    continue
                fields = {name: None for name in ("source", "size", "model", "api_key_id")}
                fields.update(zip(group_by, group))
                results.append({"object": "organization.usage.images.result", **totals, **fields,
                                "cost_usd": totals["cost_usd"] / 1_000_000, "project_id": None, "user_id": None})
            result.append({"object": "bucket", "start_time": bucket_start, "end_time": bucket_start + width,
                           "results": results})
        return result


def _group_value(row: dict[str, Any], name: str) -> str | None:
    if name == "source":
        return SOURCES.get(row["operation"] or "")
    if name == "api_key_id":
        return row["key_name"]
    return row[name]
