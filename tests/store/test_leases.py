"""Per-process leases on the shared limits (`store/leases.py`): few database trips, never over a limit."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from darkroom.errors import InvalidRequest, QuotaExceeded, RateLimited
from darkroom.store.keys import KeyStore, Limits
from darkroom.store.leases import LeasedLimits
from darkroom.store.limits import RateLimiter, this_month


class CountingLimiter(RateLimiter):
    """The real limiter, counting its trips to the database."""

    def __init__(self, engine) -> None:
        super().__init__(engine)
        self.trips = 0

    def take(self, *args):
        self.trips += 1
        return super().take(*args)

    def charge_month(self, *args):
        self.trips += 1
        return super().charge_month(*args)


def key(engine, name: str, **limits: int):
    return KeyStore(engine).create(name, Limits(**limits))[0]


async def admitted(call, times: int) -> int:
    """How many of `times` calls passed (a 429 counts as refused)."""
    passed = 0
    for _ in range(times):
        try:
            await call()
            passed += 1
        except (RateLimited, QuotaExceeded):
            pass
    return passed


async def test_small_limits_stay_exact(engine):
    limiter = CountingLimiter(engine)
    leases, k = LeasedLimits(limiter), key(engine, "small", rpm=5)
    assert await admitted(lambda: leases.charge_request(k), 8) == 5
    assert limiter.trips == 8  # a lease of one request: every request asks the database


async def test_a_big_limit_takes_few_trips_and_reports_what_is_left(engine):
    limiter = CountingLimiter(engine)
    leases, k = LeasedLimits(limiter), key(engine, "big", rpm=6000)  # leases of 100 (1 s of refill)
    states = [await leases.charge_request(k) for _ in range(250)]
    assert limiter.trips == 3
    assert states[0].limit == 6000 and states[0].remaining >= states[1].remaining >= 5000


async def test_processes_together_never_exceed_the_limit(engine):
    """Two processes (two LeasedLimits on one store) with 600 a minute: leases of 10, at most 600 in all."""
    k = key(engine, "shared", rpm=600)
    first, second = LeasedLimits(RateLimiter(engine)), LeasedLimits(RateLimiter(engine))
    started = time.monotonic()
    passed = await asyncio.gather(admitted(lambda: first.charge_request(k), 400),
                                  admitted(lambda: second.charge_request(k), 400))
    refilled = math.ceil((time.monotonic() - started) * 10)  # 600 a minute refill 10 a second meanwhile
    assert sum(passed) <= 600 + refilled
    assert sum(passed) >= 600 - 2 * 10  # at most a lease per process left unspent


async def test_images_charge_the_quota_in_chunks_and_exactly_at_the_end(engine):
    limiter = CountingLimiter(engine)
    leases, k = LeasedLimits(limiter), key(engine, "quota", monthly_images=5000)  # chunks of 5
    assert await admitted(lambda: leases.charge_images(k, 2), 10) == 10
    assert limiter.trips <= 5
    assert limiter.month_usage(k) <= 20 + 5  # charged in chunks: at most one chunk ahead
    tight = key(engine, "tight", monthly_images=7)  # chunks of one request
    assert await admitted(lambda: leases.charge_images(tight, 3), 4) == 2
    assert limiter.month_usage(tight) == 6


async def test_images_refused_by_the_minute_bucket_go_back_to_the_chunk(engine):
    limiter = RateLimiter(engine)
    leases, k = LeasedLimits(limiter), key(engine, "both", images_per_minute=4, monthly_images=100)
    await leases.charge_images(k, 4)
    with pytest.raises(RateLimited):
        await leases.charge_images(k, 1)
    # The refused image went back to this process's chunk: counted in the month, spent by the next request.
    assert limiter.month_usage(k) == 5 and leases._chunks[(k.id, this_month())] == 1
    with pytest.raises(InvalidRequest):
        await leases.charge_images(k, 5)  # more than a minute allows: never possible
