"""Per-key limits (src/darkroom/store/limits.py) on SQLite and PostgreSQL: the requests and images token
buckets, the monthly quota, the 429s they raise with their headers, and exact counts under concurrency.

The limiter's clock is replaced (`Clock`), so refills are exact and no test sleeps.
"""

from __future__ import annotations

import threading
import time

import pytest

from darkroom.errors import InvalidRequest, QuotaExceeded, RateLimited
from darkroom.store.keys import ApiKey, KeyStore, Limits
from darkroom.store.limits import BucketState, RateLimiter


class Clock:
    """The limiter's clock (it reads the database's own otherwise)."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def limiter(engine, clock) -> RateLimiter:
    return RateLimiter(engine, clock=clock.time)


@pytest.fixture()
def make_key(engine):
    store = KeyStore(engine)

    def make(name: str = "ci", **limits: int) -> ApiKey:
        return store.create(name, Limits(**limits))[0]

    return make


def test_requests_bucket_admits_rpm_then_429s(limiter, make_key, clock):
    key = make_key(rpm=3)
    states = [limiter.take_request(key) for _ in range(3)]
    assert [s.remaining for s in states] == [2, 1, 0]
    assert states[0] == BucketState("requests", 3, 2, 20.0)  # one token back in 60/3 s
    assert states[0].headers() == {"x-ratelimit-limit-requests": "3", "x-ratelimit-remaining-requests": "2",
                                   "x-ratelimit-reset-requests": "20s"}
    with pytest.raises(RateLimited) as caught:
        limiter.take_request(key)
    error = caught.value
    assert (error.status, error.type, error.code) == (429, "requests", "rate_limit_exceeded")
    assert error.headers == {"Retry-After": "20", "x-ratelimit-limit-requests": "3",
                             "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1m0s"}
    assert "'ci'" in error.message and "Try again in 20s" in error.message


def test_the_bucket_refills_with_time(limiter, make_key, clock):
    key = make_key(rpm=3)
    for _ in range(3):
        limiter.take_request(key)
    clock.advance(10)  # half a token
    with pytest.raises(RateLimited) as caught:
        limiter.take_request(key)
    assert caught.value.headers["Retry-After"] == "10"
    clock.advance(10)
    assert limiter.take_request(key).remaining == 0
    with pytest.raises(RateLimited):
        limiter.take_request(key)
    clock.advance(3600)  # a long pause fills the bucket, never past its limit
    assert [limiter.take_request(key).remaining for _ in range(3)] == [2, 1, 0]
    with pytest.raises(RateLimited):
        limiter.take_request(key)


def test_retry_after_is_at_least_one_second(limiter, make_key, clock):
    key = make_key(rpm=120)  # 2 tokens a second: the next one in half a second
    for _ in range(120):
        limiter.take_request(key)
    with pytest.raises(RateLimited) as caught:
        limiter.take_request(key)
    assert caught.value.headers["Retry-After"] == "1"
    assert caught.value.headers["x-ratelimit-reset-requests"] == "1m0s"


def test_each_key_has_its_own_buckets(limiter, make_key, clock):
    first, second = make_key("a", rpm=1), make_key("b", rpm=1)
    limiter.take_request(first)
    with pytest.raises(RateLimited):
        limiter.take_request(first)
    assert limiter.take_request(second).remaining == 0


def test_keys_without_limits_are_not_charged(limiter, make_key, clock):
    unlimited = make_key()
    assert limiter.take_request(unlimited) is None
    assert limiter.take_images(unlimited, 10) is None
    settings_key = ApiKey(name="settings#1", admin=True, limits=Limits(rpm=1, images_per_minute=1))
    assert limiter.take_request(settings_key) is None and limiter.take_images(settings_key, 5) is None


def test_images_bucket_charges_n(limiter, make_key, clock):
    key = make_key(images_per_minute=4)
    state = limiter.take_images(key, 3)
    assert state == BucketState("images", 4, 1, 45.0)
    assert state.headers()["x-ratelimit-remaining-images"] == "1"
    with pytest.raises(RateLimited) as caught:
        limiter.take_images(key, 2)
    assert caught.value.headers == {"Retry-After": "15", "x-ratelimit-limit-images": "4",
                                    "x-ratelimit-remaining-images": "1", "x-ratelimit-reset-images": "45s"}
    assert limiter.take_images(key, 1).remaining == 0
    assert limiter.take_request(key) is None  # no requests limit: the images bucket is apart


def test_more_images_than_a_minute_allows_is_a_400(limiter, make_key, clock):
    key = make_key(images_per_minute=4, monthly_images=100)
    with pytest.raises(InvalidRequest) as caught:
        limiter.take_images(key, 5)
    assert (caught.value.status, caught.value.param) == (400, "n")
    assert "Invalid 'n': 5 images" in caught.value.message
    assert limiter.month_usage(key) == 0  # nothing charged
    assert limiter.take_images(key, 4).remaining == 0


def test_monthly_quota_is_exact(limiter, make_key, clock):
    key, other = make_key("a", monthly_images=5), make_key("b", monthly_images=5)
    assert limiter.take_images(key, 3) is None  # no per-minute bucket: no headers
    limiter.take_images(key, 2)
    with pytest.raises(QuotaExceeded) as caught:
        limiter.take_images(key, 1)
    error = caught.value
    assert (error.status, error.type, error.code) == (429, "insufficient_quota", "insufficient_quota")
    assert error.headers == {"x-should-retry": "false"}  # and no Retry-After: waiting a minute will not help
    assert "quota of 5 images" in error.message
    assert limiter.month_usage(key) == 5
    limiter.take_images(other, 5)  # a quota is per key
    assert limiter.month_usage(other) == 5


def test_a_request_over_the_quota_charges_nothing(limiter, make_key, clock):
    key = make_key(monthly_images=5)
    limiter.take_images(key, 4)
    with pytest.raises(QuotaExceeded):
        limiter.take_images(key, 2)
    assert limiter.month_usage(key) == 4
    limiter.take_images(key, 1)
    assert limiter.month_usage(key) == 5


def test_a_request_refused_by_the_images_bucket_is_not_counted_in_the_month(limiter, make_key, clock):
    key = make_key(images_per_minute=4, monthly_images=10)
    limiter.take_images(key, 4)
    with pytest.raises(RateLimited):
        limiter.take_images(key, 1)
    assert limiter.month_usage(key) == 4


def test_concurrent_requests_get_exactly_rpm_tokens(limiter, make_key, clock):
    key = make_key(rpm=10)
    admitted = race(lambda: limiter.take_request(key), RateLimited, threads=2, attempts=20)
    assert admitted == 10


def test_concurrent_images_get_exactly_the_quota(limiter, make_key, clock):
    key = make_key(monthly_images=7)
    admitted = race(lambda: limiter.take_images(key, 1), QuotaExceeded, threads=2, attempts=10)
    assert admitted == 7
    assert limiter.month_usage(key) == 7


def race(take, refusal: type[Exception], threads: int, attempts: int) -> int:
    """Run `take` `attempts` times on each of `threads` threads started together; the number admitted."""
    start = threading.Barrier(threads)
    admitted, errors = [], []

    def work() -> None:
        start.wait()
        for _ in range(attempts):
            try:
                take()
                admitted.append(1)
            except refusal:
                pass
            except Exception as exc:  # noqa: BLE001 - a database error is a bug: report it, don't count it
                errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not errors, errors
    return len(admitted)


@pytest.mark.parametrize(("seconds", "text"), [(0.02, "20ms"), (0.0, "0ms"), (1.0, "1s"), (20.0, "20s"),
                                               (59.2, "1m0s"), (360.0, "6m0s"), (61.0, "1m1s")])
def test_reset_durations_in_openai_format(seconds, text):
    assert BucketState("requests", 1, 0, seconds).headers()["x-ratelimit-reset-requests"] == text


def test_the_database_clock_is_used_without_a_fake_one(engine, make_key):
    """The real path: elapsed time comes from the database, so a bucket emptied now is empty now."""
    limiter, key = RateLimiter(engine), make_key(rpm=3)
    states = [limiter.take_request(key) for _ in range(3)]
    assert [s.remaining for s in states] == [2, 1, 0]
    with pytest.raises(RateLimited) as caught:
        limiter.take_request(key)
    assert 1 <= int(caught.value.headers["Retry-After"]) <= 20
