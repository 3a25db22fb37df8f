"""The usage ledger: one row per image request (who, which model, what it made, tokens, timings, status).

Rows come from the middleware's `RequestRecord`s (`record.py`) through `UsageLedger.record`, which
only queues them: a thread of the ledger's own writes them in batches (one transaction per batch,
at most every `FLUSH_SECONDS`), so a request never waits for the database. `close()` writes what is
left (trying for up to `CLOSE_SECONDS`). Reading (`darkroom usage`, `GET /v1/usage/images`) goes
through `rows` and `buckets`.

What can be lost, and what cannot:

- A row is recorded once the request's last byte has gone out (its status and duration are known
  only then), so a row is never durable before its response. A committed row is durable: SQLite's
  WAL with `synchronous=NORMAL` survives a killed process (not a power cut of the machine), and
  PostgreSQL keeps what it committed.
- A killed process (SIGKILL, OOM killer, crash) loses only the rows still pending, `pending`: those
  of requests that ended in the last `FLUSH_SECONDS` (0.2 s), plus the batch whose transaction had
  not committed, never more than `MAX_PENDING_ROWS`. A row counted as written (`written`; for the
  client, in `GET /v1/usage/images`) is in the table. A stopped server (SIGTERM) loses nothing.
- While the database is unavailable (PostgreSQL stopped, a full disk) nothing is dropped: a batch
  that fails stays queued at its place and is tried again (`RETRY_SECONDS`, then every 5 s) until it
  commits; the rows already in the table from a commit that failed to report are not written twice.
  Up to `MAX_PENDING_ROWS` (100,000) rows are held; past that new rows are dropped, counted in
  `dropped` and logged. A row the database refuses for itself (not an outage) is dropped alone, logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from typing import Any

import sqlalchemy as sa

from ..record import RequestRecord
from .database import is_disk_full, is_unavailable, translated
from .schema import usage

log = logging.getLogger("darkroom.store")
FLUSH_SECONDS = 0.2
BATCH_ROWS = 500
MAX_PENDING_ROWS = 100_000  # rows held while the database cannot take them; new rows past it are dropped
RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)  # waits between tries of a failed write (then every 5 s)
CLOSE_SECONDS = 10.0  # how long `close` keeps trying to write what is left
IMAGE_ROUTES = ("/v1/images/generations", "/v1/images/edits", "/v1/images/variations")
SOURCES = {"generate": "image.generation", "edit": "image.edit", "variation": "image.variation"}
_SUMMARY_COLUMNS = ("model", "engine", "operation", "n", "size", "quality", "output_format", "stream", "images",
                    "input_tokens", "output_tokens", "total_tokens", "queue_ms", "engine_ms", "encode_ms",
                    "moderation", "cost_usd", "served_by", "upstream_request_id")


class UsageLedger:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._rows: deque[dict[str, Any]] = deque()  # queued, oldest first, under `_lock`
        self._batch: list[dict[str, Any]] = []  # being written now (still pending), under `_lock`
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)  # a first row arrived, or `close` was called
        self._idle = threading.Event()
        self._idle.set()
        self._stop = threading.Event()  # set by `close`: write what is queued now, then end
        self._retrying = False  # the last write failed: the next one skips rows already in the table
        self.written = 0  # rows committed by this process
        self.dropped = 0  # rows refused because MAX_PENDING_ROWS were pending

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
            if len(self._rows) + len(self._batch) >= MAX_PENDING_ROWS:
                self.dropped += 1
                if self.dropped % 1000 == 1:
                    log.error("the usage ledger holds %d rows it could not write yet: dropping new rows (%d so far, "
                              "this one %s)", MAX_PENDING_ROWS, self.dropped, record.request_id)
                return
            self._rows.append(row)
            self._idle.clear()
            if len(self._rows) == 1:
                self._wake.notify()

    @property
    def pending(self) -> int:
        """Rows recorded and not yet committed: what a crash now would lose."""
        with self._lock:
            return len(self._rows) + len(self._batch)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued row is written; False if `timeout` passed first."""
        return self._idle.wait(timeout)

    def close(self) -> None:
        if self._thread is not None:
            with self._lock:
                self._stop.set()
                self._wake.notify()
            self._thread.join(timeout=CLOSE_SECONDS + 10)
            self._thread = None

    def _write_forever(self) -> None:
        """Wait for a row, let more gather for FLUSH_SECONDS (sleeping: queued rows do not wake the
        thread one by one), then write everything queued, BATCH_ROWS rows per transaction. A batch
        that fails stays queued, at its place, and is tried again after RETRY_SECONDS."""
        failures, give_up_at = 0, None
        while True:
            with self._lock:
                while not self._rows and not self._stop.is_set():
                    self._wake.wait()
            if self._stop.is_set():
                give_up_at = give_up_at or time.monotonic() + CLOSE_SECONDS
            else:
                self._stop.wait(FLUSH_SECONDS)
            while True:
                with self._lock:
                    self._batch = [self._rows.popleft() for _ in range(min(BATCH_ROWS, len(self._rows)))]
                    batch = self._batch
                if not batch:
                    break
                try:
                    self._write(batch)
                except Exception as exc:  # the ledger must never take the server down: keep the rows, retry
                    failures += 1
                    self._failed(batch, exc, failures)
                    break
                with self._lock:
                    self._batch = []
                    self.written += len(batch)
                if failures:
                    log.warning("the usage ledger is writing again (%d rows written after %d failed tries)",
                                len(batch), failures)
                failures = 0
            with self._lock:
                if not self._rows and not self._batch:
                    self._idle.set()
                    if self._stop.is_set():
                        return
                elif self._stop.is_set() and give_up_at is not None and time.monotonic() >= give_up_at:
                    lost = len(self._rows) + len(self._batch)
                    log.error("the usage ledger could not write its last %d rows before shutting down: they are lost",
                              lost)
                    return
            if failures:
                delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS)) - 1]
                if self._stop.is_set():
                    time.sleep(min(delay, max(0.0, (give_up_at or 0) - time.monotonic())))
                else:
                    self._stop.wait(delay)

    def _failed(self, batch: list[dict[str, Any]], exc: Exception, failures: int) -> None:
        """Put a batch that could not be written back at the head of the queue. A row the database
        refuses for itself (not an outage) would block the ledger forever: those are written one by
        one and the refused ones dropped, with a log line each."""
        retry = batch
        if not (is_unavailable(exc) or is_disk_full(exc)):
            retry = []
            for row in batch:
                try:
                    self._write([row])
                    with self._lock:
                        self.written += 1
                except Exception as row_exc:
                    if is_unavailable(row_exc) or is_disk_full(row_exc):
                        retry.append(row)
                    else:
                        log.error("the usage ledger cannot write the row of request %s, dropped: %s",
                                  row["request_id"], row_exc)
        if failures == 1 or failures % 20 == 0:
            log.error("the usage ledger could not write %d rows (kept, %d pending; try %d): %s", len(retry),
                      self.pending, failures, getattr(exc, "orig", exc))
        with self._lock:
            self._rows.extendleft(reversed(retry))
            self._batch = []
        self._retrying = True

    def _write(self, rows: list[dict[str, Any]]) -> None:
        """One transaction. After a failure the commit may have happened all the same (a connection lost
        during COMMIT): then the rows already in the table are not written twice."""
        with self.engine.begin() as conn:
            if self._retrying:
                ids = [row["request_id"] for row in rows]
                there = set(conn.execute(sa.select(usage.c.request_id).where(usage.c.request_id.in_(ids))).scalars())
                rows = [row for row in rows if row["request_id"] not in there]
            if rows:
                conn.execute(sa.insert(usage), rows)
        self._retrying = False

    # ---- reading ------------------------------------------------------------------------------

    @translated
    def spent(self, key: str, since: float) -> float:
        """What `key`'s requests since `since` cost, in USD (rows not yet written are not counted)."""
        query = sa.select(sa.func.sum(usage.c.cost_usd)).where(usage.c.key_name == key, usage.c.created_at >= since)
        with self.engine.connect() as conn:
            return float(conn.execute(query).scalar_one() or 0.0)

    @translated
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
