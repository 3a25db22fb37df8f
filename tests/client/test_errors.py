"""Failures print one line on stderr with the status, code and request id, and exit non-zero."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai

from darkroom.client.errors import UNREACHABLE, describe
from tests.conftest import closed_port

from .conftest import darkroom


def test_a_refused_request_is_one_line_with_its_code_and_request_id(live, tmp_path: Path) -> None:
    done = darkroom(live, "generate", "a cat", "-m", "gpt-image-1", "--size", "13x13", cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    last = done.stderr.splitlines()[-1]
    assert last.startswith("darkroom: 400 invalid_value (size): Invalid value: '13x13'.")
    assert last.endswith(")") and "(request req_" in last
    assert "Traceback" not in done.stderr and list(tmp_path.iterdir()) == []


def test_a_wrong_key_is_a_401(live, tmp_path: Path) -> None:
    done = darkroom(live, "generate", "a cat", "-m", "gpt-image-tiny", "--size", "64x64", cwd=tmp_path,
                    key="sk-wrong")
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1].startswith("darkroom: 401 invalid_api_key: ")
    assert "(request req_" in done.stderr


def test_a_closed_port_is_a_connection_error_naming_the_url(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    done = darkroom(None, "generate", "a cat", "--retries", "0", cwd=tmp_path, base_url=url)
    assert done.returncode == UNREACHABLE
    assert done.stderr.splitlines()[-1].startswith(f"darkroom: could not connect to {url} (")


def test_usage_errors_exit_2(live, tmp_path: Path) -> None:
    missing = darkroom(live, "generate", cwd=tmp_path)
    assert missing.returncode == 2 and "darkroom: generate needs a PROMPT" in missing.stderr
    no_file = darkroom(live, "edit", "nope.png", "make it blue", cwd=tmp_path)
    assert no_file.returncode == 2 and "darkroom: no such image file: nope.png" in no_file.stderr
    bad_flag = darkroom(live, "generate", "x", "-n", "zero", cwd=tmp_path)
    assert bad_flag.returncode == 2 and "-n: expected a whole number" in bad_flag.stderr


def test_an_error_inside_a_stream_keeps_the_request_id_from_the_headers() -> None:
    request = httpx.Request("POST", "http://h/v1/images/generations")
    error = openai.APIError("The request's deadline passed.", request,
                            body={"message": "The request's deadline passed.", "type": "server_error", "param": None,
                                  "code": "timeout"})
    line = describe(error, "http://h/v1", "req_abc").message
    assert line == "timeout: The request's deadline passed. (request req_abc)"
