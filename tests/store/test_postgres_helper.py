"""The test helper tests/postgres.py itself: without PostgreSQL installed, a test that needs it fails
(never skips) and says how to install it."""

from __future__ import annotations

import pytest

from .. import postgres


def test_without_postgresql_the_tests_fail_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setattr(postgres.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(postgres.shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match=r"^PostgreSQL is not installed: run scripts/install-postgres"):
        postgres.start_postgres(tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing started, nothing left


def test_the_newest_installed_version_is_used(monkeypatch):
    found = ["/usr/lib/postgresql/9.6/bin/initdb", "/usr/lib/postgresql/16/bin/initdb",
             "/usr/lib/postgresql/15/bin/initdb"]
    monkeypatch.setattr(postgres.glob, "glob", lambda pattern: found)
    assert str(postgres.find_bin_dir()) == "/usr/lib/postgresql/16/bin"
