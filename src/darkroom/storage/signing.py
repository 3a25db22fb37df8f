"""Signed, expiring links: HMAC-SHA256 over the stored name and the expiry time.

A link is `.../v1/images/files/{name}?expires={unix_seconds}&signature={sig}`. `name` is a random
128-bit id plus the extension, so it cannot be guessed; the signature makes it impossible to extend
the expiry or point the link at another file without the server's key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

from ..errors import PermissionDenied

INVALID_LINK = "This image link is not valid: its signature does not match it. Use the link exactly as it was given."
_EXPIRY = re.compile(r"[0-9]{1,12}")  # ASCII digits only: int() also reads Arabic-Indic digits and fails on "²"


class LinkSigner:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def sign(self, name: str, expires: int) -> str:
        digest = hmac.new(self._key, f"{name}\n{expires}".encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    def verify(self, name: str, expires: str | None, signature: str | None, now: float) -> None:
        """Raise PermissionDenied unless the signature matches and the link has not expired.

        A missing, malformed or tampered link (expiry, name or signature changed) gets one answer,
        the same for every file, existing or not; only a genuine link past its expiry says so.
        """
        if not expires or not signature or not _EXPIRY.fullmatch(expires) or not hmac.compare_digest(
                self.sign(name, int(expires)).encode(), signature.encode("utf-8", "surrogatepass")):
            raise PermissionDenied(INVALID_LINK)
        if int(expires) < now:
            raise PermissionDenied("This image link has expired. Links are valid for a limited time after generation.")


def load_or_create_key(configured: str, data_dir: Path) -> bytes:
    """The configured key, or one kept in `data_dir/url-signing.key` so links survive restarts."""
    if configured:
        return configured.encode()
    path = data_dir / "url-signing.key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key
