"""API keys issued with `darkroom keys create`: stored only as SHA-256 hashes, looked up in constant time.

A key is `dr-` plus 43 random URL-safe characters (256 bits), so a plain SHA-256 is a safe way to
store it (no dictionary can reach it; a slow hash would only slow every request). It is printed
once, at creation. A lookup hashes the presented key, finds the row by its hash and compares the
hashes with `hmac.compare_digest`.

Lookups are cached for `CACHE_SECONDS` (1 s) per process, hits and misses alike: a revoked key is
refused within a second on every process that shares the store, and a busy server reads the
database about once a second per key instead of once per request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa

from ..errors import InvalidRequest
from .database import translated
from .schema import api_keys

CACHE_SECONDS = 1.0
PREFIX = "dr-"


@dataclass(frozen=True, slots=True)
class Limits:
    rpm: int | None = None  # requests per minute
    images_per_minute: int | None = None
    monthly_images: int | None = None
    monthly_budget_usd: float | None = None  # what the key's requests may cost per calendar month (UTC)

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.rpm, self.images_per_minute, self.monthly_images,
                                           self.monthly_budget_usd))


@dataclass(frozen=True, slots=True)
class ApiKey:
    """Who made a request: a key's name (never the key), its limits and whether it is an admin key."""

    name: str
    admin: bool = False
    limits: Limits = Limits()
    id: int | None = None  # None: a key from the settings file (no limits, not in the database)
    prefix: str = ""
    created_at: float = 0.0
    revoked_at: float | None = None
    models: tuple[str, ...] | None = None  # the models it may use; None: every model


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._any: tuple[float, bool] = (0.0, False)
        self._lock = threading.Lock()

    # ---- administration (the CLI) -------------------------------------------------------------

    def create(self, name: str, limits: Limits = Limits(), admin: bool = False,
               models: tuple[str, ...] | None = None) -> tuple[ApiKey, str]:
        """A new key: returns its record and the key itself, which is never stored. `models`: the only
        models it may use (None: every model)."""
        if not name or len(name) > 100:
            raise InvalidRequest("A key name must be 1 to 100 characters.", param="name")
        if models is not None and not models:
            raise InvalidRequest("A key limited to models needs at least one model.", param="models")
        for model in models or ():
            if not model or len(model) > 100 or model != model.strip():
                raise InvalidRequest(f"Invalid model name {model!r}: expected 1 to 100 characters, no surrounding "
                                     "blanks.", param="models")
        if limits.monthly_budget_usd is not None and not limits.monthly_budget_usd > 0:
            raise InvalidRequest(f"Invalid monthly budget: {limits.monthly_budget_usd}. It must be a positive "
                                 "amount in dollars.", param="monthly_budget_usd")
        key = PREFIX + secrets.token_urlsafe(32)
        row = dict(name=name, key_hash=hash_key(key), key_prefix=key[:7], admin=admin, rpm=limits.rpm,
                   images_per_minute=limits.images_per_minute, monthly_images=limits.monthly_images,
                   monthly_budget_usd=limits.monthly_budget_usd,
                   models=json.dumps(list(models)) if models is not None else None,
                   created_at=time.time(), revoked_at=None)
        try:
            with self.engine.begin() as conn:
                key_id = conn.execute(sa.insert(api_keys).values(**row)).inserted_primary_key[0]
        except sa.exc.IntegrityError:
            raise InvalidRequest(f"A key named '{name}' already exists.", param="name") from None
        return _record({**row, "id": key_id}), key

    @translated
    def list(self) -> list[ApiKey]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at)).mappings().all()
        return [_record(row) for row in rows]

    @translated
    def revoke(self, name: str) -> bool:
        """Revoke the key named `name`; False if there is no such active key."""
        with self.engine.begin() as conn:
            result = conn.execute(sa.update(api_keys).where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
                                  .values(revoked_at=time.time()))
        return result.rowcount == 1

    # ---- requests (the server) ----------------------------------------------------------------

    @translated
    def lookup(self, key: str) -> ApiKey | None:
        """The active key matching `key`, or None (blocking: call it from a thread, or after `cached`)."""
        digest = hash_key(key)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.key_hash == digest)).mappings().first()
        found = None
        if row is not None and hmac.compare_digest(row["key_hash"], digest) and row["revoked_at"] is None:
            found = _record(row)
        with self._lock:
            self._cache[digest] = (time.monotonic() + CACHE_SECONDS, found)
            if len(self._cache) > 10_000:  # keys tried at random must not grow it without bound
                self._cache.clear()
        return found

    def cached(self, key: str) -> tuple[bool, ApiKey | None]:
        """(hit, key) from the cache, without touching the database."""
        entry = self._cache.get(hash_key(key))
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def cached_any(self) -> tuple[bool, bool]:
        """(hit, `any_issued()`) from the cache, without touching the database."""
        expires, value = self._any
        return expires >= time.monotonic(), value

    @translated
    def any_issued(self) -> bool:
        """Whether a key was ever issued (cached like lookups): if so, the server needs keys. Revoked keys
        count: revoking the last key must lock everyone out, not open the server to anyone."""
        hit, value = self.cached_any()
        if hit:
            return value
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(sa.func.count()).select_from(api_keys)).scalar_one() > 0
        self._any = (time.monotonic() + CACHE_SECONDS, value)
        return value


def _record(row) -> ApiKey:  # noqa: ANN001 - a row mapping
    models = row["models"]
    return ApiKey(name=row["name"], admin=bool(row["admin"]), id=row["id"], prefix=row["key_prefix"],
                  limits=Limits(row["rpm"], row["images_per_minute"], row["monthly_images"], row["monthly_budget_usd"]),
                  created_at=row["created_at"], revoked_at=row["revoked_at"],
                  models=tuple(json.loads(models)) if models is not None else None)
