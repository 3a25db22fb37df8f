"""What only the local folder does: atomic writes, and sweeping what is not a stored image by its mtime."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from darkroom.config import ConfigError
from darkroom.errors import InsufficientStorage
from darkroom.storage.local import LocalImageStore
from darkroom.storage.signing import LinkSigner
from tests.storage.links import BASE, link_parts


def store(tmp_path, ttl=60) -> LocalImageStore:
    return LocalImageStore(tmp_path / "images", LinkSigner(b"k" * 32), ttl)


def age(path: Path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_a_link_opens_the_file(tmp_path):
    s = store(tmp_path)
    name = s.save(b"png-bytes", "png")
    found = s.open(*link_parts(s.url(BASE, name)))
    assert found.path == s.root / name and found.path.read_bytes() == b"png-bytes"
    assert found.media_type == "image/png" and found.data is None
    assert s.signed_url(BASE, name) == s.url(BASE, name)


def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    s = store(tmp_path)

    def disk_full(self, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", disk_full)
    with pytest.raises(InsufficientStorage) as caught:  # the client's 507, not a 500
        s.save(b"x" * 1000, "png")
    assert (caught.value.status, caught.value.code) == (507, "insufficient_storage")
    assert list(s.root.iterdir()) == []


def test_sweep_removes_stale_leftovers_by_mtime(tmp_path):
    s = store(tmp_path, ttl=60)
    crashed, writing = s.root / ".0123456789abcdef.tmp", s.root / ".fedcba9876543210.tmp"
    legacy_old, legacy_new = s.root / ("a" * 32 + ".png"), s.root / ("b" * 32 + ".png")
    for path in (crashed, writing, legacy_old, legacy_new):
        path.write_bytes(b"x")
    age(crashed, 120)
    age(legacy_old, 120)
    (s.root / "subdir").mkdir()
    age(s.root / "subdir", 120)
    kept = s.save(b"kept", "png")
    assert s.sweep() == 2
    assert sorted(p.name for p in s.root.iterdir()) == sorted([writing.name, legacy_new.name, "subdir", kept])


def test_a_bad_ttl_names_the_setting(tmp_path):
    with pytest.raises(ConfigError, match="'url_ttl_seconds': must be between 1 and"):
        store(tmp_path, ttl=0)
