"""No secret reaches a place a user or an operator reads: the log file, /metrics, /health, /v1/models,
error bodies or response headers.

One live server holds every kind of secret Darkroom has: a settings API key, a key issued by
`darkroom keys create`, an upstream model's key (read from the environment), an OpenAI moderation
key (pointed at a closed port, so every remote check fails) and the link-signing key. It logs at
debug, the most it can say. Requests succeed, fail (no key, a wrong key, bad input, an upstream that
is down, one that refuses the key and echoes it, remote moderation down), stream and return links;
then everything the server said is searched for each secret and for its first and last 12
characters.
"""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys

import httpx
import openai
import pytest

from tests.conftest import closed_port, create_key, start_server, stop_server
from tests.gateway.faulty import FaultyUpstream, Status

SETTINGS_KEY = f"sk-settings-{secrets.token_hex(12)}"
UPSTREAM_KEY = f"sk-upstream-{secrets.token_hex(12)}"
MODERATION_KEY = f"sk-moderate-{secrets.token_hex(12)}"
SIGNING_KEY = f"signing-key-{secrets.token_hex(12)}"


def config(upstream: FaultyUpstream, on_error: str = "allow") -> str:
    return f"""
log_level = "debug"
api_keys = ["{SETTINGS_KEY}"]
url_signing_key = "{SIGNING_KEY}"
moderation_openai_api_key = "{MODERATION_KEY}"
moderation_openai_base_url = "http://127.0.0.1:{closed_port()}/v1"
moderation_openai_on_error = "{on_error}"
moderation_openai_timeout_seconds = 2

[[models]]
name = "upstream-ok"
engine = "upstream"
family = "gpt-image"
base_url = "{upstream.base_url}/v1"
api_key_env = "SECURITY_UPSTREAM_KEY"
max_retries = 0

[[models]]
name = "upstream-down"
engine = "upstream"
family = "gpt-image"
base_url = "http://127.0.0.1:{closed_port()}/v1"
api_key_env = "SECURITY_UPSTREAM_KEY"
max_retries = 0
"""


def fragments(secret: str) -> list[str]:
    return [secret, secret[:12], secret[-12:]]


def assert_no_secret(where: str, text: str, extra: tuple[str, ...] = ()) -> None:
    for secret in (SETTINGS_KEY, UPSTREAM_KEY, MODERATION_KEY, SIGNING_KEY, *extra):
        for piece in fragments(secret):
            assert piece not in text, f"{piece!r} (of a secret) appears in {where}:\n{text[:2000]}"


def near_miss(key: str) -> str:
    """`key` with its last character changed."""
    return key[:-1] + ("A" if key[-1] != "A" else "B")


def seen(response: httpx.Response) -> str:
    """What a client sees of a response: its status, headers and body."""
    return f"{response.status_code}\n{json.dumps(dict(response.headers))}\n{response.text}"


@pytest.fixture(scope="module")
def upstream():
    with FaultyUpstream() as fake:
        yield fake


@pytest.fixture(scope="module")
def live(tmp_path_factory, upstream):
    server = start_server(tmp_path_factory.mktemp("secrets"), config(upstream), api_key=SETTINGS_KEY,
                          env={"SECURITY_UPSTREAM_KEY": UPSTREAM_KEY})
    yield server
    stop_server(server)


def test_no_secret_in_logs_metrics_health_errors_or_headers(live, upstream):
    issued = create_key(live, "web-app")
    answers: list[httpx.Response] = []
    with httpx.Client(base_url=live.base_url, timeout=60) as http:
        def call(method: str, path: str, key: str | None, **kwargs) -> httpx.Response:
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            answer = http.request(method, path, headers=headers, **kwargs)
            answers.append(answer)
            return answer

        gen = "/v1/images/generations"
        # Successes: b64 with the settings key, a url (and its link) with the issued key, a stream.
        ok = call("POST", gen, SETTINGS_KEY, json={"model": "gpt-image-1", "prompt": "a lighthouse", "quality": "low"})
        assert ok.status_code == 200 and base64.b64decode(ok.json()["data"][0]["b64_json"])[:4] == b"\x89PNG"
        linked = call("POST", gen, issued, json={"model": "dall-e-2", "prompt": "a lighthouse", "size": "256x256",
                                                 "response_format": "url"})
        assert linked.status_code == 200, linked.text
        link = linked.json()["data"][0]["url"]
        assert call("GET", link, None).content[:4] == b"\x89PNG"
        assert call("GET", link.replace("signature=", "signature=x"), None).status_code == 403
        streamed = call("POST", gen, issued, json={"model": "gpt-image-1", "prompt": "a lighthouse", "stream": True,
                                                   "partial_images": 1, "quality": "low"})
        assert streamed.status_code == 200 and "image_generation.completed" in streamed.text
        # The upstream: a success (with its key, as sent), a 401 echoing the key back, a 400 quoting it.
        upstream.reset()
        assert call("POST", gen, SETTINGS_KEY, json={"model": "upstream-ok", "prompt": "a lighthouse"}).status_code == 200
        assert upstream.calls[-1].headers["authorization"] == f"Bearer {UPSTREAM_KEY}"  # the key was really used
        echo = {"message": f"Incorrect API key provided: {UPSTREAM_KEY}.", "type": "invalid_request_error",
                "param": None, "code": "invalid_api_key"}
        upstream.script(Status(401, echo), Status(400, {**echo, "code": None}))
        assert call("POST", gen, SETTINGS_KEY, json={"model": "upstream-ok", "prompt": "x"}).status_code == 502
        assert call("POST", gen, SETTINGS_KEY, json={"model": "upstream-ok", "prompt": "x"}).status_code == 400
        upstream_stream = call("POST", gen, issued, json={"model": "upstream-ok", "prompt": "x", "stream": True})
        assert upstream_stream.status_code == 200 and "image_generation.completed" in upstream_stream.text
        # Failures: no key, wrong keys (one a near miss of each real key), bad input, an upstream down.
        assert call("POST", gen, None, json={"prompt": "x"}).status_code == 401
        for wrong in (near_miss(SETTINGS_KEY), near_miss(issued), UPSTREAM_KEY, MODERATION_KEY, SIGNING_KEY):
            assert call("POST", gen, wrong, json={"prompt": "x"}).status_code == 401
        assert call("POST", gen, SETTINGS_KEY, json={"prompt": "x", "size": "7x7"}).status_code == 400
        assert call("POST", gen, SETTINGS_KEY, content=b"{not json").status_code == 400
        down = call("POST", gen, SETTINGS_KEY, json={"model": "upstream-down", "prompt": "x"})
        assert down.status_code == 502 and down.json()["error"]["code"] == "upstream_unreachable"
        # What operators and monitoring read.
        for path, key in (("/metrics", None), ("/health", None), ("/v1/models", SETTINGS_KEY),
                          ("/v1/models", issued), ("/v1/usage/images?group_by=api_key_id", SETTINGS_KEY),
                          ("/openapi.json", None), ("/v1/nowhere", SETTINGS_KEY)):
            assert call("GET", path, key).status_code in (200, 404), path
    assert "OpenAI moderation failed" in live.log()  # the remote check was tried, and failed, every time
    for answer in answers:
        assert_no_secret(f"the answer to {answer.request.method} {answer.request.url.path}", seen(answer),
                         extra=(issued,))
    assert_no_secret("the server log", live.log(), extra=(issued,))
    key_file = live.log_path.parent / "data" / "url-signing.key"
    assert not key_file.exists()  # the configured signing key is used, not a generated one


def test_remote_moderation_down_refuses_without_its_key(tmp_path, upstream):
    server = start_server(tmp_path, config(upstream, on_error="block"), api_key=SETTINGS_KEY,
                          env={"SECURITY_UPSTREAM_KEY": UPSTREAM_KEY})
    try:
        with openai.OpenAI(base_url=server.v1, api_key=SETTINGS_KEY, max_retries=0, timeout=60) as client:
            with pytest.raises(openai.APIStatusError) as refused:
                client.images.generate(model="gpt-image-1", prompt="a lighthouse")
        assert refused.value.status_code == 503 and refused.value.code == "moderation_unavailable"
        assert_no_secret("the 503", seen(refused.value.response))
    finally:
        stop_server(server)
    assert "the request is refused" in server.log()
    assert_no_secret("the server log", server.log())


@pytest.mark.parametrize("setting", ["api_keys = [SECRET]", "url_signing_key = SECRET",
                                     "moderation_openai_api_key = SECRET"])
def test_a_bad_secret_setting_is_named_but_not_shown(tmp_path, setting):
    """A secret of the wrong type fails at start naming the setting, without printing the value."""
    secret = 98765432109876543210  # a number where a string belongs
    path = tmp_path / "darkroom.toml"
    path.write_text(setting.replace("SECRET", str(secret)) + "\n")
    done = subprocess.run([sys.executable, "-m", "darkroom", "serve", "--config", str(path)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert setting.split(" ")[0] in done.stderr and "value not shown" in done.stderr
    assert str(secret)[:12] not in done.stdout + done.stderr
