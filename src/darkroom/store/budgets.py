"""Monthly budgets in dollars: a key whose requests this calendar month (UTC) cost its budget or more gets
OpenAI's 429 `insufficient_quota` (no Retry-After: waiting will not help before the month ends).

What a key spent is the sum of its ledger rows' `cost_usd` since the month began (`UsageLedger.spent`),
read in a thread and cached for `CACHE_SECONDS` per key and process, so a busy key costs one query a
second. The check is at admission: a request admitted under the budget may take the key past it (its
cost is known only once it is done); the next one is refused. Rows still queued in the ledger's writer
(at most about `ledger.FLUSH_SECONDS`) are not counted yet. Unpriced requests (cost unknown) count $0.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time

from ..errors import QuotaExceeded
from .keys import ApiKey
from .ledger import UsageLedger

CACHE_SECONDS = 1.0


def month_start(now: float | None = None) -> float:
    """The Unix time at which this calendar month (UTC) began."""
    today = dt.datetime.fromtimestamp(time.time() if now is None else now, dt.UTC)
    return today.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()


class Budgets:
    def __init__(self, ledger: UsageLedger) -> None:
        self.ledger = ledger
        self._spent: dict[str, tuple[float, float, float]] = {}  # key name -> (expires, month start, usd)

    async def check(self, key: ApiKey) -> None:
        """Raise QuotaExceeded if `key` has a budget and this month's spend has reached it."""
        budget = key.limits.monthly_budget_usd
        if budget is None:
            return
        spent = await self.spent(key.name)
        if spent >= budget:
            raise QuotaExceeded(
                f"API key '{key.name}' has reached its monthly budget of ${budget:.2f} (spent ${spent:.6f} this "
                "month). The budget resets at the start of next month (UTC).")

    async def spent(self, name: str) -> float:
        since = month_start()
        cached = self._spent.get(name)
        if cached is not None and cached[0] >= time.monotonic() and cached[1] == since:
            return cached[2]
        usd = await asyncio.to_thread(self.ledger.spent, name, since)
        self._spent[name] = (time.monotonic() + CACHE_SECONDS, since, usd)
        if len(self._spent) > 10_000:
            self._spent.clear()
        return usd
