"""Stored images in a local folder (`data_dir/images`), served by signed links and swept after their TTL."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path

from ..errors import NotFound
from .signing import LinkSigner

_NAME = re.compile(r"^[0-9a-f]{32}\.(png|jpeg|webp)$")


class LocalImageStore:
    def __init__(self, root: Path, signer: LinkSigner, ttl_seconds: int) -> None:
        self.root = root
        self.signer = signer
        self.ttl_seconds = ttl_seconds
        root.mkdir(parents=True, exist_ok=True)

    def save(self, data: bytes, extension: str) -> str:
        """Store `data` under a new random name and return the name."""
        name = f"{secrets.token_hex(16)}.{extension}"
        tmp = self.root / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(self.root / name)
        return name

    def signed_url(self, base_url: str, name: str, now: float | None = None) -> str:
        expires = int((now if now is not None else time.time()) + self.ttl_seconds)
        return f"{base_url}/v1/images/files/{name}?expires={expires}&signature={self.signer.sign(name, expires)}"

    def open(self, name: str, expires: str | None, signature: str | None) -> Path:
        """The file behind a link, after checking its signature and expiry."""
        if not _NAME.match(name):
            raise NotFound("No such image.")
        self.signer.verify(name, expires, signature, time.time())
        path = self.root / name
        if not path.is_file():
            raise NotFound("No such image. It may have been deleted after its link expired.")
        return path

    def sweep(self, now: float | None = None) -> int:
        """Delete images older than the link TTL; return how many went."""
        cutoff = (now if now is not None else time.time()) - self.ttl_seconds
        removed = 0
        for path in self.root.iterdir():
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed
