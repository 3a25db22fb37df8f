"""The metadata store's fixtures, each run on SQLite and on PostgreSQL:

    engine        a migrated, empty store, as `darkroom serve` opens it (`open_database`)
    empty_url     a URL for a database that does not hold anything yet (for the migration tests);
                  `new_empty_url()` makes more
    postgres      one throwaway PostgreSQL server for the session (tests/postgres.py), started only
                  when a test asks for it; `postgres_url` is its database for the live tests

On PostgreSQL the unit tests share one database, emptied before each test (creating a database
takes a quarter of a second here).
"""

from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa

from darkroom.store.database import open_database
from darkroom.store.schema import metadata

from ..postgres import PgServer, start_postgres, stop_postgres

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> PgServer:
    server = start_postgres()
    yield server
    stop_postgres(server)


@pytest.fixture(scope="session")
def postgres_url(postgres: PgServer) -> str:
    return postgres.url


@pytest.fixture(params=["sqlite", "postgresql"])
def dialect(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture()
def new_empty_url(dialect: str, request: pytest.FixtureRequest, tmp_path):
    """Makes URLs of databases that hold nothing yet (not migrated)."""
    def make() -> str:
        number = next(_databases)
        if dialect == "sqlite":
            return f"sqlite:///{tmp_path / f'empty-{number}.db'}"
        return request.getfixturevalue("postgres").create_database(f"empty_{number}")

    return make


@pytest.fixture()
def empty_url(new_empty_url) -> str:
    return new_empty_url()


@pytest.fixture()
def engine(dialect: str, request: pytest.FixtureRequest, tmp_path) -> sa.Engine:
    if dialect == "sqlite":
        engine = open_database(f"sqlite:///{tmp_path / 'darkroom.db'}")
    else:
        engine = open_database(request.getfixturevalue("postgres_url"))
        with engine.begin() as conn:  # DELETE: faster than TRUNCATE on tables this small
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())
    yield engine
    engine.dispose()
