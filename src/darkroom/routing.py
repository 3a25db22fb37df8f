"""Routes: a served name that stands for an ordered list of other served models (`[[models]]` with
`targets`), and the circuit breakers of those targets.

    strategy      which target is tried first
    fallback      as listed
    round-robin   each request starts one further down the list (then wraps around)
    least-busy    the target with the fewest requests waiting and running (ties: as listed)

After the first choice, the rest follow in that order, but a request moves on only when the failed
target **provably did no work** (`DarkroomError.no_work`): a connection that never opened, a 429 or
503 answered before any work, a local queue that was full, a model still loading, an empty `data`.
It never moves on after the first byte reached the client (`committed`: a stream that was opened),
never on the client's own 400, and not on an ambiguous timeout or 5xx unless that target is marked
safe to repeat (`DarkroomError.repeatable`, the upstream option `safe_to_repeat`). So fallback
never bills twice. Each target is checked against its own family's rules when it is reached.

A target that keeps failing is skipped: after `breaker_failures` failures in a row (a 5xx, a 429, a
timeout, an unreachable host; not a client's 400) its breaker opens for `breaker_cooldown_seconds`,
then lets a single request through (half-open): a success closes it, a failure opens it again. When
every target of a route is open the client gets 503 `targets_unavailable` with Retry-After.
`/health` and `/metrics` show every breaker and count the fallbacks.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .catalog import Catalog, ModelSpec, Route
from .errors import DarkroomError, ServiceUnavailable

log = logging.getLogger("darkroom.routing")
T = TypeVar("T")


class Breaker:
    """One target's circuit breaker: closed, open (for a cooldown) or half-open (one trial request)."""

    def __init__(self, failures: int, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = failures
        self.cooldown = cooldown
        self._clock = clock
        self.failures = 0  # in a row
        self.opened_at: float | None = None
        self.trial = False  # a half-open trial request is in flight
        self.opened_total = 0

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if self._clock() >= self.opened_at + self.cooldown else "open"

    def retry_in(self) -> float:
        return 0.0 if self.opened_at is None else max(0.0, self.opened_at + self.cooldown - self._clock())

    def allows(self) -> bool:
        """May a request be sent to this target now? (Takes the half-open trial, if that is what it is.)"""
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self.trial:
            self.trial = True
            return True
        return False

    def succeeded(self) -> None:
        self.failures, self.opened_at, self.trial = 0, None, False

    def failed(self) -> None:
        self.failures += 1
        if self.trial or self.failures >= self.threshold:
            if self.opened_at is None or self.trial:
                self.opened_total += 1
            self.opened_at = self._clock()
        self.trial = False

    def released(self) -> None:
        """The request ended with no verdict on the target (the client went away)."""
        self.trial = False

    def as_dict(self) -> dict[str, object]:
        return {"state": self.state, "failures_in_a_row": self.failures, "opened": self.opened_total,
                "retry_in_seconds": round(self.retry_in(), 1)}


class Router:
    """The routes of a catalog: target order, fallback and breakers. `load(spec)` is how busy a target is."""

    def __init__(self, catalog: Catalog, load: Callable[[ModelSpec], int]) -> None:
        self.catalog = catalog
        self._load = load
        self.breakers: dict[str, Breaker] = {}
        for route in catalog.routes.values():
            for name in route.targets:
                spec = catalog.get(name)
                self.breakers.setdefault(name, Breaker(*spec.breaker))
        self._turns = {name: itertools.count() for name in catalog.routes}
        self.fallbacks: collections.Counter[tuple[str, str, str]] = collections.Counter()  # (route, from, to)

    def order(self, route: Route) -> list[ModelSpec]:
        specs = [self.catalog.get(name) for name in route.targets]
        if route.strategy == "round-robin":
            first = next(self._turns[route.name]) % len(specs)
            return specs[first:] + specs[:first]
        if route.strategy == "least-busy":
            return sorted(specs, key=self._load)  # stable: ties keep the listed order
        return specs

    async def serve(self, route: Route, attempt: Callable[[ModelSpec], Awaitable[T]],
                    committed: Callable[[], bool]) -> tuple[T, ModelSpec]:
        """Run `attempt` on the route's targets until one answers; (its result, the target that gave it)."""
        candidates = [spec for spec in self.order(route) if self.breakers[spec.name].allows()]
        if not candidates:
            wait = min(self.breakers[name].retry_in() for name in route.targets)
            raise ServiceUnavailable(
                f"Every target of model '{route.name}' is failing ({', '.join(route.targets)}); retry shortly.",
                code="targets_unavailable", headers={"Retry-After": str(max(1, math.ceil(wait)))})
        for i, spec in enumerate(candidates):
            breaker = self.breakers[spec.name]
            try:
                result = await attempt(spec)
            except DarkroomError as exc:
                if exc.status >= 500 or exc.status == 429:
                    breaker.failed()
                else:
                    breaker.succeeded()  # it answered; the request was at fault
                last = i == len(candidates) - 1
                if last or not (exc.no_work or exc.repeatable) or committed():
                    self._release_trials(candidates[i + 1:])
                    raise
                following = candidates[i + 1]
                self.fallbacks[(route.name, spec.name, following.name)] += 1
                log.info("route %s: %s failed (%s %s) before doing any work; trying %s", route.name, spec.name,
                         exc.status, exc.code, following.name)
                continue
            except (asyncio.CancelledError, Exception):
                breaker.released()
                self._release_trials(candidates[i + 1:])
                raise
            breaker.succeeded()
            self._release_trials(candidates[i + 1:])
            return result, spec
        raise AssertionError("unreachable")  # pragma: no cover - the last candidate returns or raises

    def _release_trials(self, untried: list[ModelSpec]) -> None:
        """Half-open trials taken by `allows` for targets this request never reached."""
        for spec in untried:
            self.breakers[spec.name].released()

    def health(self) -> dict[str, dict[str, object]]:
        return {name: breaker.as_dict() for name, breaker in self.breakers.items()}
