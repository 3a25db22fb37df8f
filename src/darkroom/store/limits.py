"""Per-key limits: requests per minute and images per minute (token buckets), and a monthly image quota.

Both live in the metadata store, so every process sharing it enforces the same limits. Each check is
one atomic statement, with no lock held across round trips:

    UPDATE rate_buckets SET tokens = refilled - cost, updated_at = now
    WHERE key_id = :key AND kind = :kind AND refilled >= cost       -- refilled = min(capacity, tokens + elapsed * rate)

`now` is the database's clock (PostgreSQL's statement_timestamp(), SQLite's julianday('now')), so
servers whose clocks disagree still share one notion of elapsed time.

A bucket holds `limit` tokens (a minute's worth) and refills at `limit / 60` per second; a request
costs 1 request token, an image request `n` image tokens. The quota counts images per calendar
month (UTC) with the same kind of guarded increment. Images are charged when a request is admitted
(after its rules passed): a request that fails afterwards still counts.

Refusals carry what the API needs: OpenAI's 429 (`rate_limit_exceeded` with Retry-After, or
`insufficient_quota` without it) and the `x-ratelimit-*` figures for the response headers.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ..errors import InvalidRequest, QuotaExceeded, RateLimited
from .database import translated
from .keys import ApiKey
from .schema import Float, quota_usage, rate_buckets


@dataclass(frozen=True, slots=True)
class BucketState:
    """What the `x-ratelimit-*-{kind}` headers say after a check."""

    kind: str  # "requests" or "images"
    limit: int
    remaining: int
    reset_seconds: float  # until the bucket is full again

    def headers(self) -> dict[str, str]:
        return {f"x-ratelimit-limit-{self.kind}": str(self.limit),
                f"x-ratelimit-remaining-{self.kind}": str(self.remaining),
                f"x-ratelimit-reset-{self.kind}": _duration(self.reset_seconds)}


class RateLimiter:
    def __init__(self, engine: sa.Engine, clock: Callable[[], float] | None = None) -> None:
        self.engine = engine
        self._clock = clock  # tests only: a fake clock instead of the database's
        postgres = engine.dialect.name == "postgresql"
        self._insert = postgresql.insert if postgres else sqlite.insert
        # The database's clock, not each server's: processes sharing the store may disagree on the time.
        self._db_now: sa.ColumnElement[float] = (
            sa.cast(sa.func.extract("epoch", sa.func.statement_timestamp()), Float) if postgres
            else (sa.func.julianday("now") - 2440587.5) * 86400.0)

    def take_request(self, key: ApiKey) -> BucketState | None:
        """Charge one request to `key` (blocking); None when it has no request limit."""
        if key.id is None or key.limits.rpm is None:
            return None
        return self.take(key, "requests", key.limits.rpm, 1)

    def take_images(self, key: ApiKey, n: int) -> BucketState | None:
        """Charge `n` images to `key`'s monthly quota, then to its images-per-minute bucket (blocking)."""
        if key.id is None:
            return None
        limits = key.limits
        check_n(key, n)
        if limits.monthly_images is not None:
            self.charge_month(key, n)
        if limits.images_per_minute is None:
            return None
        try:
            return self.take(key, "images", limits.images_per_minute, n)
        except RateLimited:
            if limits.monthly_images is not None:
                self.charge_month(key, -n)  # not admitted after all
            raise

    # ---- token buckets ------------------------------------------------------------------------

    @translated
    def take(self, key: ApiKey, kind: str, limit: int, cost: int) -> BucketState:
        """Take `cost` tokens from `key`'s `kind` bucket of `limit` per minute, or raise RateLimited."""
        rate = limit / 60.0
        now = sa.literal(self._clock(), Float) if self._clock is not None else self._db_now
        elapsed = now - rate_buckets.c.updated_at
        refilled = sa.case((rate_buckets.c.tokens + elapsed * rate > limit, float(limit)),
                           else_=rate_buckets.c.tokens + elapsed * rate)
        where = (rate_buckets.c.key_id == key.id) & (rate_buckets.c.kind == kind)
        for _ in range(2):  # the second pass only after creating a missing bucket
            with self.engine.begin() as conn:
                tokens = conn.execute(sa.update(rate_buckets).where(where, refilled >= cost)
                                      .values(tokens=refilled - cost, updated_at=now)
                                      .returning(rate_buckets.c.tokens)).scalar_one_or_none()
                if tokens is not None:
                    return BucketState(kind, limit, math.floor(tokens), (limit - tokens) / rate)
                row = conn.execute(sa.select(rate_buckets.c.tokens, rate_buckets.c.updated_at,
                                             now.label("now")).where(where)).first()
                if row is None:
                    conn.execute(self._insert(rate_buckets).values(key_id=key.id, kind=kind, tokens=float(limit),
                                                                   updated_at=now).on_conflict_do_nothing())
                    continue
            have = min(float(limit), row.tokens + max(0.0, row.now - row.updated_at) * rate)
            state = BucketState(kind, limit, math.floor(have), (limit - have) / rate)
            wait = max(1, math.ceil((cost - have) / rate))
            raise RateLimited(
                f"Rate limit reached for {kind} on API key '{key.name}': limit {limit} per minute, "
                f"{max(0, math.floor(have))} left. Try again in {wait}s.",
                headers={"Retry-After": str(wait), **state.headers()},
            )
        raise RuntimeError("rate bucket could not be created")  # pragma: no cover - the insert above makes it

    # ---- monthly quota ------------------------------------------------------------------------

    @translated
    def charge_month(self, key: ApiKey, n: int) -> None:
        """Add `n` images (negative: give back) to `key`'s count for this month, or raise QuotaExceeded."""
        month = this_month()
        where = (quota_usage.c.key_id == key.id) & (quota_usage.c.month == month)
        limit = key.limits.monthly_images
        with self.engine.begin() as conn:
            conn.execute(self._insert(quota_usage).values(key_id=key.id, month=month, images=0)
                         .on_conflict_do_nothing())
            guard = quota_usage.c.images + n <= limit if n > 0 else sa.true()
            done = conn.execute(sa.update(quota_usage).where(where, guard)
                                .values(images=quota_usage.c.images + n)).rowcount
        if not done:
            raise QuotaExceeded(
                f"API key '{key.name}' has used its quota of {limit} images for {month}. "
                "The quota resets at the start of next month (UTC).")

    @translated
    def month_usage(self, key: ApiKey) -> int:
        month = this_month()
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(quota_usage.c.images).where(
                (quota_usage.c.key_id == key.id) & (quota_usage.c.month == month))).scalar_one_or_none()
        return value or 0


def check_n(key: ApiKey, n: int) -> None:
    """A request for more images than the key's minute allows could never pass: a 400, not a 429."""
    per_minute = key.limits.images_per_minute
    if per_minute is not None and n > per_minute:
        raise InvalidRequest(f"Invalid 'n': {n} images is more than this API key may make in a minute "
                             f"({per_minute}).", param="n")


def this_month() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m")


def _duration(seconds: float) -> str:
    """OpenAI's reset format: "1s", "6m0s", "20ms"."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    whole = math.ceil(seconds)
    minutes, secs = divmod(whole, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"
