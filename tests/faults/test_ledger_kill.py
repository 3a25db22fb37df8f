"""SIGKILL of a live `darkroom serve` and its usage ledger (src/darkroom/store/ledger.py: rows are
queued and written by a thread in batches, at most every FLUSH_SECONDS; a row exists only once its
response has gone out, so it cannot be durable before the response).

What the ledger promises, and these tests hold it to:

- a row it reports as written (`darkroom_ledger_rows_written_total`, and the rows `GET /v1/usage/images`
  counts) survives the kill;
- what a kill loses is at most what it reported as pending (`darkroom_ledger_rows_pending`) when last
  asked, plus the rows of requests answered since (and of the requests whose answer had reached the
  client but whose row was not recorded yet: at most one per client connection);
- once it has reported nothing pending, a kill loses nothing;
- the SQLite file is not corrupted: the server starts again on the same data directory and serves.
"""

from __future__ import annotations

import base64
import io
import re
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import openai
from PIL import Image

from ..conftest import LiveServer, start_server, stop_server

SETTINGS_KEY = "sk-ledger-kill"  # a settings key is an admin key: it may read /v1/usage/images
CONFIG = f'api_keys = ["{SETTINGS_KEY}"]\n'
PROMPT = "a ledger book on a desk, flat illustration"
CLIENTS = 8
PER_CLIENT = 150  # bounded: the kill comes long before


def ledger_metrics(server: LiveServer) -> tuple[int, int]:
    """(rows written, rows pending) from the server's /metrics."""
    text = httpx.get(f"{server.base_url}/metrics", timeout=30).text
    written = re.search(r"^darkroom_ledger_rows_written_total (\S+)$", text, re.M)
    pending = re.search(r"^darkroom_ledger_rows_pending (\S+)$", text, re.M)
    assert written and pending, text
    return int(float(written[1])), int(float(pending[1]))


def usage_requests(server: LiveServer) -> int:
    """Successful image requests in the ledger, as `GET /v1/usage/images` reports them."""
    yesterday = int(time.time()) // 86400 * 86400 - 86400  # two daily buckets: today's and yesterday's
    response = httpx.get(f"{server.v1}/usage/images", params={"start_time": yesterday, "bucket_width": "1d"},
                         headers={"Authorization": f"Bearer {SETTINGS_KEY}"}, timeout=30)
    assert response.status_code == 200, response.text
    total = 0
    for bucket in response.json()["data"]:
        total += sum(result["num_model_requests"] for result in bucket["results"])
    return total


def generate(client: openai.OpenAI) -> str:
    raw = client.images.with_raw_response.generate(model="dall-e-2", prompt=PROMPT, size="256x256",
                                                   response_format="b64_json")
    image = Image.open(io.BytesIO(base64.b64decode(raw.parse().data[0].b64_json)))
    assert image.size == (256, 256)
    return raw.headers["x-request-id"]


def stored(db: Path) -> list[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return [row[0] for row in conn.execute("SELECT request_id FROM usage WHERE status = 200")]


def kill(server: LiveServer) -> None:
    server.process.kill()  # SIGKILL: no shutdown, no last flush
    server.process.wait(timeout=30)


def test_sigkill_loses_only_what_was_pending(tmp_path):
    workdir = tmp_path / "server"
    db = workdir / "data" / "darkroom.db"
    server = start_server(workdir, CONFIG, api_key=SETTINGS_KEY)
    try:
        # 1. A quiet server that reported nothing pending loses nothing.
        with openai.OpenAI(base_url=server.v1, api_key=SETTINGS_KEY, max_retries=0, timeout=60) as client:
            quiet = [generate(client) for _ in range(10)]
        for _ in range(100):
            written, pending = ledger_metrics(server)
            if pending == 0 and written == len(quiet):
                break
            time.sleep(0.05)
        assert (written, pending) == (len(quiet), 0)
        assert usage_requests(server) == len(quiet)
        kill(server)
        assert sorted(stored(db)) == sorted(quiet)

        # 2. Killed under load, just after it said what was pending.
        server = start_server(workdir, CONFIG, api_key=SETTINGS_KEY)  # the same data directory
        answered: list[str] = []  # request ids, in the order their answers arrived
        lock, stop = threading.Lock(), threading.Event()

        def load() -> None:
            with openai.OpenAI(base_url=server.v1, api_key=SETTINGS_KEY, max_retries=0, timeout=60) as client:
                for _ in range(PER_CLIENT):
                    if stop.is_set():
                        return
                    try:
                        request_id = generate(client)
                    except openai.APIConnectionError:  # the server was killed mid-request
                        return
                    with lock:
                        answered.append(request_id)

        threads = [threading.Thread(target=load) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        reported = 0
        for _ in range(600):  # until the ledger has committed rows of this run and the load is well under way
            reported = usage_requests(server) - len(quiet)
            if reported > 0 and len(answered) >= 60:
                break
            time.sleep(0.05)
        assert reported > 0
        with lock:
            seen = len(answered)
        written, pending = ledger_metrics(server)
        kill(server)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)

        rows = stored(db)
        this_run = set(rows) - set(quiet)
        assert len(rows) == len(set(rows))  # none written twice
        assert set(quiet) <= set(rows)
        assert len(this_run) >= max(written, reported)  # everything reported as written is there
        lost = set(answered) - this_run
        since = len(answered) - seen  # answers that arrived after the metrics were read
        assert len(lost) <= pending + since + CLIENTS, (len(lost), pending, since)

        # 3. The same data directory serves again, and its ledger goes on.
        server = start_server(workdir, CONFIG, api_key=SETTINGS_KEY)
        with openai.OpenAI(base_url=server.v1, api_key=SETTINGS_KEY, max_retries=0, timeout=60) as client:
            after = generate(client)
        for _ in range(100):
            if after in stored(db):
                break
            time.sleep(0.05)
        assert after in stored(db)
        print(f"answered {len(answered)}, in the ledger {len(this_run)}, lost {len(lost)}; at the last scrape "
              f"{written} written, {pending} pending, {since} answered after it")
    finally:
        stop_server(server)
