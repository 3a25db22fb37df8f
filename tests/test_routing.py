"""Routes in-process: target order per strategy, when a request may move on, and the circuit breakers."""

from __future__ import annotations

import pytest

from darkroom.catalog import build_catalog
from darkroom.config import ConfigError, load_settings
from darkroom.errors import (
    BadGateway,
    InvalidRequest,
    ServiceUnavailable,
    UpstreamError,
    UpstreamTimeout,
)
from darkroom.routing import Breaker, Router


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def catalog(tmp_path, strategy="fallback", extra=""):
    config = tmp_path / "darkroom.toml"
    config.write_text(f"""
[[models]]
name = "a"
[[models]]
name = "b"
breaker_failures = 2
breaker_cooldown_seconds = 10
[[models]]
name = "c"
[[models]]
name = "route"
targets = ["a", "b", "c"]
strategy = "{strategy}"
""" + extra)
    return build_catalog(load_settings(config))


def no_work(status=503):
    error = UpstreamError.from_envelope(status, {"message": "busy", "type": "server_error", "code": "server_overloaded"})
    error.no_work = True
    return error


async def serve(router, route, failures):
    """Serve one request; `failures[name]` is what that target raises (absent: it answers its name)."""
    tried = []

    async def attempt(spec):
        tried.append(spec.name)
        if spec.name in failures:
            raise failures[spec.name]
        return spec.name

    result, spec = await router.serve(route, attempt, committed=lambda: False)
    assert result == spec.name
    return result, tried


async def test_fallback_moves_on_only_after_no_work(tmp_path):
    cat = catalog(tmp_path)
    router = Router(cat, lambda spec: 0)
    route = cat.route("route")
    assert await serve(router, route, {"a": no_work()}) == ("b", ["a", "b"])
    unreachable = BadGateway("no", code="upstream_unreachable")
    unreachable.no_work = True
    assert await serve(router, route, {"a": unreachable, "b": no_work(429)}) == ("c", ["a", "b", "c"])
    assert router.fallbacks[("route", "a", "b")] == 2 and router.fallbacks[("route", "b", "c")] == 1


@pytest.mark.parametrize("error", [
    InvalidRequest("bad size", param="size"),  # the client's own 400
    UpstreamTimeout("slow"),  # ambiguous: the upstream may have done the work
    UpstreamError.from_envelope(500, {"message": "oops", "type": "server_error", "code": None}),
])
async def test_no_fallback_after_a_client_error_or_an_ambiguous_failure(tmp_path, error):
    cat = catalog(tmp_path)
    router = Router(cat, lambda spec: 0)
    tried = []

    async def attempt(spec):
        tried.append(spec.name)
        raise error

    with pytest.raises(type(error)):
        await router.serve(cat.route("route"), attempt, committed=lambda: False)
    assert tried == ["a"]


async def test_a_target_safe_to_repeat_may_be_left_after_a_timeout(tmp_path):
    cat = catalog(tmp_path)
    router = Router(cat, lambda spec: 0)
    timeout = UpstreamTimeout("slow")
    timeout.repeatable = True
    assert await serve(router, cat.route("route"), {"a": timeout}) == ("b", ["a", "b"])


async def test_never_after_the_client_got_a_byte(tmp_path):
    cat = catalog(tmp_path)
    router = Router(cat, lambda spec: 0)
    tried = []

    async def attempt(spec):
        tried.append(spec.name)
        raise no_work()

    with pytest.raises(UpstreamError):
        await router.serve(cat.route("route"), attempt, committed=lambda: True)
    assert tried == ["a"]


async def test_round_robin_and_least_busy_orders(tmp_path):
    cat = catalog(tmp_path, "round-robin")
    router = Router(cat, lambda spec: 0)
    route = cat.route("route")
    assert [(await serve(router, route, {}))[0] for _ in range(4)] == ["a", "b", "c", "a"]
    cat = catalog(tmp_path, "least-busy")
    load = {"a": 3, "b": 1, "c": 1}
    router = Router(cat, lambda spec: load[spec.name])
    assert [s.name for s in router.order(cat.route("route"))] == ["b", "c", "a"]  # ties keep the listed order


def test_breaker_opens_cools_down_and_tries_once():
    clock = Clock()
    breaker = Breaker(2, 10, clock)
    assert breaker.allows()
    breaker.failed()
    assert breaker.state == "closed"
    breaker.failed()
    assert breaker.state == "open" and not breaker.allows() and breaker.opened_total == 1
    clock.now += 10
    assert breaker.state == "half-open"
    assert breaker.allows()  # the one trial
    assert not breaker.allows()  # nobody else while it runs
    breaker.failed()  # the trial failed: open again
    assert breaker.state == "open" and breaker.opened_total == 2
    clock.now += 10
    assert breaker.allows()
    breaker.succeeded()
    assert breaker.state == "closed" and breaker.allows() and breaker.failures == 0


async def test_open_breakers_are_skipped_and_all_open_is_a_503(tmp_path):
    cat = catalog(tmp_path)
    router = Router(cat, lambda spec: 0)
    route = cat.route("route")
    for _ in range(2):  # b opens after 2 failures in a row
        await serve(router, route, {"a": no_work(), "b": no_work()})
    assert router.breakers["b"].state == "open"
    assert (await serve(router, route, {"a": no_work()}))[1] == ["a", "c"]  # b is skipped
    for name in ("a", "c"):
        router.breakers[name].opened_at = 1e18  # open, far from cooling down
    with pytest.raises(ServiceUnavailable) as caught:
        await serve(router, route, {})
    assert caught.value.code == "targets_unavailable" and int(caught.value.headers["Retry-After"]) >= 1
    assert router.health()["b"]["state"] == "open"


async def test_a_clients_400_does_not_count_against_a_target(tmp_path):
    cat = catalog(tmp_path)
    router = Router(cat, lambda spec: 0)
    route = cat.route("route")
    await serve(router, route, {"a": no_work()})
    assert router.breakers["a"].failures == 1
    with pytest.raises(InvalidRequest):
        await serve(router, route, {"a": InvalidRequest("bad", param="size")})
    assert router.breakers["a"].failures == 0  # it answered: the request was at fault


@pytest.mark.parametrize("extra, message", [
    ('[[models]]\nname = "r2"\ntargets = ["nope"]\n', "'nope' is not a served model"),
    ('[[models]]\nname = "r2"\ntargets = ["route"]\n', "'route' is another route"),
    ('[[models]]\nname = "r2"\ntargets = ["a", "a"]\n', "named twice"),
    ('[[models]]\nname = "r2"\ntargets = ["a"]\nengine = "sketch"\n', "no engine of its own"),
    ('[[models]]\nname = "r2"\ntargets = ["a"]\nstrategy = "random"\n', "strategy"),
    ('[[models]]\nname = "r2"\ntargets = []\n', "targets"),
])
def test_bad_routes_stop_the_start(tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        catalog(tmp_path, extra=extra)
