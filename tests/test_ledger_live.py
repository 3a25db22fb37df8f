"""The usage ledger end to end: a handful of requests with different keys, models and `n` (generations,
an edit, a refused request) through the official SDK against a live `darkroom serve`, then the three
ways to read them back, each compared with what the responses said:

    the ledger's rows in the SQLite file (read directly; the server writes them within ~0.2 s),
    `darkroom usage --requests` and `darkroom usage` (the CLI, on the server's config file),
    `GET /v1/usage/images?group_by=model&group_by=api_key_id&bucket_width=1h` (and OpenAI's path).
"""

from __future__ import annotations

import io
import time
from collections import defaultdict
from dataclasses import dataclass

import httpx
import openai
import pytest
import sqlalchemy as sa
from PIL import Image

from .conftest import LiveServer, darkroom_cli, start_server, stop_server

SETTINGS_KEY = "sk-settings-key"
PROMPT = "a paper boat on a pond, flat illustration"


@dataclass(frozen=True)
class Sent:
    """One request as its response told it."""

    request_id: str
    key: str  # the key's name in the ledger
    model: str | None  # None: not checked
    operation: str
    n: int
    size: str
    status: int
    images: int
    input_tokens: int | None
    output_tokens: int | None
    error_code: str | None = None


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> LiveServer:
    server = start_server(tmp_path_factory.mktemp("ledger"), f'api_keys = ["{SETTINGS_KEY}"]\n', api_key=SETTINGS_KEY)
    yield server
    alive = server.process.poll() is None
    stop_server(server)
    assert alive, f"the server died during the tests:\n{server.log()}"


def darkroom(server: LiveServer, *args: str) -> str:
    done = darkroom_cli(server, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def sent(live) -> list[Sent]:
    """The requests, made once for the module."""
    painter = openai.OpenAI(base_url=live.v1, api_key=darkroom(live, "keys", "create", "--name", "painter").strip(),
                            max_retries=0, timeout=30)
    editor = openai.OpenAI(base_url=live.v1, api_key=darkroom(live, "keys", "create", "--name", "editor",
                                                              "--monthly-images", "100").strip(),
                           max_retries=0, timeout=30)
    operator = openai.OpenAI(base_url=live.v1, api_key=SETTINGS_KEY, max_retries=0, timeout=30)
    sent = [
        made("painter", "gpt-image-1", "1024x1024", painter.images.generate(
            model="gpt-image-1", prompt=PROMPT, quality="low")),
        made("painter", "gpt-image-1", "1024x1536", painter.images.generate(
            model="gpt-image-1", prompt=PROMPT, n=2, quality="low", size="1024x1536")),
        made("painter", "dall-e-3", "1024x1024", painter.images.generate(model="dall-e-3", prompt=PROMPT)),
        made("editor", "gpt-image-1", "1024x1024", editor.images.edit(
            model="gpt-image-1", image=("in.png", png(512, 512)), prompt=PROMPT, n=3, quality="low", size="1024x1024"),
            operation="edit"),
        made("editor", "gpt-image-1.5", "1024x1024", editor.images.generate(
            model="gpt-image-1.5", prompt=PROMPT, quality="medium")),
        made("settings#1", "dall-e-2", "256x256", operator.images.generate(
            model="dall-e-2", prompt=PROMPT, size="256x256")),
    ]
    with pytest.raises(openai.BadRequestError) as caught:
        painter.images.generate(model="gpt-image-2", prompt=PROMPT, size="1000x1000")
    sent.append(Sent(caught.value.request_id, "painter", "gpt-image-2", "generate", 1, "1000x1000", 400, 0, None, None,
                     caught.value.code))
    return sent


def made(key: str, model: str, size: str, response, operation: str = "generate") -> Sent:
    """A successful request: what it asked for, and what its response (an ImagesResponse) said."""
    usage = response.usage  # None for the dall-e models, as OpenAI's
    return Sent(response._request_id, key, model, operation, len(response.data), size, 200, len(response.data),
                usage.input_tokens if usage else None, usage.output_tokens if usage else None)


def ledger_rows(live: LiveServer, request_ids: set[str]) -> dict[str, dict]:
    """The ledger's rows for `request_ids`, read from the SQLite file once all of them are there (5 s at most)."""
    engine = sa.create_engine(f"sqlite:///{live.log_path.parent / 'data' / 'darkroom.db'}")
    try:
        deadline = time.monotonic() + 5
        while True:
            with engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT * FROM usage")).mappings().all()
            found = {row["request_id"]: dict(row) for row in rows if row["request_id"] in request_ids}
            if len(found) == len(request_ids) or time.monotonic() > deadline:
                return found
            time.sleep(0.05)
    finally:
        engine.dispose()


def test_every_request_has_a_ledger_row_matching_its_response(live, sent):
    rows = ledger_rows(live, {s.request_id for s in sent})
    assert set(rows) == {s.request_id for s in sent}
    for s in sent:
        row = rows[s.request_id]
        assert (row["key_name"], row["status"], row["error_code"]) == (s.key, s.status, s.error_code), s
        if s.model is not None:
            assert row["model"] == s.model
        assert (row["input_tokens"], row["output_tokens"], row["images"]) == (s.input_tokens, s.output_tokens,
                                                                              s.images), s
        if s.status == 200:
            assert (row["operation"], row["n"], row["size"]) == (s.operation, s.n, s.size), s
            total = None if s.input_tokens is None else s.input_tokens + s.output_tokens
            assert row["total_tokens"] == total
        assert row["path"] == ("/v1/images/edits" if s.operation == "edit" else "/v1/images/generations")


def test_usage_requests_lists_each_request(live, sent):
    rows = ledger_rows(live, {s.request_id for s in sent})  # written, so the CLI sees them
    assert len(rows) == len(sent)
    lines = darkroom(live, "usage", "--requests").splitlines()
    assert lines[0].split()[:4] == ["time", "(UTC)", "key", "model"]
    printed = {fields[-1]: fields for fields in (line.split() for line in lines[1:])}
    for s in sent:
        # date time key model served-by op n size status in-tokens out-tokens cost ms error request-id
        fields = printed[s.request_id]
        assert fields[-2] == (s.error_code or "-")
        assert fields[2] == s.key
        if s.model is not None:
            assert fields[3] == s.model
        assert fields[8:11] == [str(s.status), dash(s.input_tokens), dash(s.output_tokens)]
        if s.status == 200:
            assert fields[4] == s.model  # served by the model asked for (no route here)
            assert fields[5:8] == [s.operation, str(s.n), s.size]
            assert fields[11] == "0.000000"  # the sketch engine costs nothing


def dash(value: int | None) -> str:
    """How the CLI prints a count: `-` for none."""
    return "-" if value is None else str(value)


def test_usage_totals_per_key_and_model(live, sent):
    ledger_rows(live, {s.request_id for s in sent})
    printed: dict[tuple, list[int]] = defaultdict(lambda: [0] * 4)
    errors: dict[str, int] = defaultdict(int)
    for line in darkroom(live, "usage").splitlines()[1:]:
        _day, key, model, *numbers = line.split()
        for i, value in enumerate(numbers[:4]):
            printed[(key, model)][i] += int(value)
        assert numbers[4] == "0.000000"  # the cost: the sketch engine is free
        errors[key] += int(numbers[5])
    assert {group: numbers for group, numbers in printed.items() if any(numbers)} == successes(sent)
    assert dict(errors) == {"painter": 1, "editor": 0, "settings#1": 0}


def successes(sent: list[Sent]) -> dict[tuple, list[int]]:
    """(key, model) -> [requests, images, input tokens, output tokens] of the successful requests."""
    result: dict[tuple, list[int]] = defaultdict(lambda: [0] * 4)
    for s in sent:
        if s.status == 200:
            group = result[(s.key, s.model)]
            for i, value in enumerate((1, s.images, s.input_tokens or 0, s.output_tokens or 0)):
                group[i] += value
    return dict(result)


@pytest.mark.parametrize("query", [
    "/v1/usage/images?group_by=model&group_by=api_key_id&bucket_width=1h",
    "/v1/organization/usage/images?group_by=model,api_key_id&bucket_width=1h",
])
def test_usage_endpoint_matches_the_responses(live, sent, query):
    with httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {SETTINGS_KEY}"}, timeout=30) as http:
        page = http.get(query).json()
    assert (page["object"], page["has_more"], page["next_page"]) == ("page", False, None)
    assert len(page["data"]) == 24  # a day of hours by default
    now = time.time()
    assert page["data"][-1]["start_time"] <= now < page["data"][-1]["end_time"]
    found: dict[tuple, list[int]] = defaultdict(lambda: [0] * 4)
    for bucket in page["data"]:  # the requests may straddle an hour
        assert bucket["end_time"] - bucket["start_time"] == 3600
        for result in bucket["results"]:
            assert result["object"] == "organization.usage.images.result"
            assert (result["source"], result["size"], result["project_id"], result["user_id"]) == (None,) * 4
            group = found[(result["api_key_id"], result["model"])]
            for i, name in enumerate(("num_model_requests", "images", "input_tokens", "output_tokens")):
                group[i] += result[name]
    assert dict(found) == successes(sent)  # the refused request is not counted


def test_usage_endpoint_filters_and_refuses_what_it_cannot_do(live, sent):
    with httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {SETTINGS_KEY}"}, timeout=30) as http:
        page = http.get("/v1/usage/images?bucket_width=1d&limit=1&models=gpt-image-1&api_key_ids=editor,painter"
                        "&group_by=source").json()
        results = [result for bucket in page["data"] for result in bucket["results"]]
        expected = [s for s in sent if s.status == 200 and s.model == "gpt-image-1"]
        assert sum(r["num_model_requests"] for r in results) == len(expected)
        assert {r["source"] for r in results} == {"image.generation", "image.edit"}
        for query, param in (("project_ids=proj_1", "project_ids"), ("page=abc", "page"), ("colour=red", "colour")):
            refused = http.get(f"/v1/usage/images?{query}")
            assert refused.status_code == 400 and refused.json()["error"]["param"] == param
