"""Stored images in a local folder (`data_dir/images`), served by Darkroom's signed links.

Each file is written under a hidden temporary name and renamed into place, so a name never points at
a partial file. Its expiry is in its name (see `base.py`). Anything else in the folder (a temporary
file left by a crash, a file named before expiries were kept in names) is swept once its mtime is
older than the store's TTL. A full disk makes `save` raise InsufficientStorage (507
`insufficient_storage`), leaving no partial file behind.
"""

from __future__ import annotations

import errno
import logging
import secrets
import time
from pathlib import Path

from ..errors import InsufficientStorage, NotFound
from .base import MEDIA_TYPES, ImageStore, StoredObject, new_name, parse_name
from .signing import LinkSigner

log = logging.getLogger("darkroom.storage")


class LocalImageStore(ImageStore):
    def __init__(self, root: Path, signer: LinkSigner, ttl_seconds: int) -> None:
        super().__init__(signer, ttl_seconds)
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def save(self, data: bytes, extension: str, *, ttl_seconds: int | None = None) -> str:
        name = new_name(extension, self._ttl(ttl_seconds), time.time())
        tmp = self.root / f".{secrets.token_hex(8)}.tmp"
        try:
            tmp.write_bytes(data)
            tmp.replace(self.root / name)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                log.error("cannot store an image in %s: the disk is full", self.root)
                raise InsufficientStorage("The server's image store is out of disk space. Try again later, or "
                                          "ask for b64_json.") from exc
            raise
        finally:
            tmp.unlink(missing_ok=True)
        return name

    def read(self, name: str, *, now: float | None = None) -> bytes:
        self._parse_live(name, now)
        try:
            return (self.root / name).read_bytes()
        except FileNotFoundError:
            raise NotFound("No such image. It may have been deleted.") from None

    def delete(self, name: str) -> None:
        self._parse(name)
        (self.root / name).unlink(missing_ok=True)

    def sweep(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        removed = 0
        for path in self.root.iterdir():
            try:
                if self._expired(path, now):
                    path.unlink()
                    removed += 1
            except FileNotFoundError:  # deleted meanwhile
                continue
        return removed

    def _fetch(self, name: str) -> StoredObject:
        path = self.root / name
        if not path.is_file():
            raise NotFound("No such image. It may have been deleted after its link expired.")
        return StoredObject(name, MEDIA_TYPES[parse_name(name)[1]], path=path)

    def _expired(self, path: Path, now: float) -> bool:
        parsed = parse_name(path.name)
        if parsed is not None:
            return parsed[0] < now
        return path.is_file() and path.stat().st_mtime < now - self.ttl_seconds
