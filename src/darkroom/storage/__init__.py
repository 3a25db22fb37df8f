"""Where image bytes live when a response carries a `url`: one interface (`base.ImageStore`), two backends.

    local  a folder (`data_dir/images`), served by Darkroom's signed links          `local.py`
    s3     an S3 or S3-compatible bucket, behind presigned or Darkroom-served links  `s3.py` (extra `s3`)

Each stored object carries its own expiry; a periodic `sweep` deletes what is past it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from ..config import ConfigError
from .base import ImageStore, StoredObject
from .signing import LinkSigner

__all__ = ["ImageStore", "StoredObject", "build_store"]


def build_store(kind: Literal["local", "s3"], *, root: Path, signer: LinkSigner, ttl_seconds: int,
                s3_bucket: str = "", s3_endpoint_url: str | None = None, s3_region: str | None = None,
                s3_prefix: str = "", s3_presign: bool = True) -> ImageStore:
    """The configured store. Raises ConfigError (naming the setting) for a bad one; S3 checks its bucket here."""
    if kind == "local":
        from .local import LocalImageStore

        return LocalImageStore(root, signer, ttl_seconds)
    if kind == "s3":
        from .s3 import S3ImageStore

        return S3ImageStore(s3_bucket, signer, ttl_seconds, endpoint_url=s3_endpoint_url or None,
                            region=s3_region or None, prefix=s3_prefix, presign=s3_presign)
    raise ConfigError(f"Invalid setting 'storage': must be 'local' or 's3' but is {kind!r}.")
