"""What the service knows about one request while it runs, and what it hands back.

    RequestContext   the HTTP request as the service sees it (id, public base URL, the key's charge,
                     name and models) and its `summary`, which the ledger, metrics and access log record
    Progress         what a streaming request hears: admission, partial images, relayed upstream events
    Outcome          a finished request: the response (or an upstream's raw body), figures and headers
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .protocol.images import ImagesResponse
from .rules import GenerationPlan


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What the service needs to know about the HTTP request it serves."""

    request_id: str
    base_url: str  # public base for signed links, without a trailing slash
    # Filled in by the service as the request goes (model, engine, size, timings, usage...): what the
    # ledger, the metrics and the access log record about it once it has ended (`record.py`).
    summary: dict[str, Any] = field(default_factory=dict)
    # Charges the request's images to its API key's limits once its rules passed (429 when over).
    charge: Callable[[int], Awaitable[None]] | None = None
    key_name: str | None = None  # the API key's name: the owner of images kept by `store_all`
    models: tuple[str, ...] | None = None  # the models the API key may use; None: every model


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished request: the response and the figures worth logging."""

    response: ImagesResponse | None  # None when the body is an upstream's, passed through (`raw`)
    plan: GenerationPlan
    queue_seconds: float
    engine_seconds: float
    encode_seconds: float  # from the engine's end to the response: cut-out, moderation, encoding, storing
    moderation_seconds: float  # the prompt's and input images' checks, plus the output checks (which
    # run while the images are encoded, so part of this is also in encode_seconds)
    info: dict[str, str | int | float]  # what the engine reports about the run (steps, scheduler...)
    raw: bytes | None = None  # a forwarded response's JSON body as the upstream sent it
    headers: dict[str, str] = field(default_factory=dict)  # x-darkroom-* headers for the response
    usage: dict[str, Any] | None = None  # for the cost
    images: int = 0

    def body(self) -> bytes:
        if self.raw is not None:
            return self.raw
        assert self.response is not None
        return self.response.to_json()



class Progress:
    """What a streaming request hears while it runs: when it was admitted, and each partial image.

    `partial` is called from the engine's thread; it only hands the pixels over to the event loop.
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.admitted: asyncio.Future[GenerationPlan] = self._loop.create_future()
        # Partial images (image, index, pixels), or an upstream's events as ready SSE frames (bytes).
        self.partials: asyncio.Queue[tuple[int, int, np.ndarray] | bytes] = asyncio.Queue()
        self.ctx: RequestContext | None = None  # the request's, once admitted
        self.headers: dict[str, str] = {}  # for the stream's response (seed, the model that serves it)

    def started(self, plan: GenerationPlan, ctx: RequestContext, headers: dict[str, str]) -> None:
        self.ctx = ctx
        self.headers = headers
        self.admitted.set_result(plan)

    def partial(self, image: int, index: int, pixels: np.ndarray) -> None:
        self._loop.call_soon_threadsafe(self.partials.put_nowait, (image, index, pixels))

    def relay(self, frame: bytes) -> None:
        """An upstream's event, relayed as it came (on the event loop)."""
        self.partials.put_nowait(frame)
