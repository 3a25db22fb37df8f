"""Issued API keys end to end: `darkroom keys create/list/revoke` (the CLI, as a subprocess, on the
server's own config file) and the official Python SDK against a live `darkroom serve` on SQLite.

Keys are issued while the server runs, so every test also checks that a server sees keys created by
another process. Rate limits are checked through what the SDK makes of the 429s: `RateLimitError`,
Retry-After honoured by a retrying client, and `insufficient_quota` not retried.
"""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import time

import httpx
import openai
import pytest
from PIL import Image

from .conftest import LiveServer, create_key, darkroom_cli, free_port, start_server, stop_server

SETTINGS_KEY = "sk-settings-key"
PROMPT = "a lighthouse on a cliff, flat illustration"
REVOKE_S = 1.5  # a revoked key is refused by then: the server caches keys for a second


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> LiveServer:
    server = start_server(tmp_path_factory.mktemp("keys"), f'api_keys = ["{SETTINGS_KEY}"]\n', api_key=SETTINGS_KEY)
    yield server
    alive = server.process.poll() is None
    stop_server(server)
    assert alive, f"the server died during the tests:\n{server.log()}"


def sdk(server: LiveServer, key: str, **options) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.v1, api_key=key, timeout=30, **{"max_retries": 0, **options})


def generate(client: openai.OpenAI, n: int = 1, **extra):
    return client.images.generate(model="gpt-image-1", prompt=PROMPT, n=n, quality="low", **extra)


def refused_within(client: openai.OpenAI, seconds: float) -> float:
    """Poll until the key is refused with a 401; how long that took (fails past `seconds`)."""
    started = time.monotonic()
    while time.monotonic() - started < seconds + 1.0:
        try:
            client.models.list()
        except openai.AuthenticationError as exc:
            elapsed = time.monotonic() - started
            assert exc.code == "invalid_api_key"
            assert elapsed <= seconds, f"refused only after {elapsed:.2f} s"
            return elapsed
        time.sleep(0.05)
    pytest.fail(f"the revoked key was still accepted {seconds + 1.0} s after `keys revoke`")


def test_key_lifecycle_through_the_cli_and_the_sdk(live):
    key = create_key(live, "lifecycle")
    client = sdk(live, key)
    result = generate(client)
    assert len(result.data) == 1 and result.usage.output_tokens > 0
    assert "gpt-image-1" in [model.id for model in client.models.list()]

    listing = darkroom_cli(live, "keys", "list")
    assert listing.returncode == 0, listing.stderr
    [line] = [line for line in listing.stdout.splitlines() if line.startswith("lifecycle ")]
    assert line.split()[1:3] == [key[:7] + "…", "active"]
    assert key[7:] not in listing.stdout + listing.stderr  # the prefix only, never the key

    revoked = darkroom_cli(live, "keys", "revoke", "lifecycle")
    assert (revoked.returncode, revoked.stderr) == (0, "Key 'lifecycle' revoked.\n")
    refused_within(client, REVOKE_S)
    with pytest.raises(openai.AuthenticationError) as caught:
        generate(client)
    assert key not in str(caught.value.body) and key[-4:] in caught.value.message  # redacted: dr-***abcd
    [line] = [line for line in darkroom_cli(live, "keys", "list").stdout.splitlines() if line.startswith("lifecycle ")]
    assert line.split()[2] == "revoked"

    again = darkroom_cli(live, "keys", "revoke", "lifecycle")
    assert (again.returncode, again.stderr) == (1, "darkroom: no active key named 'lifecycle'\n")


def test_the_cli_refuses_a_duplicate_name_and_prints_no_key(live):
    create_key(live, "twice")
    done = darkroom_cli(live, "keys", "create", "--name", "twice")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines()[1:] == ["darkroom: A key named 'twice' already exists."]


def test_the_cli_refuses_a_zero_limit(live):
    done = darkroom_cli(live, "keys", "create", "--name", "zero", "--rpm", "0")
    assert (done.returncode, done.stdout) == (2, "")
    assert "--rpm: must be a positive integer" in done.stderr


def test_the_cli_issues_a_key_limited_to_models_with_a_budget(live):
    done = darkroom_cli(live, "keys", "create", "--name", "partner", "--models", " gpt-image-1, ,dall-e-3,gpt-image-1",
                        "--monthly-budget", "12.5")
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip()
    store = live.log_path.parent / "data" / "darkroom.db"
    assert done.stderr == (f"Key store: {store}\n"
                           "Key 'partner' created (12.5 USD/month, models gpt-image-1,dall-e-3). "
                           "This is the only time it is shown.\n")
    create_key(live, "everything")
    lines = {line.split()[0]: line.split() for line in darkroom_cli(live, "keys", "list").stdout.splitlines()}
    assert lines["name"][7:] == ["$/month", "created", "(UTC)", "models"]
    # name prefix status admin rpm img/min img/month $/month date time models
    assert (lines["partner"][7], lines["partner"][10]) == ("12.50", "gpt-image-1,dall-e-3")
    assert (lines["everything"][7], lines["everything"][10]) == ("-", "(all)")

    client = sdk(live, key)
    assert sorted(model.id for model in client.models.list()) == ["dall-e-3", "gpt-image-1"]
    assert len(generate(client).data) == 1  # a budget with nothing spent yet
    with pytest.raises(openai.NotFoundError) as caught:
        client.images.generate(model="gpt-image-1-mini", prompt=PROMPT, quality="low")
    assert caught.value.code == "model_not_found"


@pytest.mark.parametrize("flag, value, message", [
    ("--models", " , ", "--models: expected one or more model names, comma-separated"),
    ("--monthly-budget", "0", "--monthly-budget: must be a positive amount in dollars"),
    ("--monthly-budget", "-3", "--monthly-budget: must be a positive amount in dollars"),
    ("--monthly-budget", "nan", "--monthly-budget: must be a positive amount in dollars"),
    ("--monthly-budget", "ten", "--monthly-budget: must be an amount in dollars, e.g. 50 or 12.5"),
])
def test_the_cli_refuses_empty_models_and_bad_budgets(live, flag, value, message):
    done = darkroom_cli(live, "keys", "create", "--name", "refused", flag, value)
    assert (done.returncode, done.stdout) == (2, "")
    assert message in done.stderr
    assert "refused " not in darkroom_cli(live, "keys", "list").stdout


def test_the_cli_help_says_what_models_and_budgets_do(live):
    done = darkroom_cli(live, "keys", "create", "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "--monthly-budget USD what the key's requests may cost per calendar month (UTC)" in text
    assert "insufficient_quota" in text
    assert "--models A,B comma-separated models (or routes) the key may use" in text
    assert "model_not_found" in text


def test_an_unknown_key_is_refused(live):
    with pytest.raises(openai.AuthenticationError) as caught:
        sdk(live, "dr-" + "x" * 43).models.list()
    assert caught.value.code == "invalid_api_key"


def test_requests_per_minute(live):
    client = sdk(live, create_key(live, "rpm2", "--rpm", "2"))
    client.models.list()
    generate(client)
    with pytest.raises(openai.RateLimitError) as caught:
        client.models.list()
    error = caught.value
    assert (error.type, error.code) == ("requests", "rate_limit_exceeded")
    headers = error.response.headers
    assert int(headers["retry-after"]) >= 1
    assert (headers["x-ratelimit-limit-requests"], headers["x-ratelimit-remaining-requests"]) == ("2", "0")
    assert headers["x-ratelimit-reset-requests"].endswith("s")
    assert headers["x-request-id"].startswith("req_")


def test_successful_responses_carry_ratelimit_headers(live):
    client = sdk(live, create_key(live, "headers", "--rpm", "5", "--images-per-minute", "4"))
    listed = client.models.with_raw_response.list()
    assert (listed.headers.get("x-ratelimit-limit-requests"), listed.headers.get("x-ratelimit-remaining-requests")) \
        == ("5", "4")
    made = client.images.with_raw_response.generate(model="gpt-image-1", prompt=PROMPT, n=3, quality="low")
    assert made.headers.get("x-ratelimit-remaining-requests") == "3"
    assert (made.headers.get("x-ratelimit-limit-images"), made.headers.get("x-ratelimit-remaining-images")) \
        == ("4", "1")
    assert made.headers.get("x-ratelimit-reset-images", "").endswith("s")


def test_a_retrying_client_waits_for_the_bucket(live):
    key = create_key(live, "rpm60", "--rpm", "60")  # a token a second: Retry-After is 1 s
    with httpx.Client(base_url=live.v1, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        for _ in range(200):  # empty the bucket
            if http.get("/models").status_code == 429:
                break
        else:
            pytest.fail("the bucket of 60 requests per minute never emptied")
    statuses: list[int] = []
    hooks = {"response": [lambda response: statuses.append(response.status_code)]}
    with openai.DefaultHttpxClient(event_hooks=hooks) as http_client:
        client = openai.OpenAI(base_url=live.v1, api_key=key, timeout=30, http_client=http_client)  # 2 retries
        result = generate(client)
    assert len(result.data) == 1
    assert statuses == [429, 200]


def test_monthly_quota(live):
    key = create_key(live, "quota3", "--monthly-images", "3")
    client = sdk(live, key)
    assert len(generate(client, n=2).data) == 2
    with pytest.raises(openai.RateLimitError) as caught:
        generate(client, n=2)
    error = caught.value
    assert (error.type, error.code) == ("insufficient_quota", "insufficient_quota")
    assert "retry-after" not in error.response.headers
    assert error.response.headers["x-should-retry"] == "false"
    assert len(generate(client, n=1).data) == 1  # exactly the quota

    statuses: list[int] = []
    hooks = {"response": [lambda response: statuses.append(response.status_code)]}
    with openai.DefaultHttpxClient(event_hooks=hooks) as http_client:
        retrying = openai.OpenAI(base_url=live.v1, api_key=key, timeout=30, http_client=http_client)
        with pytest.raises(openai.RateLimitError):
            generate(retrying)
    assert statuses == [429]  # x-should-retry: false, so the SDK does not retry


def test_an_edit_is_charged_to_the_quota(live):
    client = sdk(live, create_key(live, "quota1", "--monthly-images", "1"))
    image = io.BytesIO()
    Image.new("RGB", (256, 256), (40, 120, 200)).save(image, "PNG")
    client.images.edit(model="gpt-image-1", image=("in.png", image.getvalue()), prompt=PROMPT, quality="low")
    with pytest.raises(openai.RateLimitError) as caught:
        client.images.edit(model="gpt-image-1", image=("in.png", image.getvalue()), prompt=PROMPT, quality="low")
    assert caught.value.code == "insufficient_quota"


def test_usage_is_for_admin_keys_only(live):
    plain = create_key(live, "not-admin")
    admin = create_key(live, "admin", "--admin")
    with httpx.Client(base_url=live.base_url, timeout=30) as http:
        def get(key: str) -> httpx.Response:
            return http.get("/v1/usage/images", headers={"Authorization": f"Bearer {key}"})

        refused = get(plain)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
        for key in (SETTINGS_KEY, admin):
            answer = get(key)
            assert answer.status_code == 200
            assert answer.json()["object"] == "page"


def test_the_database_holds_no_key(live):
    keys = [create_key(live, f"secret-{i}") for i in range(2)]
    data = live.log_path.parent / "data"
    stored = b"".join(path.read_bytes() for path in data.glob("darkroom.db*"))
    for key in keys:
        assert key[7:].encode() not in stored
    assert not any(key[7:] in live.log() for key in keys)


def test_keys_create_from_another_directory_uses_the_servers_store(tmp_path):
    """A config file with a relative data_dir: the CLI run from elsewhere finds the server's store (it used to
    make a second one in its own working directory, whose keys the server refused)."""
    workdir, other = tmp_path / "srv", tmp_path / "other"
    workdir.mkdir()
    other.mkdir()
    config = workdir / "relative.toml"
    config.write_text(f'data_dir = "data"\napi_keys = ["{SETTINGS_KEY}"]\n')
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DARKROOM_")}
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "darkroom", "serve", "--port", str(port), "--config",
                                    "relative.toml"], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    server = LiveServer(f"http://127.0.0.1:{port}", SETTINGS_KEY, process, log_path)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{server.base_url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert process.poll() is None, server.log()
        done = subprocess.run([sys.executable, "-m", "darkroom", "keys", "create", "--name", "elsewhere", "--config",
                               str(config)], capture_output=True, text=True, env=env, cwd=other, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stderr.startswith(f"Key store: {workdir / 'data' / 'darkroom.db'}\n")  # not "(new: ...)"
        assert list(other.iterdir()) == []  # no second store next to the CLI
        image = generate(sdk(server, done.stdout.strip())).data[0]
        assert Image.open(io.BytesIO(base64.b64decode(image.b64_json))).size == (1024, 1024)
        assert f"data directory {workdir / 'data'};" in server.log()
    finally:
        stop_server(server)
