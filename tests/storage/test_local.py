from __future__ import annotations

import os
import time

import pytest

from darkroom.errors import NotFound, PermissionDenied
from darkroom.storage.local import LocalImageStore
from darkroom.storage.signing import LinkSigner, load_or_create_key


def store(tmp_path, ttl=60) -> LocalImageStore:
    return LocalImageStore(tmp_path / "images", LinkSigner(b"k" * 32), ttl)


def query(url: str) -> tuple[str, str, str]:
    path, _, qs = url.partition("?")
    params = dict(p.split("=", 1) for p in qs.split("&"))
    return path.rsplit("/", 1)[1], params["expires"], params["signature"]


def test_round_trip(tmp_path):
    s = store(tmp_path)
    name = s.save(b"png-bytes", "png")
    assert len(name) == 36 and name.endswith(".png")
    url = s.signed_url("http://h", name)
    assert s.open(*query(url)).read_bytes() == b"png-bytes"


def test_signature_binds_name_and_expiry(tmp_path):
    s = store(tmp_path)
    name, expires, signature = query(s.signed_url("http://h", s.save(b"x", "png")))
    other = s.save(b"y", "png")
    with pytest.raises(PermissionDenied):
        s.open(other, expires, signature)
    with pytest.raises(PermissionDenied):
        s.open(name, str(int(expires) + 1), signature)
    with pytest.raises(PermissionDenied):
        s.open(name, expires, None)
    with pytest.raises(NotFound):
        s.open("../../etc/passwd", expires, signature)


def test_expired_link(tmp_path):
    s = store(tmp_path, ttl=60)
    name = s.save(b"x", "png")
    url = s.signed_url("http://h", name, now=time.time() - 120)
    with pytest.raises(PermissionDenied, match="expired"):
        s.open(*query(url))


def test_sweep_removes_old_files_only(tmp_path):
    s = store(tmp_path, ttl=60)
    old, new = s.save(b"old", "png"), s.save(b"new", "png")
    past = time.time() - 120
    os.utime(s.root / old, (past, past))
    assert s.sweep() == 1
    assert not (s.root / old).exists() and (s.root / new).exists()


def test_key_is_created_once_and_private(tmp_path):
    key = load_or_create_key("", tmp_path)
    assert len(key) == 32 and load_or_create_key("", tmp_path) == key
    assert (tmp_path / "url-signing.key").stat().st_mode & 0o777 == 0o600
    assert load_or_create_key("configured", tmp_path) == b"configured"
