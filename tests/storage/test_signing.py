from __future__ import annotations

from darkroom.storage.signing import load_or_create_key


def test_key_is_created_once_and_private(tmp_path):
    key = load_or_create_key("", tmp_path)
    assert len(key) == 32 and load_or_create_key("", tmp_path) == key
    assert (tmp_path / "url-signing.key").stat().st_mode & 0o777 == 0o600
    assert load_or_create_key("configured", tmp_path) == b"configured"
