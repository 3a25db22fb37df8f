"""The usage ledger (src/darkroom/store/ledger.py) on SQLite and PostgreSQL: which requests it keeps, the
rows it writes in batches from its own thread, `flush` and `close`, and the usage buckets of
`GET /v1/usage/images` grouped by model, size, source and key."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from darkroom.cli import main
from darkroom.record import RequestRecord
from darkroom.store import ledger as ledger_module
from darkroom.store.ledger import UsageLedger
from darkroom.store.schema import usage

GENERATION = dict(model="gpt-image-1", engine="sketch", operation="generate", n=2, size="1024x1024",
                  quality="low", output_format="png", stream=False, images=2, input_tokens=12,
                  output_tokens=544, total_tokens=556, queue_ms=0.4, engine_ms=30.5, encode_ms=3.25)


class Clock:
    """Stands in for the `time` module inside ledger.py: `time()` is set by the test (the rows'
    created_at), `monotonic()` is the real one (the writer's batching deadline)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    @staticmethod
    def monotonic() -> float:
        return time.monotonic()


@pytest.fixture()
def ledger(engine) -> UsageLedger:
    ledger = UsageLedger(engine)
    ledger.start()
    yield ledger
    ledger.close()


@pytest.fixture()
def inserts(engine) -> list[int]:
    """The size of every INSERT into `usage`, one entry per statement executed."""
    sizes: list[int] = []

    def before_execute(conn, clause, multiparams, params, options) -> None:
        if isinstance(clause, sa.Insert) and clause.table is usage:
            sizes.append(len(multiparams) if multiparams else 1)

    sa.event.listen(engine, "before_execute", before_execute)
    yield sizes
    sa.event.remove(engine, "before_execute", before_execute)


def record(request_id: str = "req_1", *, method: str = "POST", path: str = "/v1/images/generations",
           status: int = 200, seconds: float = 0.0421, key: str | None = "ci", error_code: str | None = None,
           **summary) -> RequestRecord:
    return RequestRecord(request_id, method, path, status, seconds, key, error_code, summary)


def test_a_row_holds_what_the_request_record_says(ledger):
    before = time.time()
    ledger.record(record(**GENERATION))
    assert ledger.flush(5)
    [row] = ledger.rows()
    assert before <= row["created_at"] <= time.time()
    assert {name: row[name] for name in GENERATION} == GENERATION
    assert (row["request_id"], row["key_name"], row["path"], row["status"], row["error_code"]) == (
        "req_1", "ci", "/v1/images/generations", 200, None)
    assert row["total_ms"] == 42.1


def test_a_failed_request_is_a_row_too(ledger):
    ledger.record(record("req_bad", status=400, error_code="invalid_value", model="gpt-image-2"))
    ledger.record(record("req_early", path="/v1/images/edits", status=401, key=None, error_code="invalid_api_key"))
    assert ledger.flush(5)
    rows = {row["request_id"]: row for row in ledger.rows()}
    assert (rows["req_bad"]["status"], rows["req_bad"]["error_code"], rows["req_bad"]["model"]) == (
        400, "invalid_value", "gpt-image-2")
    early = rows["req_early"]
    assert (early["key_name"], early["model"], early["images"], early["input_tokens"]) == (None, None, 0, None)


@pytest.mark.parametrize(("method", "path", "kept"), [
    ("POST", "/v1/images/generations", True),
    ("POST", "/v1/images/edits", True),
    ("POST", "/v1/images/variations", True),
    ("POST", "/v1/images/generations/", True),
    ("GET", "/v1/images/generations", False),
    ("GET", "/v1/models", False),
    ("GET", "/v1/usage/images", False),
    ("GET", "/health", False),
])
def test_only_image_requests_are_kept(ledger, method, path, kept):
    ledger.record(record(method=method, path=path))
    assert ledger.flush(5)
    assert len(ledger.rows()) == int(kept)


def test_rows_queued_together_are_written_in_one_statement(ledger, inserts):
    for i in range(5):
        ledger.record(record(f"req_{i}", **GENERATION))
    assert ledger.flush(5)
    assert inserts == [5]
    assert [row["request_id"] for row in ledger.rows()] == [f"req_{i}" for i in range(5)]


def test_a_batch_holds_at_most_batch_rows(ledger, inserts):
    total = 2 * ledger_module.BATCH_ROWS + 200
    for i in range(total):
        ledger.record(record(f"req_{i}"))
    assert ledger.flush(30)
    assert sum(inserts) == total and max(inserts) <= ledger_module.BATCH_ROWS and len(inserts) >= 3
    assert len(ledger.rows()) == total


def test_rows_are_written_without_a_flush(ledger):
    ledger.record(record())
    deadline = time.monotonic() + 5
    while not ledger.rows() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(ledger.rows()) == 1


def test_close_writes_what_is_left(engine):
    ledger = UsageLedger(engine)
    ledger.start()
    for i in range(3):
        ledger.record(record(f"req_{i}"))
    ledger.close()
    assert len(UsageLedger(engine).rows()) == 3


def test_flush_with_nothing_queued_returns_at_once(ledger):
    assert ledger.flush(0.01)


def outage() -> sa.exc.OperationalError:
    return sa.exc.OperationalError("INSERT INTO usage ...", {}, Exception("connection refused"))


def test_rows_that_could_not_be_written_are_kept_and_retried(engine, monkeypatch):
    monkeypatch.setattr(ledger_module, "RETRY_SECONDS", (0.01,))
    ledger = UsageLedger(engine)
    write, tries = ledger._write, []

    def down_twice(rows) -> None:
        tries.append(len(rows))
        if len(tries) <= 2:
            raise outage()
        write(rows)

    ledger._write = down_twice
    ledger.start()
    try:
        for i in range(3):
            ledger.record(record(f"req_{i}"))
        assert ledger.flush(10)
        assert tries == [3, 3, 3]
        assert [row["request_id"] for row in ledger.rows()] == ["req_0", "req_1", "req_2"]  # in order, once
        assert (ledger.written, ledger.pending, ledger.dropped) == (3, 0, 0)
    finally:
        ledger.close()


def test_a_commit_reported_as_failed_is_not_written_twice(engine, monkeypatch):
    monkeypatch.setattr(ledger_module, "RETRY_SECONDS", (0.01,))
    ledger = UsageLedger(engine)
    write, tries = ledger._write, []

    def committed_then_lost(rows) -> None:  # the connection dropped after COMMIT went through
        tries.append(len(rows))
        write(rows)
        if len(tries) == 1:
            raise outage()

    ledger._write = committed_then_lost
    ledger.start()
    try:
        for i in range(3):
            ledger.record(record(f"req_{i}"))
        assert ledger.flush(10)
        ledger.record(record("req_3"))
        assert ledger.flush(10)
        assert len(tries) == 3
        assert sorted(row["request_id"] for row in ledger.rows()) == ["req_0", "req_1", "req_2", "req_3"]
    finally:
        ledger.close()


def test_a_row_the_database_refuses_is_dropped_alone(ledger, caplog):
    ledger.record(record("req_good"))
    ledger.record(record(None))  # request_id is NOT NULL: an IntegrityError, not an outage
    ledger.record(record("req_good_too"))
    assert ledger.flush(10)
    assert [row["request_id"] for row in ledger.rows()] == ["req_good", "req_good_too"]
    assert "cannot write the row of request None" in caplog.text


def test_the_rows_held_are_bounded(engine, monkeypatch):
    monkeypatch.setattr(ledger_module, "MAX_PENDING_ROWS", 5)
    ledger = UsageLedger(engine)  # not started: nothing is written
    for i in range(8):
        ledger.record(record(f"req_{i}"))
    assert (ledger.pending, ledger.dropped) == (5, 3)


def test_close_gives_up_on_a_database_that_stays_down(engine, monkeypatch, caplog):
    monkeypatch.setattr(ledger_module, "RETRY_SECONDS", (0.01,))
    monkeypatch.setattr(ledger_module, "CLOSE_SECONDS", 0.3)
    ledger = UsageLedger(engine)

    def down(rows) -> None:
        raise outage()

    ledger._write = down
    ledger.start()
    ledger.record(record())
    ledger.close()
    assert ledger._thread is None and ledger.pending == 1
    assert "could not write its last 1 rows before shutting down" in caplog.text


def test_rows_filters(ledger, monkeypatch):
    clock = Clock(1_800_000_000.0)
    monkeypatch.setattr(ledger_module, "time", clock)
    for i, key in enumerate(["a", "b", "a"]):
        clock.now = 1_800_000_000.0 + 10 * i
        ledger.record(record(f"req_{i}", key=key))
    assert ledger.flush(5)
    def ids(rows: list[dict]) -> list[str]:
        return [row["request_id"] for row in rows]

    assert ids(ledger.rows()) == ["req_0", "req_1", "req_2"]
    assert ids(ledger.rows(since=1_800_000_010.0)) == ["req_1", "req_2"]
    assert ids(ledger.rows(until=1_800_000_010.0)) == ["req_0"]
    assert ids(ledger.rows(key="a")) == ["req_0", "req_2"]
    assert ids(ledger.rows(since=1_800_000_005.0, key="a")) == ["req_2"]


# ---- usage buckets ----------------------------------------------------------------------------

T0 = 1_800_000_000.0  # a minute boundary


@pytest.fixture()
def history(ledger, monkeypatch) -> UsageLedger:
    """Six requests over three minutes from T0: four successes in the first two, a failure, one after."""
    clock = Clock(T0)
    monkeypatch.setattr(ledger_module, "time", clock)
    requests = [
        (1, record("r1", key="a", model="gpt-image-1", operation="generate", size="1024x1024", images=1,
                   input_tokens=10, output_tokens=100)),
        (2, record("r2", key="a", model="gpt-image-1", operation="generate", size="1024x1536", images=2,
                   input_tokens=10, output_tokens=200)),
        (3, record("r3", key="b", path="/v1/images/edits", model="gpt-image-1", operation="edit",
                   size="1024x1024", images=1, input_tokens=300, output_tokens=100)),
        (5, record("r4", key="a", status=400, error_code="invalid_value", model="gpt-image-1", images=0)),
        (70, record("r5", key="a", path="/v1/images/variations", model="dall-e-2", operation="variation",
                    size="256x256", images=1)),  # dall-e: no token counts
        (200, record("r6", key="a", model="gpt-image-1", operation="generate", images=1)),  # after `end`
    ]
    for offset, request in requests:
        clock.now = T0 + offset
        ledger.record(request)
    assert ledger.flush(5)
    return ledger


def result(images: int, requests: int, tokens_in: int, tokens_out: int, cost_usd: float = 0.0, **groups) -> dict:
    fields = {"source": None, "size": None, "model": None, "api_key_id": None, **groups}
    return {"object": "organization.usage.images.result", "images": images, "num_model_requests": requests,
            "input_tokens": tokens_in, "output_tokens": tokens_out, **fields, "cost_usd": cost_usd,
            "project_id": None, "user_id": None}


def test_buckets_grouped_by_model_and_key(history):
    buckets = history.buckets(T0, T0 + 180, 60, ("model", "api_key_id"))
    assert [(b["object"], b["start_time"], b["end_time"]) for b in buckets] == [
        ("bucket", T0, T0 + 60), ("bucket", T0 + 60, T0 + 120), ("bucket", T0 + 120, T0 + 180)]
    assert sorted_results(buckets[0]) == [result(3, 2, 20, 300, model="gpt-image-1", api_key_id="a"),
                                          result(1, 1, 300, 100, model="gpt-image-1", api_key_id="b")]
    assert buckets[1]["results"] == [result(1, 1, 0, 0, model="dall-e-2", api_key_id="a")]
    assert buckets[2]["results"] == []


def test_buckets_without_grouping_add_everything_up(history):
    buckets = history.buckets(T0, T0 + 120, 60)
    assert [b["results"] for b in buckets] == [[result(4, 3, 320, 400)], [result(1, 1, 0, 0)]]


def test_buckets_grouped_by_source_and_size(history):
    [first] = history.buckets(T0, T0 + 60, 60, ("source", "size"))
    assert sorted_results(first) == [
        result(1, 1, 300, 100, source="image.edit", size="1024x1024"),
        result(1, 1, 10, 100, source="image.generation", size="1024x1024"),
        result(2, 1, 10, 200, source="image.generation", size="1024x1536"),
    ]


def test_buckets_for_one_key(history):
    buckets = history.buckets(T0, T0 + 120, 60, ("api_key_id",), key="b")
    assert [b["results"] for b in buckets] == [[result(1, 1, 300, 100, api_key_id="b")], []]


def test_bucket_times_are_whole_seconds(history):
    buckets = history.buckets(T0, T0 + 3600, 3600)
    assert all(isinstance(b[name], int) for b in buckets for name in ("start_time", "end_time"))


def sorted_results(bucket: dict) -> list[dict]:
    return sorted(bucket["results"], key=lambda r: tuple(str(r[k]) for k in ("source", "size", "model", "api_key_id")))


def test_darkroom_usage_prints_costs(ledger, engine, tmp_path, capsys):
    # `darkroom usage` on this store: costs summed per day, key and model; "-" where none is known,
    # "+?" after a sum that leaves some out; failed requests cost nothing
    for request in (record("c1", key="a", model="gpt-image-1", images=1, cost_usd=0.1, served_by="upstream-a"),
                    record("c2", key="a", model="gpt-image-1", images=1, cost_usd=0.023456),
                    record("c3", key="a", model="gpt-image-1", images=1, cost_usd=None),
                    record("c4", key="b", model="hero", images=1, cost_usd=None),
                    record("c5", key="c", model="gpt-image-1", status=400, error_code="invalid_value"),
                    record("c6", key="d", model="gpt-image-1", images=1, cost_usd=0.01)):
        ledger.record(request)
    assert ledger.flush(5)
    config = tmp_path / "darkroom.toml"
    config.write_text(f'data_dir = "{tmp_path.as_posix()}"\n'
                      f'database_url = "{engine.url.render_as_string(hide_password=False)}"\n')

    assert main(["usage", "--config", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-3:] == ["cost", "$", "errors"]
    costs = {(fields[1], fields[2]): (fields[-2], fields[-1]) for fields in map(str.split, lines[1:])}
    assert costs == {("a", "gpt-image-1"): ("0.123456+?", "0"), ("b", "hero"): ("-", "0"),
                     ("c", "gpt-image-1"): ("0.000000", "1"), ("d", "gpt-image-1"): ("0.010000", "0")}

    assert main(["usage", "--config", str(config), "--requests", "--key", "a"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "served by" in lines[0] and "cost $" in lines[0]
    # date time key model served-by op n size status in out cost ms error request-id
    printed = {fields[-1]: (fields[4], fields[11]) for fields in map(str.split, lines[1:])}
    assert printed == {"c1": ("upstream-a", "0.100000"), "c2": ("-", "0.023456"), "c3": ("-", "-")}
