"""Images kept by `store_all`: each generated image stays in the image store for
`store_all_ttl_seconds` with its request's metadata, and only the key that made it can list or fetch it.

The image itself is in the image store (`storage/`, local or S3) under an object name that carries
its expiry; this table holds who made it and how. `sweep` drops the rows of images past their
expiry (the image store's own sweep deletes the objects).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass

import sqlalchemy as sa

from .database import translated
from .schema import stored_images


@dataclass(frozen=True, slots=True)
class KeptImage:
    id: str
    key_name: str | None
    request_id: str
    object_name: str
    created_at: float
    expires_at: float
    model: str
    operation: str
    prompt: str
    size: str
    output_format: str
    seed: int

    def public(self) -> dict:
        """What the owner sees (not the object name, which the link already carries)."""
        fields = asdict(self)
        del fields["object_name"], fields["key_name"]
        return {"object": "image.kept", **fields, "created_at": int(self.created_at),
                "expires_at": int(self.expires_at)}


class KeptImages:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    @translated
    def add(self, **fields) -> KeptImage:  # noqa: ANN003 - the columns of `stored_images` but `id`
        image = KeptImage(id=secrets.token_hex(16), **fields)
        with self.engine.begin() as conn:
            conn.execute(sa.insert(stored_images).values(**asdict(image)))
        return image

    @translated
    def list(self, key_name: str | None, limit: int = 100) -> list[KeptImage]:
        query = (sa.select(stored_images).where(_owned(key_name), stored_images.c.expires_at > time.time())
                 .order_by(stored_images.c.created_at.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [KeptImage(**row) for row in conn.execute(query).mappings()]

    @translated
    def get(self, image_id: str, key_name: str | None) -> KeptImage | None:
        """The image if `key_name` owns it and it has not expired; None otherwise (never saying which)."""
        query = sa.select(stored_images).where(stored_images.c.id == image_id, _owned(key_name),
                                               stored_images.c.expires_at > time.time())
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return KeptImage(**row) if row is not None else None

    @translated
    def sweep(self, now: float | None = None) -> int:
        with self.engine.begin() as conn:
            return conn.execute(sa.delete(stored_images).where(
                stored_images.c.expires_at <= (now if now is not None else time.time()))).rowcount


def _owned(key_name: str | None) -> sa.ColumnElement[bool]:
    return stored_images.c.key_name.is_(None) if key_name is None else stored_images.c.key_name == key_name
