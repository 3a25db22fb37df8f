"""`log_prompts`: off, hashed (the default) or full, read from a live server's log file."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from tests.conftest import start_server, stop_server

PROMPT = "a secret birthday surprise for Ada"


def access_lines(log: str) -> list[dict]:
    return [json.loads(line.split("darkroom.access: ", 1)[1]) for line in log.splitlines() if "darkroom.access: " in line]


@pytest.mark.parametrize("mode", ["off", "hashed", "full", None])
def test_prompts_in_the_log_follow_the_setting(tmp_path, mode):
    setting = f'log_prompts = "{mode}"\n' if mode else ""  # None: the default
    server = start_server(tmp_path, setting + 'url_signing_key = "prompt-log-test"\n', api_key="")
    try:
        for prompt in (PROMPT, PROMPT, "another"):
            answer = httpx.post(f"{server.v1}/images/generations", json={"prompt": prompt, "size": "256x256",
                                                                        "model": "dall-e-2"}, timeout=60)
            assert answer.status_code == 200, answer.text
        refused = httpx.post(f"{server.v1}/images/generations", json={"prompt": PROMPT, "size": "7x7"}, timeout=60)
        assert refused.status_code == 400
    finally:
        stop_server(server)
    log = server.log()
    lines = [line for line in access_lines(log) if line["path"] == "/v1/images/generations"]
    assert len(lines) == 4
    if mode == "full":
        assert [line["prompt"] for line in lines] == [PROMPT, PROMPT, "another", PROMPT]
        return
    assert PROMPT not in log and "birthday" not in log
    if mode == "off":
        assert not [line for line in lines if "prompt" in line or "prompt_hash" in line]
        return
    hashes = [line["prompt_hash"] for line in lines]
    assert hashes[0] == hashes[1] == hashes[3] != hashes[2] and len(hashes[0]) == 16  # repeats correlate
    import hashlib
    assert hashes[0] not in hashlib.sha256(PROMPT.encode()).hexdigest()  # keyed, not a plain sha256


def test_a_wrong_value_fails_at_start_naming_the_setting(tmp_path):
    path = tmp_path / "darkroom.toml"
    path.write_text('log_prompts = "sometimes"\n')
    done = subprocess.run([sys.executable, "-m", "darkroom", "serve", "--config", str(path)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode != 0 and "log_prompts" in done.stderr and "'hashed'" in done.stderr
