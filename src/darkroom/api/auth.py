"""Bearer API keys: the settings file's keys and those issued with `darkroom keys create`.

Settings keys are compared in constant time in memory; they are admin keys (the operator's) with no
limits, named `settings#1`, `settings#2`... in the ledger. Issued keys are looked up by hash in the
metadata store (`store/keys.py`, cached for a second) and carry their own limits: a monthly budget in
dollars is checked here (`store/budgets.py`), and each request is charged one request token here
(`store/leases.py` on `store/limits.py`); images are charged by the service once a request's rules
passed (`RequestContext.charge`). With no key configured anywhere (none in the settings, none ever
issued) the server is open; once a key has been issued it stays closed, even if every key is revoked.

On success `request.state.key` is the `ApiKey` (never the key itself) and `request.state.key_name`
its name; `request.state.ratelimit_headers` collects the `x-ratelimit-*` headers that the
middleware adds to the response.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac

from fastapi import Request

from ..errors import AuthenticationFailed, PermissionDenied
from ..store import MetadataStore
from ..store.keys import ApiKey
from ..store.limits import BucketState

_MISSING = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
    "Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)


class ApiKeyAuth:
    """A FastAPI dependency that checks `Authorization: Bearer <key>`."""

    def __init__(self, keys: list[str], store: MetadataStore) -> None:
        self._digests = [hashlib.sha256(key.encode()).digest() for key in keys]
        self.store = store

    def open_at_start(self) -> bool:
        return not self._digests and not self.store.keys.any_issued()

    async def __call__(self, request: Request) -> None:
        request.state.ratelimit_headers = {}
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if not self._digests and not await self._store_has_keys():
            request.state.key, request.state.key_name = None, None  # an open server
            return
        if scheme.lower() != "bearer" or not key:
            raise AuthenticationFailed(_MISSING, code=None)
        found = self._settings_key(key) or await self._issued_key(key)
        if found is None:
            raise AuthenticationFailed(
                f"Incorrect API key provided: {_redact(key)}. Check the keys configured for this Darkroom server.")
        request.state.key, request.state.key_name = found, found.name
        await self.store.budgets.check(found)  # a monthly budget in dollars (store/budgets.py)
        if found.limits.rpm is not None:
            record_state(request, await self.store.leases.charge_request(found))

    async def _store_has_keys(self) -> bool:
        hit, value = self.store.keys.cached_any()
        return value if hit else await asyncio.to_thread(self.store.keys.any_issued)

    def _settings_key(self, key: str) -> ApiKey | None:
        digest = hashlib.sha256(key.encode()).digest()
        index = None
        for i, known in enumerate(self._digests):  # no early exit: the time taken does not say which matched
            if hmac.compare_digest(digest, known):
                index = i
        return ApiKey(name=f"settings#{index + 1}", admin=True) if index is not None else None

    async def _issued_key(self, key: str) -> ApiKey | None:
        hit, found = self.store.keys.cached(key)
        if hit:
            return found
        return await asyncio.to_thread(self.store.keys.lookup, key)


def record_state(request: Request, state: BucketState | None) -> None:
    if state is not None:
        request.state.ratelimit_headers.update(state.headers())


def require_admin(request: Request) -> ApiKey | None:
    """The request's key when it is an admin key (or the server is open); else 403."""
    key: ApiKey | None = getattr(request.state, "key", None)
    if key is not None and not key.admin:
        raise PermissionDenied("This endpoint needs an admin API key (a key from the settings file, or one "
                               "created with `darkroom keys create --admin`).")
    return key


def _redact(key: str) -> str:
    return f"{key[:3]}***{key[-4:]}" if len(key) > 10 else "***"
