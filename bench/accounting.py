"""Accounting benchmark: what issued API keys with limits cost a `darkroom serve`, on SQLite and on PostgreSQL.

One server per backend, with two keys (its store in a temporary folder on the local disk):

    off   a key from the settings file (`api_keys = [...]`): compared in memory, no limits, no database
          access on the request path. The usage ledger still queues the request's row (no setting
          turns the ledger off) and its thread writes it in the background.
    on    a key issued with `darkroom keys create --rpm 1000000 --images-per-minute 1000000
          --monthly-images 1000000000` (limits that are never reached): per request a cached key lookup
          (the database is read about once a second), the requests bucket (`api/auth.py`), then the
          monthly quota and the images bucket (`RequestContext.charge`), each charged through the
          server's per-process leases (`store/leases.py`: a lease of up to 1 s of refill, a quota
          chunk of 1/1000 of the month, so the database is visited a few times a second), plus the
          same ledger row as `off`.

Both keys are on the same server, so the sides share one process; `off` takes exactly the path of a
server with only a settings key (settings keys are checked first, and a server with settings keys never
asks the store whether it holds keys). Requests: load.py's dall-e-2 256x256 png b64_json case, driven
by load.py's keep-alive client (`drive`): c=32 (the headline: requests/s), then c=1 (latency). Each
round runs both phases for both sides, back to back (the order flips every round), each phase after
discarded warm-up requests. A round during which other processes used more than 10% of the machine is
left out and run again (at most twice the rounds wanted, within a time budget).

Then, in this process, on a fresh store of each backend, the parts alone:

    ledger   `UsageLedger.record` (what a request pays: queueing a row) and the writer thread's
             throughput (rows/s until `flush()` returns)
    limits   `RateLimiter.take_request` + `take_images(key, 1)`: what one `on` request adds, from one
             thread and from 6 (the server's `to_thread` pool on 2 cores: min(32, cores + 4))

PostgreSQL: a throwaway server (initdb and pg_ctl from /usr/lib/postgresql/*/bin or PATH; run as the
`postgres` user when root) on 127.0.0.1 and a free port, with PostgreSQL's durable defaults (fsync on,
synchronous_commit on), unlike the tests' fast, unsafe one. Where it is not installed, that part is
skipped and the output says so.
"""

from __future__ import annotations

import collections
import glob
import math
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa

from darkroom.store.leases import QUOTA_SHARE

from . import load
from ._common import (
    HOST,
    fmt,
    free_port,
    median,
    process_cpu_seconds,
    python,
    ratio,
    start_process,
    stop_process,
    table,
)
from .engine_overhead import DISTURBED_PCT, _machine_busy_s
from .load import CASES, DARKROOM_PATH, Figures, Target, drive, reduce

CASE = CASES[0]  # dall-e-2 256x256 png, b64_json
SIDES = ("off", "on")
PHASES = ("cN", "c1")
SETTINGS_KEY = "sk-darkroom-bench-settings-key"
ISSUED_NAME = "bench-limited"
HIGH_LIMITS = {"--rpm": 10**6, "--images-per-minute": 10**6, "--monthly-images": 10**9}
AIM_LOSS_PCT = 10.0


@dataclass(frozen=True)
class Plan:
    rounds: int  # undisturbed rounds wanted per backend
    max_rounds: int  # disturbed rounds are run again, up to this many rounds in all
    budget_s: float  # no new round after this long, per backend
    concurrency: int
    load_requests: int  # per c=32 phase, bounded also by load_seconds
    load_seconds: float
    seq_requests: int  # per c=1 phase, bounded also by seq_seconds
    seq_seconds: float
    warmup: int  # discarded requests at the start of every c=32 phase (c=1: a quarter, at least 8)
    ledger_rows: int  # in-process ledger benchmark, per backend
    limit_requests: int  # in-process limits benchmark, per backend and thread count


FULL = Plan(rounds=6, max_rounds=12, budget_s=150, concurrency=32, load_requests=1000, load_seconds=4,
            seq_requests=300, seq_seconds=2, warmup=48, ledger_rows=20_000, limit_requests=600)
QUICK = Plan(rounds=2, max_rounds=2, budget_s=20, concurrency=32, load_requests=300, load_seconds=1.5,
             seq_requests=100, seq_seconds=0.75, warmup=32, ledger_rows=3_000, limit_requests=150)


# ---------------------------------------------------------------------------------------------
# A throwaway PostgreSQL server with durable defaults


PG_ROLE, PG_PASSWORD, PG_DATABASE = "darkroom", "darkroom-bench-password", "darkroom"


@dataclass
class Postgres:
    folder: Path  # data/, sock/, server.log
    bin_dir: Path
    port: int

    def url(self, database: str = PG_DATABASE) -> str:
        return f"postgresql+psycopg://{PG_ROLE}:{PG_PASSWORD}@{HOST}:{self.port}/{database}"

    def describe(self) -> str:
        names = ("fsync", "synchronous_commit", "wal_sync_method", "full_page_writes")
        settings = ", ".join(f"{n}={self.admin(f'SHOW {n}')}" for n in names)
        return f"PostgreSQL {self.admin('SHOW server_version')} on {HOST}:{self.port}, local disk, {settings}"

    def create_database(self, name: str) -> str:
        self.admin(f'CREATE DATABASE "{name}" OWNER {PG_ROLE}')
        return self.url(name)

    def cpu_seconds(self) -> float:
        """CPU time of the postmaster and its live children (the backends, the WAL writer...)."""
        try:
            postmaster = int((self.folder / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return float("nan")
        return sum(process_cpu_seconds(pid) for pid in [postmaster, *_children(postmaster)])

    def admin(self, sql: str) -> str:
        """Run `sql` as the superuser over the unix socket (with psql: this process needs no driver for it)."""
        done = _as_postgres([str(self.bin_dir / "psql"), "-h", str(self.folder / "sock"), "-p", str(self.port),
                             "-U", "postgres", "-d", "postgres", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                             "-c", sql], self.folder)
        if done.returncode != 0:
            raise RuntimeError(f"psql {sql!r} failed: {done.stderr}")
        return done.stdout.strip()


def postgres_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin (Debian's layout), else the folder of initdb on PATH."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if found:
        return Path(max(found, key=lambda p: int(Path(p).parent.parent.name.split(".")[0]))).parent
    on_path = shutil.which("initdb")
    return Path(on_path).resolve().parent if on_path else None


@contextmanager
def postgres_server(bin_dir: Path) -> Iterator[Postgres]:
    """initdb, pg_ctl start (durable defaults), a role with a password and its database; stopped and removed
    on exit."""
    folder = Path(tempfile.mkdtemp(prefix="darkroom-bench-pg-"))
    data = folder / "data"
    (folder / "sock").mkdir()
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        for path in (folder, folder / "sock"):
            shutil.chown(path, "postgres", "postgres")
    try:
        done = _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
                             "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C"], folder)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        port = free_port()
        options = f"-c listen_addresses={HOST} -c port={port} -c unix_socket_directories={folder / 'sock'}"
        done = _as_postgres([str(bin_dir / "pg_ctl"), "start", "-D", str(data), "-l", str(folder / "server.log"),
                             "-w", "-t", "60", "-o", options], folder, timeout=70)
        if done.returncode != 0:
            log = (folder / "server.log").read_text(errors="replace") if (folder / "server.log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed ({done.returncode}):\n{done.stderr}\n{log}")
        server = Postgres(folder, bin_dir, port)
        server.admin(f"CREATE ROLE {PG_ROLE} LOGIN PASSWORD '{PG_PASSWORD}'")
        server.admin(f"CREATE DATABASE {PG_DATABASE} OWNER {PG_ROLE}")
        yield server
    finally:
        if (data / "postmaster.pid").exists():
            _as_postgres([str(bin_dir / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w"], folder)
        shutil.rmtree(folder, ignore_errors=True)


def _as_postgres(command: list[str], cwd: Path, timeout: float = 60.0) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


# ---------------------------------------------------------------------------------------------
# The server, its two keys, and the rounds


@contextmanager
def bearer(port: int, key: str) -> Iterator[None]:
    """load.drive builds its requests with load.raw_request, which sends no Authorization header: add one for
    the time of the block."""
    plain = load.raw_request

    def with_key(to_port: int, path: str, payload: bytes) -> bytes:
        head, blank, body = plain(to_port, path, payload).partition(b"\r\n\r\n")
        return head + (f"\r\nAuthorization: Bearer {key}".encode() if to_port == port else b"") + blank + body

    load.raw_request = with_key
    try:
        yield
    finally:
        load.raw_request = plain


def issue_key(config: Path) -> str:
    limits = [str(part) for name, value in HIGH_LIMITS.items() for part in (name, value)]
    done = subprocess.run([python(), "-m", "darkroom", "keys", "create", "--name", ISSUED_NAME, *limits,
                           "--config", str(config)], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if not k.startswith("DARKROOM_")}, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"darkroom keys create failed ({done.returncode}): {done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def check_sides(port: int, keys: dict[str, str]) -> None:
    """One request per side: 200, with the x-ratelimit-* headers on the issued key's response only."""
    for side, key in keys.items():
        resp = httpx.post(f"http://{HOST}:{port}{DARKROOM_PATH}", content=CASE.payloads()[0], timeout=60,
                          headers={"content-type": "application/json", "authorization": f"Bearer {key}"})
        if resp.status_code != 200:
            raise RuntimeError(f"{side}: darkroom answered {resp.status_code}: {resp.text[:300]}")
        limited = "x-ratelimit-remaining-requests" in resp.headers and "x-ratelimit-remaining-images" in resp.headers
        if limited != (side == "on"):
            raise RuntimeError(f"{side}: x-ratelimit-* headers {'present' if limited else 'missing'}")


class ForeignCpu:
    """Other processes' CPU while a round ran, % of the machine: its busy time minus this process's, the
    server's and the database's (`engine_overhead.ForeignCpu`, with the database added)."""

    def __init__(self, server_pid: int, db_cpu: Callable[[], float]) -> None:
        self.server_pid, self.db_cpu = server_pid, db_cpu
        self.start = self._sample()

    def _sample(self) -> tuple[float, float, float]:
        db = self.db_cpu()
        ours = time.process_time() + process_cpu_seconds(self.server_pid) + (0.0 if math.isnan(db) else db)
        return time.perf_counter(), _machine_busy_s(), ours

    def percent(self) -> float:
        end = self._sample()
        wall = end[0] - self.start[0]
        foreign = (end[1] - self.start[1]) - (end[2] - self.start[2])
        return max(0.0, 100 * foreign / (wall * (os.cpu_count() or 1))) if wall > 0 else float("nan")


@dataclass
class Round:
    figures: dict[tuple[str, str], Figures] = field(default_factory=dict)  # (phase, side)
    db_cpu_ms: dict[tuple[str, str], float] = field(default_factory=dict)  # the database's CPU per request
    foreign_pct: float = float("nan")

    @property
    def disturbed(self) -> bool:
        return self.foreign_pct > DISTURBED_PCT


@dataclass
class Served:
    rounds: list[Round]
    ledger_rows: dict[str, int]  # side -> rows in the usage table at the end
    quota_images: int  # images charged to the issued key this month
    elapsed_s: float

    def kept(self) -> list[Round]:
        """The undisturbed rounds; all of them where every round was disturbed (the table says so)."""
        return [r for r in self.rounds if not r.disturbed] or self.rounds

    def values(self, phase: str, side: str, name: str) -> list[float]:
        return [getattr(r.figures[(phase, side)], name) for r in self.kept()]


def serve_and_load(plan: Plan, work: Path, database_url: str, db_cpu: Callable[[], float]) -> Served:
    config = work / "darkroom.toml"
    lines = [f'data_dir = "{(work / "data").as_posix()}"', f'api_keys = ["{SETTINGS_KEY}"]']
    if database_url:
        lines.append(f'database_url = "{database_url}"')
    config.write_text("\n".join(lines) + "\n")
    keys = {"off": SETTINGS_KEY, "on": issue_key(config)}
    port = free_port()
    server = None
    try:
        server = start_process([python(), "-m", "darkroom", "serve", "--port", str(port), "--config", str(config),
                                "--log-level", "warning"], work / "darkroom.log", f"http://{HOST}:{port}/health")
        check_sides(port, keys)
        started = time.monotonic()
        rounds: list[Round] = []
        while (sum(not r.disturbed for r in rounds) < plan.rounds and len(rounds) < plan.max_rounds
               and (len(rounds) < plan.rounds or time.monotonic() - started < plan.budget_s)):
            rounds.append(one_round(plan, server, port, keys, db_cpu, flip=len(rounds) % 2 == 1))
        elapsed = time.monotonic() - started
        store_url = database_url or f"sqlite:///{(work / 'data' / 'darkroom.db').resolve()}"
        rows, quota = ledger_contents(store_url)
        return Served(rounds, {"off": rows.get("settings#1", 0), "on": rows.get(ISSUED_NAME, 0)}, quota, elapsed)
    finally:
        stop_process(server)


def one_round(plan: Plan, server: subprocess.Popen, port: int, keys: dict[str, str], db_cpu: Callable[[], float],
              flip: bool) -> Round:
    """c=32 then c=1, each for both sides back to back. The database's CPU is read around a whole phase,
    warm-ups included, and divided by all of its requests."""
    result = Round()
    target = Target("darkroom", port, server.pid, DARKROOM_PATH)
    foreign = ForeignCpu(server.pid, db_cpu)
    for phase in PHASES:
        for side in reversed(SIDES) if flip else SIDES:
            concurrency, n, seconds, warmup = (
                (plan.concurrency, plan.load_requests, plan.load_seconds, plan.warmup) if phase == "cN" else
                (1, plan.seq_requests, plan.seq_seconds, max(8, plan.warmup // 4)))
            db_before = db_cpu()
            with bearer(port, keys[side]):
                phase_result = drive(target, CASE.payloads(), concurrency, n, seconds, warmup, "raw")
            done = len(phase_result.samples) + warmup
            result.db_cpu_ms[(phase, side)] = 1000 * (db_cpu() - db_before) / done
            result.figures[(phase, side)] = reduce(phase_result)
    result.foreign_pct = foreign.percent()
    if server.poll() is not None:
        raise RuntimeError(f"the darkroom server died (exit {server.returncode})")
    return result


def ledger_contents(url: str, timeout: float = 15.0) -> tuple[dict[str, int], int]:
    """Rows per key name in the usage table once the ledger has caught up (its row count stayed the same
    for a second: the writer flushes every 0.2 s), and the images charged to the issued key's quota."""
    engine = sa.create_engine(url)
    try:
        deadline, last, steady_since = time.monotonic() + timeout, None, time.monotonic()
        while True:
            with engine.connect() as conn:
                rows = dict(conn.execute(sa.text("SELECT key_name, count(*) FROM usage GROUP BY key_name")).all())
                quota = conn.execute(sa.text("SELECT coalesce(sum(images), 0) FROM quota_usage")).scalar_one()
            if rows != last:
                last, steady_since = rows, time.monotonic()
            if time.monotonic() - steady_since >= 1.0 or time.monotonic() > deadline:
                return rows, quota
            time.sleep(0.2)
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------------------
# In process: the ledger and the limiter alone


@dataclass
class LedgerFigures:
    rows: int
    record_us: float  # per row, on the caller's thread (the event loop, in the server)
    write_rows_s: float  # from the first record() to flush() returning
    batches: int


def ledger_alone(url: str, rows: int) -> LedgerFigures:
    from darkroom.record import RequestRecord
    from darkroom.store.database import open_database
    from darkroom.store.ledger import UsageLedger

    engine = open_database(url)
    ledger = UsageLedger(engine)
    batches, write = 0, ledger._write

    def counted(batch: list) -> None:  # the ledger's own writer, counting its transactions
        nonlocal batches
        batches += 1
        write(batch)

    ledger._write = counted
    summary = {"model": "dall-e-2", "engine": "sketch", "operation": "generate", "n": 1, "size": "256x256",
               "quality": "standard", "output_format": "png", "stream": False, "images": 1, "queue_ms": 0.1,
               "engine_ms": 9.0, "encode_ms": 1.5}
    records = [RequestRecord(f"req_{i:024x}", "POST", DARKROOM_PATH, 200, 0.012, ISSUED_NAME, None, summary)
               for i in range(rows)]
    ledger.start()
    try:
        started = time.perf_counter()
        for record in records:
            ledger.record(record)
        queued = time.perf_counter()
        if not ledger.flush(timeout=120):
            raise RuntimeError("the ledger did not write its rows within 120 s")
        done = time.perf_counter()
        with engine.connect() as conn:
            written = conn.execute(sa.text("SELECT count(*) FROM usage")).scalar_one()
        if written != rows:
            raise RuntimeError(f"the ledger wrote {written} rows of {rows}")
    finally:
        ledger.close()
        engine.dispose()
    return LedgerFigures(rows, (queued - started) / rows * 1e6, rows / (done - started), batches)


@dataclass
class LimitFigures:
    threads: int
    requests: int  # each charged take_request + take_images(key, 1)
    ms_p50: float  # one request's two calls, wall
    cpu_ms: float  # this process's CPU (all threads) per request: SQLAlchemy, the driver, SQLite itself
    db_cpu_ms: float  # the database server's CPU per request (NaN for SQLite: it runs in this process)
    requests_s: float  # all threads together


def limits_alone(url: str, requests: int, threads: int, db_cpu: Callable[[], float]) -> LimitFigures:
    from darkroom.store.database import open_database
    from darkroom.store.keys import KeyStore, Limits
    from darkroom.store.limits import RateLimiter

    engine = open_database(url)
    try:
        limiter = RateLimiter(engine)
        key, _ = KeyStore(engine).create(f"bench-{threads}", Limits(10**6, 10**6, 10**9))
        for _ in range(20):  # warm-up: the buckets and the month's row exist, the pool is filled
            limiter.take_request(key), limiter.take_images(key, 1)
        times: list[float] = []
        lock = threading.Lock()

        def worker(count: int) -> None:
            mine = []
            for _ in range(count):
                started = time.perf_counter()
                limiter.take_request(key)
                limiter.take_images(key, 1)
                mine.append(time.perf_counter() - started)
            with lock:
                times.extend(mine)

        pool = [threading.Thread(target=worker, args=(requests // threads,)) for _ in range(threads)]
        cpu, db, started = time.process_time(), db_cpu(), time.perf_counter()
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join(timeout=300)
        wall, cpu, db = time.perf_counter() - started, time.process_time() - cpu, db_cpu() - db
    finally:
        engine.dispose()
    n = len(times)
    return LimitFigures(threads, n, statistics.median(times) * 1000, 1000 * cpu / n, 1000 * db / n, n / wall)


def database_work(url: str, requests: int = 10) -> dict[str, float]:
    """What one `on` request asks of the database, counted with SQLAlchemy's events: pool checkouts, pre-pings
    (`pool_pre_ping`), statements by verb, commits."""
    from darkroom.store.database import open_database
    from darkroom.store.keys import KeyStore, Limits
    from darkroom.store.limits import RateLimiter

    engine = open_database(url)
    counts: collections.Counter[str] = collections.Counter()
    try:
        limiter = RateLimiter(engine)
        key, _ = KeyStore(engine).create("bench-count", Limits(10**6, 10**6, 10**9))
        limiter.take_request(key), limiter.take_images(key, 1)  # the rows exist, as in a running server
        sa.event.listen(engine, "before_cursor_execute", lambda *args: counts.update([args[2].split()[0].upper()]))
        sa.event.listen(engine, "commit", lambda _conn: counts.update(["COMMIT"]))
        sa.event.listen(engine.pool, "checkout", lambda *_: counts.update(["checkout"]))
        ping = engine.dialect.do_ping
        engine.dialect.do_ping = lambda conn: counts.update(["ping"]) or ping(conn)  # the pre-ping bypasses events
        for _ in range(requests):
            limiter.take_request(key), limiter.take_images(key, 1)
    finally:
        engine.dispose()
    return {name: n / requests for name, n in counts.items()}


# ---------------------------------------------------------------------------------------------
# Tables


@dataclass
class BackendResult:
    name: str
    detail: str
    served: Served
    ledger: LedgerFigures
    limits: list[LimitFigures]
    work: dict[str, float]  # database_work()

    def paired(self, phase: str = "cN", name: str = "rps") -> list[float]:
        """on / off within each kept round."""
        return [r.figures[(phase, "on")].__dict__[name] / r.figures[(phase, "off")].__dict__[name]
                for r in self.served.kept()]

    def loss_pct(self) -> float:
        """c=32 throughput lost: 1 - the median over kept rounds of (on / off) within the round, in %."""
        return 100 * (1 - median(self.paired()))


def backend_table(result: BackendResult, plan: Plan) -> str:
    served = result.served
    conc = f"c={plan.concurrency}"
    rows = []

    def add(label: str, off: float, on: float, digits: int = 2) -> None:
        rows.append([label, fmt(off, digits), fmt(on, digits), ratio(on, off), fmt(on - off, digits)])

    for phase, label in (("cN", conc), ("c1", "c=1")):
        for name, what, digits in (("rps", "requests/s", 1), ("p50", "latency p50 ms", 2),
                                   ("p99", "latency p99 ms", 2), ("server_cpu_ms", "server CPU ms/request", 2)):
            add(f"{label}  {what}", *(median(served.values(phase, side, name)) for side in SIDES), digits)
        db = [median([r.db_cpu_ms[(phase, side)] for r in served.kept()]) for side in SIDES]
        if not math.isnan(db[0]):  # NaN for SQLite, which runs inside the server
            add(f"{label}  database CPU ms/request", *db)
    kept = served.kept()
    errors = sum(f.errors for r in kept for f in r.figures.values())
    counts = {side: sum(r.figures[(p, side)].count for r in kept for p in PHASES) for side in SIDES}
    per_round = " | ".join(f"{side} " + " ".join(fmt(v, 0) for v in served.values("cN", side, "rps"))
                           for side in SIDES)
    left_out = [r for r in served.rounds if r.disturbed]
    used = ", ".join(f"{r.foreign_pct:.0f}%" for r in left_out)
    if left_out and len(left_out) == len(served.rounds):
        noise = (f"EVERY round was disturbed (other processes used {used} of the machine; limit {DISTURBED_PCT:g}%): "
                 "figures shown anyway, run again on a quiet machine")
    elif left_out:
        noise = f"{len(left_out)} disturbed round(s) left out (other processes used {used} of the machine)"
    else:
        noise = "no round left out"
    quiet = max((r.foreign_pct for r in kept), default=float("nan"))
    chunk = HIGH_LIMITS["--monthly-images"] // QUOTA_SHARE  # the server charges the quota in chunks
    made = served.ledger_rows["on"]
    match = (f"= its ledger rows, rounded up to whole chunks of {chunk:,}" if made <= served.quota_images < made + chunk
             else "MISMATCH with its ledger rows")
    return "\n".join([
        f"== {result.name}: {result.detail}",
        (f"   {len(kept)} rounds kept of {len(served.rounds)} ({served.elapsed_s:.0f} s); {noise}; other processes "
        f"during kept rounds: at most {fmt(quiet, 1)}% of the machine"),
        f"   medians over kept rounds; requests measured: off {counts['off']}, on {counts['on']}; non-200: {errors}",
        table(["", "off", "on", "on / off", "on - off"], rows),
        (f"   {conc} requests/s per kept round: {per_round}; on / off within each round: "
        f"{' '.join(f'{v:.2f}' for v in result.paired())}"),
        f"   {conc} throughput loss (median over rounds of on / off within the round): {result.loss_pct():.1f}%",
        (f"   ledger at the end: {served.ledger_rows['off']} rows (off) + {served.ledger_rows['on']} (on), warm-ups "
        f"included; images charged to the on key's quota: {served.quota_images} ({match})"),
    ])


def alone_table(results: list[BackendResult]) -> str:
    rows = []
    for r in results:
        rows.append([f"{r.name}: ledger.record (caller's thread)", f"{r.ledger.record_us:.1f} us/row", "-", "-", "-",
                     f"{r.ledger.rows} rows"])
        rows.append([f"{r.name}: ledger writer thread", "-", "-", "-", f"{fmt(r.ledger.write_rows_s, 0)} rows/s",
                     f"{r.ledger.batches} batches"])
        for f in r.limits:
            rows.append([f"{r.name}: limits, {f.threads} thread{'s' if f.threads > 1 else ''}", f"{f.ms_p50:.2f} ms",
                         f"{f.cpu_ms:.2f} ms", fmt(f.db_cpu_ms), f"{fmt(f.requests_s, 0)} requests/s",
                         f"{f.requests} requests"])
    lines = [table(["in process", "wall p50", "CPU here", "CPU database", "throughput", "n"], rows)]
    for r in results:
        work = dict(r.work)
        commits, checkouts, pings = (work.pop(name, 0) for name in ("COMMIT", "checkout", "ping"))
        verbs = ", ".join(f"{verb} {n:g}" for verb, n in sorted(work.items()))
        lines.append(f"   {r.name}, database work per `on` request: {commits:g} transactions (commits), {checkouts:g} "
                     f"pool checkouts with {pings:g} pre-pings, {sum(work.values()):g} statements ({verbs})")
    return "\n".join(lines)


def _legend(plan: Plan) -> str:
    return "\n".join([
        (f"accounting: one `darkroom serve` per backend (log level warning), {CASE.label}, load.py's raw keep-alive "
        "client in this process"),
        ("   off = settings-file key: no limits, no database on the request path; the ledger still queues a row "
        "per request (no setting turns it off)"),
        ("   on  = issued key, rpm 10^6, images/min 10^6, monthly 10^9 (never reached): cached key lookup, requests "
        "bucket, monthly quota, images bucket (through the server's per-process leases) + the same ledger row"),
        (f"   per round, each side back to back (order flips every round): c={plan.concurrency} up to "
        f"{plan.load_requests} requests / {plan.load_seconds:g} s after {plan.warmup} warm-ups, then c=1 up to "
        f"{plan.seq_requests} / {plan.seq_seconds:g} s after {max(8, plan.warmup // 4)}; {plan.rounds} undisturbed "
        f"rounds wanted (other processes < {DISTURBED_PCT:g}% of the machine)"),
        ("   server CPU = the darkroom process, all threads, per measured request; database CPU = PostgreSQL's "
        "processes per request of the whole phase (warm-ups included; SQLite runs inside the server)"),
    ])


def verdict(results: list[BackendResult]) -> str:
    parts = [f"{r.name} {r.loss_pct():.1f}% ({'met' if r.loss_pct() < AIM_LOSS_PCT else 'NOT met'})" for r in results]
    return (f"aim: keys + limits cost under {AIM_LOSS_PCT:g}% of c=32 throughput; measured in this run: "
            f"{'; '.join(parts)}")


# ---------------------------------------------------------------------------------------------


def _backend(name: str, detail: str, plan: Plan, work: Path, url: str, alone_url: Callable[[str], str],
             db_cpu: Callable[[], float]) -> BackendResult:
    work.mkdir()
    served = serve_and_load(plan, work, url, db_cpu)
    ledger = ledger_alone(alone_url("ledger"), plan.ledger_rows)
    limits = [limits_alone(alone_url(f"limits{n}"), plan.limit_requests, n, db_cpu) for n in (1, 6)]
    return BackendResult(name, detail, served, ledger, limits, database_work(alone_url("count")))


def run(quick: bool) -> str:
    plan = QUICK if quick else FULL
    results: list[BackendResult] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="darkroom-bench-accounting-") as tmp:
        work = Path(tmp)
        results.append(_backend("SQLite", f"data_dir on the local disk ({work}), WAL, synchronous=NORMAL", plan,
                                work / "sqlite", "", lambda name: f"sqlite:///{work / 'sqlite' / name}.db",
                                lambda: float("nan")))
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            notes.append("PostgreSQL: skipped, not installed (scripts/install-postgres installs it)")
        else:
            with postgres_server(bin_dir) as pg:
                results.append(_backend("PostgreSQL", pg.describe(), plan, work / "pg", pg.url(), pg.create_database,
                                        pg.cpu_seconds))
    return "\n\n".join([
        _legend(plan), *(backend_table(r, plan) for r in results),
        ("== the parts alone, in this process, on a fresh store of each backend: the ledger (`record` then `flush`); "
        "the limits of one `on` request (`take_request` + `take_images(key, 1)`) from 1 thread and from 6 (the "
        "server's to_thread pool); CPU per request"),
        alone_table(results), *notes, verdict(results)])
