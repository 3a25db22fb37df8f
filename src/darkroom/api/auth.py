"""Bearer API keys from settings, compared in constant time. No keys configured: the server is open."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from ..errors import AuthenticationFailed

_MISSING = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
    "Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)


class ApiKeyAuth:
    """A FastAPI dependency that checks `Authorization: Bearer <key>` against the configured keys."""

    def __init__(self, keys: list[str]) -> None:
        self._digests = [hashlib.sha256(key.encode()).digest() for key in keys]

    @property
    def open(self) -> bool:
        return not self._digests

    async def __call__(self, request: Request) -> None:  # async: no thread hop for a few microseconds of work
        if self.open:
            return
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise AuthenticationFailed(_MISSING, code=None)
        if not self._matches(key):
            raise AuthenticationFailed(
                f"Incorrect API key provided: {_redact(key)}. Check the keys configured for this Darkroom server."
            )

    def _matches(self, key: str) -> bool:
        digest = hashlib.sha256(key.encode()).digest()
        found = False
        for known in self._digests:  # no early exit: the time taken does not say which key matched
            found |= hmac.compare_digest(digest, known)
        return found


def _redact(key: str) -> str:
    return f"{key[:3]}***{key[-4:]}" if len(key) > 10 else "***"
