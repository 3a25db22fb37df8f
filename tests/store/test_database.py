"""Opening the store (src/darkroom/store/database.py) on SQLite and PostgreSQL: migrations at every open,
idempotent, at Alembic's head, matching schema.py; several processes opening at once; bad URLs."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from darkroom.config import ConfigError
from darkroom.store.database import MIGRATIONS, database_url, open_database
from darkroom.store.keys import KeyStore
from darkroom.store.schema import metadata

TABLES = {"api_keys", "rate_buckets", "quota_usage", "usage", "stored_images"}


def head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def version(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()


def test_a_new_database_is_migrated_to_head(empty_url):
    engine = open_database(empty_url)
    try:
        assert version(engine) == [head()]
        assert set(sa.inspect(engine).get_table_names()) == TABLES | {"alembic_version"}
    finally:
        engine.dispose()


def test_migrating_twice_changes_nothing(empty_url):
    first = open_database(empty_url)
    _, key = KeyStore(first).create("ci")
    first.dispose()
    second = open_database(empty_url)
    try:
        assert version(second) == [head()]
        assert KeyStore(second).lookup(key).name == "ci"
    finally:
        second.dispose()


def test_the_migrations_build_exactly_schema_py(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_processes_opening_a_new_database_together_migrate_once(new_empty_url):
    # Processes, as several `darkroom serve` would be (Alembic's `context` is process-global: threads
    # of one process cannot migrate at the same moment, and a server opens its store once). Each
    # waits for the same moment after its imports, so that the migrations overlap; three databases
    # at once, as one race is not always lost.
    opener = ("import sys, time; from darkroom.store.database import open_database; "
              "time.sleep(max(0, float(sys.argv[2]) - time.time())); open_database(sys.argv[1]).dispose()")
    urls = [new_empty_url() for _ in range(3)]
    go = str(time.time() + 3.0)
    processes = [subprocess.Popen([sys.executable, "-c", opener, url, go], stderr=subprocess.PIPE, text=True)
                 for url in urls for _ in range(3)]
    failures = [p.communicate(timeout=60)[1] for p in processes if p.wait(timeout=60) != 0]
    assert not failures, f"{len(failures)} of {len(processes)} failed: {failures[0].strip().splitlines()[-1]}"
    for url in urls:
        engine = open_database(url)
        try:
            assert version(engine) == [head()]
        finally:
            engine.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'darkroom.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_the_default_is_sqlite_in_the_data_dir(tmp_path):
    url = database_url("", tmp_path / "data")
    assert url == f"sqlite:///{(tmp_path / 'data' / 'darkroom.db').resolve()}"
    assert (tmp_path / "data").is_dir()
    assert database_url("postgresql+psycopg://u:p@h/db", tmp_path) == "postgresql+psycopg://u:p@h/db"


def test_a_wrong_password_names_the_setting(postgres):
    url = postgres.url.replace(":darkroom-test-password@", ":wrong@")
    with pytest.raises(ConfigError, match=r"^Invalid setting 'database_url': cannot open the database: "):
        open_database(url)


def test_an_unknown_database_kind_names_the_setting():
    with pytest.raises(ConfigError, match=r"^Invalid setting 'database_url': "):
        open_database("nosuchdb://localhost/x")


def test_an_unreachable_database_is_a_503_store_unavailable():
    from darkroom.errors import StoreUnavailable

    from ..conftest import closed_port

    engine = sa.create_engine(f"postgresql+psycopg://u:p@127.0.0.1:{closed_port()}/db", pool_pre_ping=True)
    try:
        with pytest.raises(StoreUnavailable) as caught:
            KeyStore(engine).lookup("dr-anything")
    finally:
        engine.dispose()
    assert (caught.value.status, caught.value.code) == (503, "store_unavailable")
    assert int(caught.value.headers["Retry-After"]) > 0
    assert "127.0.0.1" not in caught.value.message  # no internals in what a client sees


@pytest.mark.parametrize(("error", "expected"), [
    (sa.exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full")), "insufficient_storage"),
    (sa.exc.OperationalError("SELECT", {}, Exception("server closed the connection")), "store_unavailable"),
    (sa.exc.TimeoutError("QueuePool limit reached"), "store_unavailable"),
    (sa.exc.IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")), None),  # a bug: not hidden
])
def test_database_errors_as_the_client_sees_them(error, expected):
    from darkroom.errors import DarkroomError
    from darkroom.store.database import translating

    with pytest.raises((DarkroomError, sa.exc.SQLAlchemyError)) as caught, translating("a test"):
        raise error
    if expected is None:
        assert caught.value is error
    else:
        assert caught.value.code == expected and caught.value.status == (507 if expected == "insufficient_storage"
                                                                          else 503)
