"""The storage interface: where image bytes live when a response carries a `url`, and for how long.

A stored name is `{expiry}-{random}.{ext}`, e.g. `1767225600-3f2a...9c.png`:
    expiry  the unix second after which the object is deleted: its own retention, chosen at `save`
            (the link lifetime by default, longer for kept images), rounded up. Ten digits, so
            that names sort by expiry.
    random  128 random bits as 32 hex digits: a name cannot be guessed.
    ext     png, jpeg or webp: the media type.
Keeping the expiry in the name gives every object its own retention with no index, sidecar or
metadata lookup; the sweep reads it from a directory or bucket listing alone.

Links are either Darkroom-served (`{base_url}/v1/images/files/{name}?expires=..&signature=..`,
HMAC-signed by `signing.LinkSigner`, checked by `open`) or, for S3 with `presign`, S3's own
presigned URLs. A link never outlives its object.

Every method blocks (disk or network): call them from a worker thread, never on the event loop.
"""

from __future__ import annotations

import math
import re
import secrets
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from ..config import ConfigError
from ..errors import NotFound
from .signing import LinkSigner

# The formats `postprocess/encode.py` writes (its MEDIA_TYPES; not imported, to keep numpy out of here).
MEDIA_TYPES: dict[str, str] = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
MAX_TTL_SECONDS = 100 * 365 * 86400  # keeps the expiry at ten digits (until the year 2286)
_NAME = re.compile(r"^(\d{10})-[0-9a-f]{32}\.(png|jpeg|webp)$")


@dataclass(frozen=True)
class StoredObject:
    """What `open` found behind a valid link: a file to send (`path`) or its bytes (`data`)."""

    name: str
    media_type: str
    path: Path | None = None
    data: bytes | None = None


def new_name(extension: str, ttl_seconds: int, now: float) -> str:
    if extension not in MEDIA_TYPES:
        raise ValueError(f"`extension` must be one of {sorted(MEDIA_TYPES)} but is {extension!r}.")
    check_ttl("ttl_seconds", ttl_seconds)
    return f"{math.ceil(now + ttl_seconds):010d}-{secrets.token_hex(16)}.{extension}"


def parse_name(name: str) -> tuple[int, str] | None:
    """(expiry, extension) of a name this module made, or None for anything else."""
    match = _NAME.match(name)
    return (int(match[1]), match[2]) if match else None


def check_ttl(setting: str, ttl_seconds: int) -> None:
    if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"`{setting}` must be between 1 and {MAX_TTL_SECONDS} seconds but is {ttl_seconds}.")


class ImageStore(ABC):
    """Stored images, each deleted by `sweep` once its own expiry has passed."""

    def __init__(self, signer: LinkSigner, ttl_seconds: int) -> None:
        if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
            raise ConfigError(f"Invalid setting 'url_ttl_seconds': must be between 1 and {MAX_TTL_SECONDS} seconds "
                              f"but is {ttl_seconds}.")
        self.signer = signer
        self.ttl_seconds = ttl_seconds  # the default link lifetime and retention

    @abstractmethod
    def save(self, data: bytes, extension: str, *, ttl_seconds: int | None = None) -> str:
        """Store `data` under a new name, kept `ttl_seconds` (default: the store's TTL); return the name."""

    def url(self, base_url: str, name: str, ttl_seconds: int | None = None, *, now: float | None = None) -> str:
        """An expiring link to `name`. Here: Darkroom-served; a backend may hand out its own."""
        return self.signed_url(base_url, name, ttl_seconds, now=now)

    def signed_url(self, base_url: str, name: str, ttl_seconds: int | None = None, *,
                   now: float | None = None) -> str:
        """A Darkroom-served link, valid `ttl_seconds` (default: the store's TTL) but never past the object's expiry."""
        expires = self.link_expiry(name, ttl_seconds, now)
        return f"{base_url}/v1/images/files/{name}?expires={expires}&signature={self.signer.sign(name, expires)}"

    def open(self, name: str, expires: str | None, signature: str | None) -> StoredObject:
        """The image behind a Darkroom-served link: PermissionDenied if tampered or expired, NotFound if gone."""
        self.signer.verify(name, expires, signature, time.time())  # first: nothing unsigned reaches storage
        self._parse(name)
        return self._fetch(name)

    @abstractmethod
    def read(self, name: str, *, now: float | None = None) -> bytes:
        """The bytes of `name`, no link needed (the server's own use). NotFound if gone or past its expiry."""

    @abstractmethod
    def delete(self, name: str) -> None:
        """Delete `name` now; deleting what is already gone is not an error."""

    @abstractmethod
    def sweep(self, now: float | None = None) -> int:
        """Delete every object whose own expiry has passed; return how many went."""

    @abstractmethod
    def _fetch(self, name: str) -> StoredObject:
        """The object behind a well-formed name whose link was verified; NotFound if gone."""

    def link_expiry(self, name: str, ttl_seconds: int | None, now: float | None) -> int:
        """When a link made now should expire: after its TTL, or with the object if that comes first."""
        expiry, _ = self._parse(name)
        return min(math.ceil((time.time() if now is None else now) + self._ttl(ttl_seconds)), expiry)

    def _ttl(self, ttl_seconds: int | None) -> int:
        """`ttl_seconds`, checked, or the store's TTL."""
        if ttl_seconds is None:
            return self.ttl_seconds
        check_ttl("ttl_seconds", ttl_seconds)
        return ttl_seconds

    @staticmethod
    def _parse(name: str) -> tuple[int, str]:
        """(expiry, extension) of `name`; NotFound for a name no store made (and for paths like `../x`)."""
        parsed = parse_name(name)
        if parsed is None:
            raise NotFound("No such image.")
        return parsed

    @classmethod
    def _parse_live(cls, name: str, now: float | None) -> tuple[int, str]:
        """As `_parse`, and NotFound once the object's expiry has passed, swept yet or not."""
        expiry, extension = cls._parse(name)
        if expiry < (time.time() if now is None else now):
            raise NotFound("No such image. It was deleted when its retention time ran out.")
        return expiry, extension
