"""The key store (src/darkroom/store/keys.py) on SQLite and PostgreSQL: create, list, revoke, lookup by
key, the one-second cache that revocation waits out, and the key itself never reaching the database."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa

from darkroom.errors import InvalidRequest
from darkroom.store import keys as keys_module
from darkroom.store.keys import ApiKey, KeyStore, Limits


class Clock:
    """Stands in for the `time` module inside keys.py: the cache's clock moves only when told."""

    def __init__(self) -> None:
        import time

        self.now = time.time()
        self.mono = 1000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.mono += seconds


@pytest.fixture()
def store(engine) -> KeyStore:
    return KeyStore(engine)


@pytest.fixture()
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(keys_module, "time", fake)
    return fake


def authenticate(store: KeyStore, key: str) -> ApiKey | None:
    """What the server's auth does: the cache first, the database on a miss."""
    hit, found = store.cached(key)
    return found if hit else store.lookup(key)


def test_create_returns_the_key_once_and_a_record_without_it(store):
    record, key = store.create("ci", Limits(rpm=3, images_per_minute=4, monthly_images=5), admin=True)
    assert key.startswith("dr-") and len(key) == 46  # dr- + 32 random bytes, URL-safe base64
    assert (record.name, record.admin, record.prefix) == ("ci", True, key[:7])
    assert record.limits == Limits(3, 4, 5)
    assert isinstance(record.id, int) and record.revoked_at is None
    assert key not in repr(record)


def test_keys_are_random(store):
    keys = {store.create(f"k{i}")[1] for i in range(5)}
    assert len(keys) == 5


def test_list_shows_every_key_in_creation_order(store):
    store.create("first")
    store.create("second", Limits(rpm=10))
    store.revoke("first")
    listed = store.list()
    assert [k.name for k in listed] == ["first", "second"]
    assert listed[0].revoked_at is not None and listed[1].revoked_at is None
    assert listed[1].limits == Limits(rpm=10)
    assert all(k.admin is False for k in listed)


def test_duplicate_names_are_refused(store):
    store.create("ci")
    with pytest.raises(InvalidRequest) as caught:
        store.create("ci")
    assert caught.value.param == "name"
    assert caught.value.message == "A key named 'ci' already exists."
    assert [k.name for k in store.list()] == ["ci"]


def test_a_revoked_name_cannot_be_reused(store):
    store.create("ci")
    store.revoke("ci")
    with pytest.raises(InvalidRequest):
        store.create("ci")


@pytest.mark.parametrize("name", ["", "x" * 101])
def test_bad_names_are_refused(store, name):
    with pytest.raises(InvalidRequest) as caught:
        store.create(name)
    assert caught.value.param == "name"
    assert store.list() == []


def test_a_100_character_name_is_accepted(store):
    record, _ = store.create("x" * 100)
    assert store.list()[0].name == record.name == "x" * 100


def test_lookup_finds_the_key_by_its_value(store):
    record, key = store.create("ci", Limits(monthly_images=7))
    store.create("other")
    found = store.lookup(key)
    assert found == record
    assert store.lookup(key + "x") is None
    assert store.lookup("dr-" + "A" * 43) is None
    assert store.lookup("") is None


def test_revoke(store):
    _, key = store.create("ci")
    assert store.revoke("ci") is True
    assert store.revoke("ci") is False  # already revoked
    assert store.revoke("nobody") is False
    assert store.lookup(key) is None


def test_a_revoked_key_is_refused_once_the_cache_second_passed(store, clock):
    _, key = store.create("ci")
    assert authenticate(store, key).name == "ci"  # now cached
    store.revoke("ci")
    clock.advance(0.9)
    assert authenticate(store, key).name == "ci"  # the cache still answers, for under a second
    clock.advance(keys_module.CACHE_SECONDS)
    assert store.cached(key) == (False, None)
    assert authenticate(store, key) is None


def test_misses_are_cached_too(store, clock):
    assert authenticate(store, "dr-unknown") is None
    assert store.cached("dr-unknown") == (True, None)
    clock.advance(keys_module.CACHE_SECONDS + 0.1)
    assert store.cached("dr-unknown") == (False, None)


def test_any_issued(store, clock):
    assert store.any_issued() is False
    store.create("ci")
    assert store.any_issued() is False  # cached for a second
    clock.advance(keys_module.CACHE_SECONDS + 0.1)
    assert store.any_issued() is True
    store.revoke("ci")
    clock.advance(keys_module.CACHE_SECONDS + 0.1)
    assert store.any_issued() is True  # revoking the last key does not open the server


def test_the_key_is_never_stored_in_clear(store, engine):
    created = [store.create(f"key-{i}", Limits(rpm=5))[1] for i in range(3)]
    for key in created:
        store.lookup(key)
    store.revoke("key-0")
    stored = stored_text(engine)
    for key in created:
        assert hashlib.sha256(key.encode()).hexdigest() in stored  # what is stored, as a check on the reading
        assert key[:7] in stored  # the prefix shown by `keys list`
        assert key[7:] not in stored and key[3:] not in stored


def stored_text(engine: sa.Engine) -> str:
    """Everything the database holds, as text: the raw file bytes for SQLite (with its WAL), else every
    column of every table, cast to text."""
    if engine.dialect.name == "sqlite":
        path = Path(engine.url.database)
        files = [p for p in (path, path.with_name(path.name + "-wal")) if p.exists()]
        assert files
        return b"".join(p.read_bytes() for p in files).decode("latin-1")
    parts = []
    with engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            columns = [c["name"] for c in sa.inspect(conn).get_columns(table)]
            select = ", ".join(f'CAST("{c}" AS TEXT)' for c in columns)
            for row in conn.execute(sa.text(f'SELECT {select} FROM "{table}"')):
                parts.extend(str(v) for v in row)
    return "\n".join(parts)
