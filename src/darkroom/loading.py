"""Engines load in the background after the server starts listening; this tracks how far they are.

`/health` reports each model as `loading`, `ready` or `failed` (HTTP 503 until every model is ready),
and a request for a model that is still loading gets a 503 with `Retry-After`. A model that fails
to load stops the server: `darkroom serve` exits non-zero with a message naming the model and why.

A model that makes transparent images by cutting them out of a key colour (an engine with
`keyed_alpha`, such as diffusers) also needs the matting code compiled (pymatting compiles with
numba on its first import: about 45 s on a fresh install, 1 s once cached). That runs in a thread
of its own from the start, alongside the engines' loading, and such a model is ready only when both
are done: no request ever waits for the compiler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Literal

from .catalog import Catalog, ModelSpec
from .engines.base import Engine
from .errors import ServiceUnavailable
from .postprocess.matting import warm_up as warm_up_matting

log = logging.getLogger("darkroom.loading")
State = Literal["loading", "ready", "failed"]
RETRY_AFTER_SECONDS = 5


Runner = Callable[[Engine, Callable[[], None]], Awaitable[None]]


async def _in_any_thread(engine: Engine, work: Callable[[], None]) -> None:
    await asyncio.to_thread(work)


class EngineLoader:
    """`run_on(engine, fn)` runs a slow load where the engine will later work: torch keeps one
    OpenMP thread team per calling thread, and two teams on the same cores slow every step down."""

    def __init__(self, catalog: Catalog, run_on: Runner = _in_any_thread) -> None:
        self.catalog = catalog
        self._run_on = run_on
        self._states: dict[int, State] = {id(engine): "loading" for engine in catalog.engines()}
        self.on_ready: Callable[[Engine], None] | None = None  # called in a thread once a slow engine loaded
        self.failure: str | None = None  # the first load error, for the CLI to print

    def load_quick(self) -> None:
        """Load the engines that load instantly (sketch), so they serve from the first request."""
        for engine in self.catalog.engines():
            if not engine.loads_slowly:
                engine.load()
                self._states[id(engine)] = "ready"

    async def load_slow(self, on_failure: Callable[[str], None] | None = None) -> None:
        """Load each slow engine in its worker's thread, one at a time (loading is memory- and disk-bound)."""
        matting = asyncio.ensure_future(asyncio.to_thread(warm_up_matting)) if self._cuts_out() else None
        try:
            await self._load_engines(matting, on_failure)
        finally:
            if matting is not None and not matting.done():
                matting.cancel()

    async def _load_engines(self, matting: asyncio.Future[None] | None,
                            on_failure: Callable[[str], None] | None) -> None:
        for engine in self.catalog.engines():
            if not engine.loads_slowly:
                continue
            try:
                await self._run_on(engine, engine.load)
                if matting is not None and self._cuts_out(engine):
                    await asyncio.shield(matting)
            except Exception as exc:  # any load failure is fatal: the configured model cannot serve
                self._states[id(engine)] = "failed"
                self.failure = self._describe(engine, exc)
                log.error("%s", self.failure, exc_info=exc)
                if on_failure is not None:
                    on_failure(self.failure)
                return
            if self.on_ready is not None:
                await asyncio.to_thread(self.on_ready, engine)
            self._states[id(engine)] = "ready"
            log.info("engine %s ready for %s", engine.name, ", ".join(self._names(engine)))

    def check_ready(self, spec: ModelSpec) -> None:
        """Raise a 503 unless the engine behind `spec` has loaded."""
        state = self._states[id(spec.engine)]
        if state != "ready":
            refused = ServiceUnavailable(
                f"Model '{spec.name}' is {'still loading' if state == 'loading' else 'unavailable: it failed to load'}."
                " Try again shortly.", headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                code="model_loading" if state == "loading" else "model_unavailable",
            )
            refused.no_work = True
            raise refused

    @property
    def status(self) -> State:
        states = set(self._states.values())
        return "failed" if "failed" in states else "loading" if "loading" in states else "ready"

    def models(self) -> dict[str, dict[str, str]]:
        return {spec.name: {"engine": spec.engine_name, "state": self._states[id(spec.engine)]}
                for spec in self.catalog}

    def _cuts_out(self, engine: Engine | None = None) -> bool:
        """Does `engine` (or any engine) serve a model whose transparent images are matted cut-outs?"""
        return any(spec.cuts_out for spec in self.catalog if engine is None or spec.engine is engine)

    def _names(self, engine: Engine) -> list[str]:
        return [spec.name for spec in self.catalog if spec.engine is engine]

    def _describe(self, engine: Engine, exc: Exception) -> str:
        names = ", ".join(f"'{name}'" for name in self._names(engine))
        return f"Model {names} failed to load: {exc}"
