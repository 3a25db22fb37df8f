"""Costs in the ledger, monthly budgets from them, and keys limited to some models (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time

import pytest

from darkroom.errors import InvalidRequest, QuotaExceeded
from darkroom.record import RequestRecord
from darkroom.store import budgets as budgets_module
from darkroom.store import ledger as ledger_module
from darkroom.store.budgets import Budgets, month_start
from darkroom.store.keys import KeyStore, Limits
from darkroom.store.ledger import UsageLedger

from .test_keys import Clock as KeysClock
from .test_ledger import ledger  # noqa: F401 - the fixture: a started ledger on each database

DECEMBER = 1_796_083_200.0  # 2026-12-01 00:00:00 UTC


class Clock(KeysClock):
    """Stands in for the `time` module inside budgets.py and ledger.py: `time()` (the month, the rows'
    created_at) and `monotonic()` (the cache) move only when told; `sleep` is the real one."""

    def __init__(self, now: float) -> None:
        super().__init__()
        self.now = now

    @staticmethod
    def sleep(seconds: float) -> None:
        time.sleep(seconds)


@pytest.fixture()
def clock(monkeypatch) -> Clock:
    fake = Clock(DECEMBER - 10)  # 2026-11-30 23:59:50 UTC
    monkeypatch.setattr(budgets_module, "time", fake)
    monkeypatch.setattr(ledger_module, "time", fake)
    return fake


def spend(ledger: UsageLedger, key: str, *costs: float | None) -> None:
    for i, cost in enumerate(costs):
        ledger.record(RequestRecord(f"req_{key}_{i}_{time.monotonic_ns()}", "POST", "/v1/images/generations", 200,
                                    0.1, key, None, {"model": "gpt-image-1", "cost_usd": cost,
                                                     "served_by": "upstream-a", "upstream_request_id": "up_1"}))
    assert ledger.flush(5)


def test_rows_carry_cost_served_by_and_the_upstream_request_id(ledger):
    spend(ledger, "team", 0.04234)
    [row] = ledger.rows()
    assert (row["cost_usd"], row["served_by"], row["upstream_request_id"]) == (0.04234, "upstream-a", "up_1")
    [bucket] = ledger.buckets(month_start(), month_start() + 40 * 86400, 40 * 86400)
    assert bucket["results"][0]["cost_usd"] == 0.04234


def test_spent_sums_this_months_costs_of_one_key(ledger):
    spend(ledger, "team", 0.1, 0.25, None)  # an unknown cost counts nothing
    spend(ledger, "other", 5.0)
    assert ledger.spent("team", month_start()) == pytest.approx(0.35)
    assert ledger.spent("team", time.time() + 10) == 0.0  # nothing since then


async def test_a_key_past_its_budget_gets_insufficient_quota(ledger, engine, monkeypatch):
    keys = KeyStore(engine)
    key, _ = keys.create("budgeted", Limits(monthly_budget_usd=0.5))
    monkeypatch.setattr(budgets_module, "CACHE_SECONDS", 0.0)  # no caching (tested below)
    budgets = Budgets(ledger)
    await budgets.check(key)  # nothing spent
    spend(ledger, "budgeted", 0.3)
    await budgets.check(key)  # 0.3 of 0.5
    spend(ledger, "budgeted", 0.2)
    with pytest.raises(QuotaExceeded) as caught:
        await budgets.check(key)
    assert caught.value.status == 429 and caught.value.code == "insufficient_quota"
    assert "$0.50" in caught.value.message and caught.value.headers["x-should-retry"] == "false"
    unlimited, _ = keys.create("free")
    spend(ledger, "free", 99.0)
    await budgets.check(unlimited)


async def test_spend_is_cached_for_a_second(ledger, engine, clock):
    keys = KeyStore(engine)
    key, _ = keys.create("cached", Limits(monthly_budget_usd=1.0))
    budgets = Budgets(ledger)
    await budgets.check(key)
    spend(ledger, "cached", 2.0)
    clock.advance(budgets_module.CACHE_SECONDS - 0.1)
    await budgets.check(key)  # still the cached $0
    clock.advance(0.2)
    with pytest.raises(QuotaExceeded):
        await budgets.check(key)


async def test_the_refusal_names_the_key_its_budget_and_the_spend(ledger, engine):
    key, _ = KeyStore(engine).create("named", Limits(monthly_budget_usd=0.25))
    spend(ledger, "named", 0.125, 0.2)
    with pytest.raises(QuotaExceeded) as caught:
        await Budgets(ledger).check(key)
    assert caught.value.message == ("API key 'named' has reached its monthly budget of $0.25 (spent $0.325000 "
                                    "this month). The budget resets at the start of next month (UTC).")


async def test_last_months_spend_does_not_count(ledger, engine, clock):
    key, _ = KeyStore(engine).create("monthly", Limits(monthly_budget_usd=1.0))
    spend(ledger, "monthly", 5.0)  # 2026-11-30 23:59:50
    budgets = Budgets(ledger)
    with pytest.raises(QuotaExceeded):
        await budgets.check(key)
    clock.advance(10.5)  # 2026-12-01 00:00:00.5: a new month, though the cached second has not passed
    await budgets.check(key)
    spend(ledger, "monthly", 0.75, 0.25)
    clock.advance(budgets_module.CACHE_SECONDS + 0.1)
    with pytest.raises(QuotaExceeded):
        await budgets.check(key)  # December's $1.00 reaches the budget


async def test_the_database_is_read_off_the_event_loop(ledger, engine, monkeypatch):
    key, _ = KeyStore(engine).create("threaded", Limits(monthly_budget_usd=1.0))
    threads = []
    real = ledger.spent

    def spent(name: str, since: float) -> float:
        threads.append(threading.current_thread())
        return real(name, since)

    monkeypatch.setattr(ledger, "spent", spent)
    await Budgets(ledger).check(key)
    assert threads and threading.current_thread() not in threads


async def test_keys_without_a_budget_never_touch_the_database(ledger, engine, monkeypatch):
    key, _ = KeyStore(engine).create("unbudgeted", Limits(rpm=5))
    monkeypatch.setattr(ledger, "spent", lambda *_: pytest.fail("read the ledger"))
    await Budgets(ledger).check(key)


def test_month_start_is_the_first_of_the_month_utc():
    assert month_start(1_767_225_599.0) == 1_764_547_200.0  # 2025-12-31 23:59:59 -> 2025-12-01
    assert month_start(1_767_225_600.0) == 1_767_225_600.0  # 2026-01-01 00:00:00


def test_keys_remember_their_models_and_budget(engine):
    keys = KeyStore(engine)
    record, secret = keys.create("partner", Limits(monthly_budget_usd=12.5), models=("hero", "gpt-image-1"))
    assert record.models == ("hero", "gpt-image-1") and record.limits.monthly_budget_usd == 12.5
    found = keys.lookup(secret)
    assert found.models == ("hero", "gpt-image-1") and found.limits.monthly_budget_usd == 12.5
    assert found.limits.any
    everyone, secret = keys.create("everyone")
    assert keys.lookup(secret).models is None
    with pytest.raises(InvalidRequest):
        keys.create("nobody", models=())
    for models in (("",), (" gpt-image-1",), ("x" * 101,)):
        with pytest.raises(InvalidRequest, match="Invalid model name"):
            keys.create("blank", models=models)
    for budget in (0.0, -1.0, float("nan")):
        with pytest.raises(InvalidRequest, match="Invalid monthly budget"):
            keys.create("broke", Limits(monthly_budget_usd=budget))
