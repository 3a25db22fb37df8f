"""Opening the metadata store: SQLite in the data directory by default, or any SQLAlchemy URL
(`database_url`, e.g. `postgresql+psycopg://user:pass@host/db` for several nodes sharing one store).

The schema is brought up to date at every open by Alembic (`migrations/`), under a lock (PostgreSQL:
an advisory lock; SQLite: the write lock, `BEGIN IMMEDIATE`), so that several processes starting
together migrate once.
SQLite runs in WAL mode with `synchronous=NORMAL` (durable across process crashes, fast writes) and
a busy timeout, so that several processes can share one file.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from ..config import ConfigError

log = logging.getLogger("darkroom.store")
MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 7_314_159  # any constant: PostgreSQL advisory lock id for migrations


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
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {"pool_size": 8, "max_overflow": 8}


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
