"""Costs priced from the upstream's usage, monthly budgets and keys limited to some models, through a live
gateway with the official SDK."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from ..conftest import create_key, darkroom_cli
from ..test_ledger_live import ledger_rows

PROMPT = "A hero image for a todo app"


def client(gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.v1, api_key=key, max_retries=0, timeout=60)


def by_hand(usage) -> float:
    """gpt-image-1 from the price table: text input $5, image input $10, image output $40 per 1M tokens."""
    micro = (usage.input_tokens_details.text_tokens * 5 + usage.input_tokens_details.image_tokens * 10
             + usage.output_tokens * 40)
    return micro / 1_000_000


def test_costs_in_headers_and_ledger_match_the_price_table(gateway):
    with client(gateway, create_key(gateway, "costs")) as c:
        raws = [c.images.with_raw_response.generate(model="gpt-image-1", prompt=PROMPT, quality=quality)
                for quality in ("low", "medium", "high")]
    ids = {raw.headers["x-request-id"]: by_hand(raw.parse().usage) for raw in raws}
    for raw in raws:
        assert raw.headers["x-darkroom-cost-usd"] == f"{ids[raw.headers['x-request-id']]:.6f}"
    rows = ledger_rows(gateway, set(ids))
    for request_id, expected in ids.items():
        assert rows[request_id]["cost_usd"] == pytest.approx(expected, abs=1e-9)
        assert rows[request_id]["served_by"] == "gpt-image-1"
        assert rows[request_id]["upstream_request_id"].startswith("req_")
    assert ids[raws[2].headers["x-request-id"]] > ids[raws[0].headers["x-request-id"]]  # high costs more


def test_a_route_records_its_target_and_an_unpriced_model_is_unknown(gateway):
    with client(gateway, create_key(gateway, "router")) as c:
        raw = c.images.with_raw_response.generate(model="hero", prompt=PROMPT, quality="low")
        local = c.images.with_raw_response.generate(model="gpt-image-2", prompt=PROMPT, quality="low")
    assert raw.headers["x-darkroom-served-by"] == "gpt-image-1"
    assert float(raw.headers["x-darkroom-cost-usd"]) == pytest.approx(by_hand(raw.parse().usage))
    assert local.headers["x-darkroom-cost-usd"] == "0.000000"  # the local sketch engine is free
    [row] = ledger_rows(gateway, {raw.headers["x-request-id"]}).values()
    assert (row["model"], row["served_by"]) == ("hero", "gpt-image-1")


def test_a_monthly_budget_is_a_429_once_spent(gateway):
    key = create_key(gateway, "small-budget", "--monthly-budget", "0.05")
    with client(gateway, key) as c:
        c.images.generate(model="gpt-image-1", prompt=PROMPT, quality="medium")  # about $0.042
        c.images.generate(model="gpt-image-1", prompt=PROMPT, quality="medium")  # admitted under the budget
        deadline = time.monotonic() + 15  # the ledger writes within 0.2 s; spend is cached for 1 s
        while True:
            try:
                c.images.generate(model="gpt-image-2", prompt=PROMPT, quality="low")
            except openai.RateLimitError as exc:
                refused = exc
                break
            assert time.monotonic() < deadline, "the budget was never enforced"
            time.sleep(0.2)
    assert refused.code == "insufficient_quota" and refused.type == "insufficient_quota"
    assert "monthly budget of $0.05" in refused.message
    assert refused.response.headers.get("x-should-retry") == "false"
    listing = darkroom_cli(gateway, "keys", "list")
    assert "0.05" in next(line for line in listing.stdout.splitlines() if line.startswith("small-budget"))


def test_a_key_limited_to_models_sees_and_uses_only_those(gateway):
    key = create_key(gateway, "partner", "--models", "hero,gpt-image-1")
    with client(gateway, key) as c:
        assert sorted(m.id for m in c.models.list().data) == ["gpt-image-1", "hero"]
        assert c.models.retrieve("hero").id == "hero"
        with pytest.raises(openai.NotFoundError) as caught:
            c.models.retrieve("dall-e-3")
        assert caught.value.code == "model_not_found"
        c.images.generate(model="hero", prompt=PROMPT, quality="low")
        with pytest.raises(openai.NotFoundError) as caught:
            c.images.generate(model="gpt-image-2", prompt=PROMPT)
        assert caught.value.code == "model_not_found" and caught.value.param == "model"
        assert "does not exist or you do not have access to it" in caught.value.message
        with pytest.raises(openai.NotFoundError):  # no model: OpenAI's default (dall-e-2) is not the key's
            c.images.generate(prompt=PROMPT)
    listing = darkroom_cli(gateway, "keys", "list")
    assert "hero,gpt-image-1" in next(line for line in listing.stdout.splitlines() if line.startswith("partner"))
    bad = darkroom_cli(gateway, "keys", "create", "--name", "empty", "--models", " , ")
    assert bad.returncode == 2 and "expected one or more model names" in bad.stderr


def test_usage_endpoint_and_cli_show_costs(gateway):
    key = create_key(gateway, "reader", "--admin")
    with client(gateway, key) as c:
        raw = c.images.with_raw_response.generate(model="gpt-image-1", prompt=PROMPT, quality="low")
    ledger_rows(gateway, {raw.headers["x-request-id"]})
    body = httpx.get(f"{gateway.v1}/usage/images", params={"group_by": "api_key_id", "bucket_width": "1d"},
                     headers={"Authorization": f"Bearer {key}"}).json()
    results = [r for bucket in body["data"] for r in bucket["results"] if r["api_key_id"] == "reader"]
    assert results and results[0]["cost_usd"] == pytest.approx(float(raw.headers["x-darkroom-cost-usd"]))
    totals = darkroom_cli(gateway, "usage", "--key", "reader")
    assert raw.headers["x-darkroom-cost-usd"] in totals.stdout
