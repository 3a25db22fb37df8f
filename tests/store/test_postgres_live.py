"""Two `darkroom serve` processes sharing one PostgreSQL store (`database_url` in both configs, a data
directory each), as several nodes behind a load balancer would: keys issued with the CLI work on
both, a requests-per-minute limit is one budget across both, a revocation reaches both within the
cache second, and both write the one usage ledger.

The two servers start at the same moment on an empty database, so they also migrate it together.
"""

from __future__ import annotations

import concurrent.futures
import time

import httpx
import openai
import pytest
import sqlalchemy as sa

from ..conftest import LiveServer, create_key, darkroom_cli, start_server, stop_server

SETTINGS_KEY = "sk-settings-key"
PROMPT = "two lighthouses facing each other, flat illustration"
REVOKE_S = 1.5


@pytest.fixture(scope="module")
def shared_url(postgres) -> str:
    return postgres.create_database("shared")


@pytest.fixture(scope="module")
def servers(shared_url, tmp_path_factory) -> tuple[LiveServer, LiveServer]:
    config = f'api_keys = ["{SETTINGS_KEY}"]\ndatabase_url = "{shared_url}"\n'
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        starting = [pool.submit(start_server, tmp_path_factory.mktemp(f"node-{name}"), config, api_key=SETTINGS_KEY)
                    for name in "ab"]
        started = [future.result() for future in starting]
    yield tuple(started)
    alive = [server.process.poll() is None for server in started]
    for server in started:
        stop_server(server)
    assert all(alive), "a server died during the tests:\n" + "\n".join(s.log() for s in started)


def sdk(server: LiveServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.v1, api_key=key, max_retries=0, timeout=30)


def test_both_servers_use_the_shared_database(servers, shared_url):
    for server in servers:
        assert not (server.log_path.parent / "data" / "darkroom.db").exists()
    engine = sa.create_engine(shared_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    finally:
        engine.dispose()


def test_a_key_issued_against_the_database_works_on_both(servers):
    key = create_key(servers[0], "everywhere")
    for server in servers:
        client = sdk(server, key)
        assert "gpt-image-1" in [model.id for model in client.models.list()]
        assert len(client.images.generate(model="gpt-image-1", prompt=PROMPT, quality="low").data) == 1


def test_requests_per_minute_is_one_budget_across_both(servers):
    key = create_key(servers[1], "shared-rpm", "--rpm", "4")
    clients = [sdk(server, key) for server in servers]
    remaining = []
    for i in range(4):  # a, b, a, b
        response = clients[i % 2].models.with_raw_response.list()
        remaining.append(response.headers.get("x-ratelimit-remaining-requests"))
    assert remaining == ["3", "2", "1", "0"]
    for client in clients:
        with pytest.raises(openai.RateLimitError) as caught:
            client.models.list()
        assert caught.value.code == "rate_limit_exceeded"
        assert caught.value.response.headers["x-ratelimit-remaining-requests"] == "0"
        assert int(caught.value.response.headers["retry-after"]) >= 1


def test_a_revoked_key_is_refused_by_both(servers):
    key = create_key(servers[0], "short-lived")
    clients = [sdk(server, key) for server in servers]
    for client in clients:
        client.models.list()  # now in each server's cache
    done = darkroom_cli(servers[1], "keys", "revoke", "short-lived")
    assert done.returncode == 0, done.stderr
    started = time.monotonic()
    pending = set(range(len(clients)))
    while pending and time.monotonic() - started < REVOKE_S + 1.0:
        for i in list(pending):
            try:
                clients[i].models.list()
            except openai.AuthenticationError:
                pending.discard(i)
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    assert not pending, f"server(s) {sorted(pending)} still accepted the revoked key after {elapsed:.2f} s"
    assert elapsed <= REVOKE_S


def test_the_ledger_holds_the_requests_of_both(servers, shared_url):
    key = create_key(servers[0], "ledger")
    request_ids = {sdk(server, key).images.generate(model="gpt-image-1", prompt=PROMPT, quality="low")._request_id: i
                   for i, server in enumerate(servers)}
    engine = sa.create_engine(shared_url)
    try:
        deadline = time.monotonic() + 5
        while True:
            with engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT request_id, key_name, status FROM usage WHERE key_name = 'ledger'"))
                found = {row.request_id: (row.key_name, row.status) for row in rows}
            if len(found) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        engine.dispose()
    assert found == {request_id: ("ledger", 200) for request_id in request_ids}

    # Either server's usage endpoint (and the CLI) reads the one ledger.
    for server in servers:
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {SETTINGS_KEY}"}) as http:
            page = http.get("/v1/usage/images", params={"group_by": "api_key_id", "api_key_id": "ledger"}).json()
        results = [result for bucket in page["data"] for result in bucket["results"]]
        assert sum(result["num_model_requests"] for result in results) == 2
    listed = darkroom_cli(servers[1], "usage", "--requests", "--key", "ledger")
    assert listed.returncode == 0, listed.stderr
    assert {line.split()[-1] for line in listed.stdout.splitlines()[1:]} == set(request_ids)
