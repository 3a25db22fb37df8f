"""One JSON line per request on `darkroom.access`, and the `RequestRecord` behind it (`record.py`).

In-process with TestClient (which returns once the app has finished, so the line is there), the
middleware driven raw for the odd endings (a crash, a client gone, a finisher that raises), and the
live server with an API key, whose whole log must never contain a key.
"""

from __future__ import annotations

import json
import logging
import time
from types import SimpleNamespace

import httpx
import pytest
from fastapi.testclient import TestClient

from darkroom.api.app import create_app
from darkroom.api.middleware import RequestContextMiddleware
from darkroom.config import load_settings
from darkroom.record import RequestRecord

GENERATIONS = "/v1/images/generations"
TIMINGS = ("ms", "queue_ms", "engine_ms", "encode_ms")


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records
            if r.name == "darkroom.access" and r.levelno == logging.INFO]


@pytest.fixture()
def client(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="darkroom.access")
    app = create_app(load_settings(data_dir=tmp_path))
    with TestClient(app, raise_server_exceptions=False) as c:
        caplog.clear()
        yield c


def only_line(caplog, response: httpx.Response) -> dict:
    lines = access_lines(caplog)
    assert len(lines) == 1, lines
    assert lines[0]["request_id"] == response.headers["x-request-id"]
    return lines[0]


def test_a_generation_logs_one_line_with_its_summary_and_timings(client, caplog):
    response = client.post(GENERATIONS, json={"model": "gpt-image-1", "prompt": "a kite", "n": 2, "quality": "low",
                                              "size": "1024x1024", "output_format": "webp"})
    assert response.status_code == 200
    line = only_line(caplog, response)
    assert {k: line[k] for k in ("method", "path", "status", "model", "engine", "operation", "n", "size", "quality",
                                 "output_format", "images")} == {
        "method": "POST", "path": GENERATIONS, "status": 200, "model": "gpt-image-1", "engine": "sketch",
        "operation": "generate", "n": 2, "size": "1024x1024", "quality": "low", "output_format": "webp", "images": 2}
    assert all(isinstance(line[k], (int, float)) and line[k] >= 0 for k in TIMINGS)
    assert "error_code" not in line and "key" not in line  # absent fields are left out (an open server)


@pytest.mark.parametrize("send, status, code", [
    (lambda c: c.post(GENERATIONS, json={"model": "gpt-image-9", "prompt": "a kite"}), 400, "invalid_value"),
    (lambda c: c.get("/v1/nothing-here"), 404, "not_found"),
    (lambda c: c.post(GENERATIONS, content=b"{}", headers={"content-length": str(10**9)}), 413, "request_too_large"),
])
def test_a_refused_request_logs_its_status_and_error_code(client, caplog, send, status, code):
    response = send(client)
    assert response.status_code == status
    line = only_line(caplog, response)
    assert (line["status"], line["error_code"]) == (status, code)
    assert "model" not in line and "queue_ms" not in line


def test_a_request_its_rules_refuse_logs_its_model(client, caplog):
    response = client.post(GENERATIONS, json={"model": "gpt-image-1", "prompt": "a kite", "size": "7x7"})
    line = only_line(caplog, response)
    assert (line["status"], line["error_code"], line["model"], line["engine"]) == (
        400, "invalid_value", "gpt-image-1", "sketch")
    assert "queue_ms" not in line


def test_a_stream_logs_once_when_its_last_event_is_sent(client, caplog):
    with client.stream("POST", GENERATIONS, json={"model": "gpt-image-1", "prompt": "a kite", "quality": "low",
                                                  "stream": True, "partial_images": 1}) as response:
        body = response.read()
    assert b"image_generation.completed" in body
    line = only_line(caplog, response)
    assert (line["status"], line["stream"], line["images"]) == (200, True, 1)


def test_the_query_string_is_never_logged(client, caplog):
    client.get("/v1/images/files/" + "0" * 32 + ".png?expires=1&signature=secret-signature")
    assert caplog.records and "secret-signature" not in caplog.text


# ---- the middleware driven raw ----------------------------------------------------------------------


async def drive(app, finishers: list | None = None, path: str = GENERATIONS) -> tuple[list[dict], list[RequestRecord]]:
    """Run one POST through the middleware around `app`; what was sent, and the records finishers got."""
    records: list[RequestRecord] = []
    holder = SimpleNamespace(state=SimpleNamespace(finishers=[*(finishers or []), records.append]))
    scope = {"type": "http", "method": "POST", "path": path, "headers": [], "app": holder}
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await RequestContextMiddleware(app, max_body_bytes=1000)(scope, receive, send)
    return sent, records


async def answer(scope, receive, send, status: int = 200):
    scope["state"]["key_name"] = "ci-runner"
    scope["state"]["summary"] = {"model": "m", "images": 1}
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"{}", "more_body": False})


async def test_finishers_get_one_record_after_the_last_byte_and_a_failing_one_is_harmless(caplog):
    caplog.set_level(logging.INFO, logger="darkroom.access")
    seen: list[str] = []

    def broken(record: RequestRecord) -> None:
        raise RuntimeError("finisher bug")

    sent, records = await drive(answer, [broken, lambda r: seen.append(r.request_id)])
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert len(records) == 1 and seen == [records[0].request_id]
    record = records[0]
    assert (record.status, record.key_name, record.error_code) == (200, "ci-runner", None)
    assert record.summary == {"model": "m", "images": 1}
    assert record.seconds >= 0
    assert "finisher bug" in caplog.text  # logged with its traceback
    line = access_lines(caplog)[0]
    assert (line["key"], line["model"], line["status"]) == ("ci-runner", "m", 200)


async def test_a_crash_before_the_answer_is_a_sanitised_500_record():
    async def crash(scope, receive, send):
        raise RuntimeError("secret detail")

    sent, records = await drive(crash)
    assert sent[0]["status"] == 500 and b"secret" not in sent[1]["body"]
    assert (records[0].status, records[0].error_code) == (500, "internal_error")


async def test_a_crash_mid_answer_keeps_the_status_sent():
    async def crash_mid_stream(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"event: ", "more_body": True})
        raise RuntimeError("stream broke")

    sent, records = await drive(crash_mid_stream)
    assert len(sent) == 2 and [r.status for r in records] == [200]


async def test_a_request_given_up_before_any_answer_is_a_499():
    async def silent(scope, receive, send):
        return

    sent, records = await drive(silent)
    assert sent == [] and [r.status for r in records] == [499]


# ---- the live server with an API key ----------------------------------------------------------------


def test_the_live_log_has_one_json_line_per_request_and_never_a_key(server, http):
    wrong_key = "sk-wrong-key-that-must-not-be-logged"
    responses = [
        http.post(GENERATIONS, json={"prompt": "a kite", "size": "256x256", "model": "dall-e-2"}),
        http.post(GENERATIONS, json={"prompt": "a kite", "size": "7x7"}),
        httpx.post(f"{server.v1}/images/generations", json={"prompt": "x"},
                   headers={"Authorization": f"Bearer {wrong_key}"}),
        http.get("/v1/models"),
    ]
    assert [r.status_code for r in responses] == [200, 400, 401, 200]
    ids = [r.headers["x-request-id"] for r in responses]

    def lines() -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {}
        for text in server.log().splitlines():
            if " darkroom.access: {" in text:
                line = json.loads(text.split(" darkroom.access: ", 1)[1])
                found.setdefault(line["request_id"], []).append(line)
        return found

    deadline = time.monotonic() + 10  # the line is written just after the last byte went out
    while not all(i in lines() for i in ids) and time.monotonic() < deadline:
        time.sleep(0.05)
    found = lines()
    assert [len(found.get(i, [])) for i in ids] == [1, 1, 1, 1]
    ok, bad, refused, models = (found[i][0] for i in ids)
    assert (ok["status"], ok["model"], ok["size"], ok["images"]) == (200, "dall-e-2", "256x256", 1)
    assert (bad["status"], bad["error_code"]) == (400, "invalid_value")
    assert (refused["status"], refused["error_code"], refused["path"]) == (401, "invalid_api_key", GENERATIONS)
    assert (models["method"], models["path"], models["status"]) == ("GET", "/v1/models", 200)
    log = server.log()
    assert server.api_key not in log and wrong_key not in log
