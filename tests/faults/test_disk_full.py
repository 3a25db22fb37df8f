"""The data directory's disk full under a live `darkroom serve`: a small tmpfs (we run as root) holds
the SQLite metadata store and the local image store, and the test fills it.

While it is full, what must write is refused cleanly: a `url` response (its image must be stored) is
507 `insufficient_storage` in the envelope, never a 500; `b64_json` responses need no disk and keep
being served; the ledger cannot commit, so it holds its rows. Once space is freed `url` responses
work again and the ledger writes every row it held, each once. The server never stops.
"""

from __future__ import annotations

import base64
import errno
import io
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import openai
import pytest
from PIL import Image

from ..conftest import LiveServer, start_server, stop_server

SETTINGS_KEY = "sk-disk-full"
PROMPT = "a full shelf of books, flat illustration"
TMPFS_SIZE = "4m"  # room for the store and a few images; the WAL stays far below it in these tests


@pytest.fixture()
def small_disk(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(data)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (mount said: {mounted.stderr.strip()}): this test needs root "
                    "and the mount permission")
    yield data
    subprocess.run(["umount", "-l", str(data)], capture_output=True, check=False)


@pytest.fixture()
def server(small_disk: Path) -> LiveServer:
    live = start_server(small_disk.parent, f'api_keys = ["{SETTINGS_KEY}"]\n', api_key=SETTINGS_KEY)
    assert Path(small_disk / "darkroom.db").exists()  # the store is on the small disk
    yield live
    alive = live.process.poll() is None
    stop_server(live)
    assert alive, f"the server died:\n{live.log()}"


def fill(folder: Path) -> Path:
    """Write a file until the disk has not a byte left; return it (delete it to free the space)."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 1 << 12, 1):  # big chunks, then what is left of the last pages
            for _ in range(4096):  # bounded: 256 MiB in the first round, far past the tmpfs's size
                try:
                    os.write(fd, b"\0" * size)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
            else:
                raise AssertionError("the disk never filled up")
    finally:
        os.close(fd)
    return filler


def request(client: openai.OpenAI, response_format: str) -> tuple[int, str, str | None, openai.types.Image | None]:
    try:
        raw = client.images.with_raw_response.generate(model="dall-e-2", prompt=PROMPT, size="256x256",
                                                       response_format=response_format)
    except openai.APIStatusError as exc:
        body = exc.response.json()
        assert set(body["error"]) >= {"message", "type", "param", "code"}, body
        return exc.status_code, exc.response.headers["x-request-id"], body["error"]["code"], None
    return raw.status_code, raw.headers["x-request-id"], None, raw.parse().data[0]


def check_image(item: openai.types.Image) -> None:
    data = base64.b64decode(item.b64_json) if item.b64_json else httpx.get(item.url, timeout=30).content
    assert Image.open(io.BytesIO(data)).size == (256, 256)


def ledger(db: Path) -> dict[str, list[int]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        rows = conn.execute("SELECT request_id, status FROM usage").fetchall()
    found: dict[str, list[int]] = {}
    for request_id, status in rows:
        found.setdefault(request_id, []).append(status)
    return found


def test_a_full_data_disk(small_disk, server):
    answered: dict[str, int] = {}
    with openai.OpenAI(base_url=server.v1, api_key=SETTINGS_KEY, max_retries=0, timeout=60) as client:
        for response_format in ("url", "b64_json"):
            status, request_id, code, item = request(client, response_format)
            assert status == 200, code
            check_image(item)
            answered[request_id] = status

        # An empty WAL, as after a restart: the ledger's next commit must grow the file, and cannot.
        with sqlite3.connect(small_disk / "darkroom.db", timeout=10) as conn:
            assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0  # 0: not blocked
        filler = fill(small_disk)
        for _ in range(3):
            status, request_id, code, _ = request(client, "url")
            assert (status, code) == (507, "insufficient_storage")
            answered[request_id] = status
            status, request_id, code, item = request(client, "b64_json")
            assert status == 200, code  # no disk needed
            check_image(item)
            answered[request_id] = status
        assert not [p for p in (small_disk / "images").iterdir() if p.name.endswith(".tmp")]  # no partial file
        for _ in range(100):  # keep the disk full until the ledger has tried to write these rows
            if "usage ledger could not write" in server.log():
                break
            time.sleep(0.1)
        status, request_id, code, item = request(client, "b64_json")  # still served meanwhile
        assert status == 200, code
        answered[request_id] = status

        filler.unlink()
        for _ in range(3):
            status, request_id, code, item = request(client, "url")
            assert status == 200, code
            check_image(item)
            answered[request_id] = status

    found: dict[str, list[int]] = {}
    for _ in range(100):  # the rows held while the disk was full are written on the ledger's next try
        found = ledger(small_disk / "darkroom.db")
        if set(answered) <= set(found):
            break
        time.sleep(0.2)
    assert {request_id: found.get(request_id) for request_id in answered} == {
        request_id: [status] for request_id, status in answered.items()}  # all there, exactly once
    log = server.log()
    assert "disk is full" in log and "writing again" in log  # the ledger did hold rows and retried
    assert "Traceback" not in log
