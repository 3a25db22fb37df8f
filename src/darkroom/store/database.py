"""Opening the metadata store: SQLite in the data directory by default, or any SQLAlchemy URL
(`database_url`, e.g. `postgresql+psycopg://user:pass@host/db` for several nodes sharing one store).

The schema is brought up to date at every open by Alembic (`migrations/`), under a lock (PostgreSQL:
an advisory lock; SQLite: the write lock, `BEGIN IMMEDIATE`), so that several processes starting
together migrate once.
SQLite runs in WAL mode with `synchronous=NORMAL` (durable across process crashes, fast writes) and
a busy timeout, so that several processes can share one file.

When the database goes away (PostgreSQL stopped or unreachable, SQLite's file locked past its busy
timeout) the methods the server calls raise `StoreUnavailable` (503 `store_unavailable`, with
Retry-After), and a full disk `InsufficientStorage` (507): `translated` is their boundary. Connections
are checked before use (`pool_pre_ping`), so once the database is back the next request gets a fresh
connection; a PostgreSQL connection attempt gives up after `CONNECT_TIMEOUT_SECONDS`, and a request
waits at most `POOL_TIMEOUT_SECONDS` for a pooled connection.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ParamSpec, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from ..config import ConfigError
from ..errors import InsufficientStorage, StoreUnavailable

log = logging.getLogger("darkroom.store")
MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 7_314_159  # any constant: PostgreSQL advisory lock id for migrations
CONNECT_TIMEOUT_SECONDS = 5
POOL_TIMEOUT_SECONDS = 10
_P = ParamSpec("_P")
_T = TypeVar("_T")


def database_url(configured: str, data_dir: Path) -> str:
    if configured:
        return configured
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(data_dir / 'darkroom.db').resolve()}"


def open_database(url: str) -> sa.Engine:
    """An engine on `url` with the schema migrated to the latest revision."""
    try:
        engine = sa.create_engine(url, pool_pre_ping=True, **_options(url))
    except (ImportError, sa.exc.ArgumentError) as exc:
        hint = " (pip install 'darkroom[postgres]')" if url.startswith("postgres") else ""
        raise ConfigError(f"Invalid setting 'database_url': {exc}{hint}") from None
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    try:
        migrate(engine)
    except sa.exc.OperationalError as exc:
        raise ConfigError(f"Invalid setting 'database_url': cannot open the database: {exc.orig}") from None
    return engine


def migrate(engine: sa.Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK})
        elif engine.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock: processes starting together wait
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _options(url: str) -> dict:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}, "pool_timeout": POOL_TIMEOUT_SECONDS}
    options: dict = {"pool_size": 8, "max_overflow": 8, "pool_timeout": POOL_TIMEOUT_SECONDS}
    if url.startswith("postgres"):
        options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    return options


def is_disk_full(exc: BaseException) -> bool:
    """Whether a database error says the disk is full (SQLite's SQLITE_FULL, PostgreSQL's 53100)."""
    orig = getattr(exc, "orig", exc)
    if isinstance(orig, sqlite3.Error):
        return getattr(orig, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(orig)
    return getattr(orig, "sqlstate", None) == "53100"


def is_unavailable(exc: BaseException) -> bool:
    """Whether a database error means the database cannot be used now (not a bug in a statement)."""
    if isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DisconnectionError,
                        sa.exc.TimeoutError)):
        return True
    return isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated


@contextlib.contextmanager
def translating(what: str) -> Iterator[None]:
    """Database errors of `what` as the client should see them: 507 for a full disk, 503 while the
    database is unavailable; anything else (a bug) goes on as it is."""
    try:
        yield
    except sa.exc.SQLAlchemyError as exc:
        if is_disk_full(exc):
            log.error("metadata store: %s failed, the disk is full: %s", what, getattr(exc, "orig", exc))
            raise InsufficientStorage("The server's metadata store is out of disk space. Try again later.") from exc
        if is_unavailable(exc):
            log.error("metadata store: %s failed, the database is unavailable: %s", what, getattr(exc, "orig", exc))
            raise StoreUnavailable("The server's metadata store is unavailable. Retry shortly.") from exc
        raise


def translated(method: Callable[_P, _T]) -> Callable[_P, _T]:
    """`translating` around a store method the server calls."""
    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        with translating(method.__qualname__):
            return method(*args, **kwargs)

    return wrapper


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - a DB-API connection
    cursor = dbapi_connection.cursor()
    for attempt in range(200):  # switching to WAL does not wait out the busy timeout: retry for ~10 s
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 199:
                raise
            time.sleep(0.05)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
