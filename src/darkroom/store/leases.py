"""Per-process leases on the shared limits, so that most requests never touch the database.

`RateLimiter` (limits.py) charges the shared buckets and the monthly count exactly, one atomic
statement each. Doing that for every request costs a database round trip and a thread hop or two
per request, which `bench/accounting.py` measured at 26-40% of the throughput of a busy 2-core
server. So the server takes tokens in small leases and spends them from memory, on the event loop:

    requests, images   a lease is at most a tenth of the bucket and at most one second of refill
                       (at least the request's cost); unspent tokens are dropped after a second
    monthly images     a chunk is at most a thousandth of the quota (at least the request's images)

Every token a process spends was taken from the shared bucket first, so the processes together
never exceed a limit; a process may hold a few tokens another one could have used, for at most a
second. Small limits (under 60 a minute, under 1000 a month) have leases of one request's cost:
they stay exact to the request. The chunk a process holds when it stops is counted as used: at
most a thousandth of the quota per restart. `x-ratelimit-remaining-*` counts the shared bucket as
it was when the lease was taken plus what is left of the lease.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from dataclasses import dataclass, replace

from ..errors import QuotaExceeded, RateLimited
from .keys import ApiKey
from .limits import BucketState, RateLimiter, check_n, this_month

LEASE_SECONDS = 1.0
LEASE_SHARE = 10  # a lease is at most 1/10 of the bucket
QUOTA_SHARE = 1000  # a quota chunk is at most 1/1000 of the month


@dataclass
class _Lease:
    tokens: float
    expires: float  # time.monotonic()
    state: BucketState  # the shared bucket just after the lease was taken


class LeasedLimits:
    """The server's way to charge a key's limits (async; one instance per process)."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter
        self._leases: dict[tuple[int, str], _Lease] = {}
        self._chunks: dict[tuple[int, str], int] = {}  # (key id, month) -> images left in this process's chunk
        self._locks: defaultdict[tuple, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def charge_request(self, key: ApiKey) -> BucketState | None:
        if key.id is None or key.limits.rpm is None:
            return None
        return await self._take(key, "requests", key.limits.rpm, 1)

    async def charge_images(self, key: ApiKey, n: int) -> BucketState | None:
        if key.id is None:
            return None
        check_n(key, n)
        limits = key.limits
        if limits.monthly_images is not None:
            await self._charge_month(key, n)
        if limits.images_per_minute is None:
            return None
        try:
            return await self._take(key, "images", limits.images_per_minute, n)
        except RateLimited:
            if limits.monthly_images is not None:
                self._chunks[(key.id, this_month())] += n  # not admitted after all: the images are ours again
            raise

    async def _take(self, key: ApiKey, kind: str, limit: int, cost: int) -> BucketState:
        assert key.id is not None
        slot = (key.id, kind)
        spent = self._spend(slot, cost)
        if spent is not None:
            return spent
        async with self._locks[slot]:  # one trip to the database per slot at a time
            spent = self._spend(slot, cost)
            if spent is not None:
                return spent
            amount = max(cost, min(limit // LEASE_SHARE, math.floor(limit / 60 * LEASE_SECONDS)))
            try:
                state = await asyncio.to_thread(self.limiter.take, key, kind, limit, amount)
            except RateLimited:
                if amount == cost:
                    raise
                amount = cost  # near the limit: just what this request needs
                state = await asyncio.to_thread(self.limiter.take, key, kind, limit, cost)
            self._leases[slot] = _Lease(amount - cost, time.monotonic() + LEASE_SECONDS, state)
            return replace(state, remaining=state.remaining + math.floor(amount - cost))

    def _spend(self, slot: tuple[int, str], cost: int) -> BucketState | None:
        lease = self._leases.get(slot)
        if lease is None or lease.expires < time.monotonic() or lease.tokens < cost:
            return None
        lease.tokens -= cost
        return replace(lease.state, remaining=lease.state.remaining + math.floor(lease.tokens))

    async def _charge_month(self, key: ApiKey, n: int) -> None:
        assert key.id is not None and key.limits.monthly_images is not None
        slot = (key.id, this_month())
        if self._chunks.get(slot, 0) >= n:
            self._chunks[slot] -= n
            return
        async with self._locks[slot]:
            left = self._chunks.get(slot, 0)
            if left >= n:
                self._chunks[slot] = left - n
                return
            chunk = max(n - left, key.limits.monthly_images // QUOTA_SHARE)
            try:
                await asyncio.to_thread(self.limiter.charge_month, key, chunk)
            except QuotaExceeded:
                if chunk == n - left:
                    raise
                chunk = n - left
                await asyncio.to_thread(self.limiter.charge_month, key, chunk)
            self._chunks[slot] = left + chunk - n
