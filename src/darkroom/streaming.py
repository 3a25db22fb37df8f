"""Streaming (`stream: true`): one request's partial and final images as OpenAI's stream events.

    stream = ImageStream(service, run, "image_generation", heartbeat=15)
    await stream.open()       # the request is admitted: rules, moderation and queueing passed
                              # (any error so far is raised here, so it goes out as plain JSON)
    async for event in stream.events():
        ...                   # dicts as spec section 4 shapes them, or None: nothing to send for
                              # `heartbeat` seconds (the API sends an SSE comment then)

Events, in order (`kind` is `image_generation` or `image_edit`):
    {kind}.partial_image   b64_json, created_at, size, quality, background, output_format and
                           partial_image_index (0-based, per image): as the engine reaches its
                           intermediate states, encoded in the request's own output format
    {kind}.completed       b64_json of a final image, the same echo fields and `usage`
With `n` > 1 each image gets its own partial events and its own completed event, and every event
also carries `image_index` (a Darkroom addition; the SDKs keep unknown fields). The first completed
event's `usage` counts the request's input tokens and its own image; each later one only its image,
so the sum over the events is the `usage` of the same request without streaming.

An error after `open` is raised from `events()`; the API sends it as an `error` event. Closing the
iteration early (the client went away) cancels the request: its job leaves the queue or stops.

A forwarded stream (an upstream model, `forwarding.py`) yields the upstream's events as ready SSE
frames (bytes), as they arrive; its completed events are among them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

from .postprocess.tokens import generation_usage
from .rules import GenerationPlan
from .service import ImageService, Outcome, Progress

StreamKind = Literal["image_generation", "image_edit"]


class ImageStream:
    def __init__(self, service: ImageService, run: Callable[[Progress], Awaitable[Outcome]], kind: StreamKind,
                 heartbeat: float) -> None:
        self.service = service
        self.kind = kind
        self.heartbeat = heartbeat
        self.progress = Progress()
        self._task = asyncio.ensure_future(run(self.progress))
        self._plan: GenerationPlan | None = None

    async def open(self) -> None:
        """Wait until the request is queued for its engine; raise its error if it failed before that."""
        await asyncio.wait({self._task, self.progress.admitted}, return_when=asyncio.FIRST_COMPLETED)
        if not self.progress.admitted.done():
            self._task.result()  # raises: the error goes out as a normal JSON response
        self._plan = self.progress.admitted.result()

    async def events(self) -> AsyncIterator[dict[str, Any] | bytes | None]:
        assert self._plan is not None, "open() first"
        plan = self._plan
        try:
            while not self._task.done():
                item = await self._next_partial()
                if item is not None:
                    yield item if isinstance(item, bytes) else await self._partial(plan, *item)
                elif not self._task.done():
                    yield None  # a heartbeat
            while not self.progress.partials.empty():  # sent before the engine finished
                item = self.progress.partials.get_nowait()
                yield item if isinstance(item, bytes) else await self._partial(plan, *item)
            outcome = self._task.result()  # raises the request's error, if any
            for event in self._completed(outcome):
                yield event
        finally:
            self.close()

    def close(self) -> None:
        if not self._task.done():
            self._task.cancel()  # the job leaves the queue, or its engine call stops

    async def _next_partial(self) -> tuple[int, int, Any] | bytes | None:
        """The next partial image, or None when the request finished or `heartbeat` seconds passed."""
        getter = asyncio.ensure_future(self.progress.partials.get())
        try:
            await asyncio.wait({getter, self._task}, timeout=self.heartbeat, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not getter.done():
                getter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await getter
        return getter.result() if not getter.cancelled() else None

    async def _partial(self, plan: GenerationPlan, image: int, index: int, pixels: Any) -> dict[str, Any]:
        b64_json = await self.service.encode_partial_async(plan, pixels, self.progress.ctx)
        event = {"type": f"{self.kind}.partial_image", "b64_json": b64_json, **_echo(plan),
                 "partial_image_index": index}
        return _indexed(event, plan, image)

    def _completed(self, outcome: Outcome) -> list[dict[str, Any]]:
        if outcome.response is None:
            return []  # relayed from the upstream, completed events included
        plan, events = outcome.plan, []
        for image, data in enumerate(outcome.response.data):
            first = image == 0
            usage = generation_usage(plan.spec.family, plan.quality or "medium", plan.width, plan.height, 1,
                                     plan.prompt if first else "", plan.input_sizes if first else ())
            event = {"type": f"{self.kind}.completed", "b64_json": data.b64_json, **_echo(plan),
                     "usage": usage.model_dump(exclude={"output_tokens_details"})}
            events.append(_indexed(event, plan, image))
        return events


def _echo(plan: GenerationPlan) -> dict[str, Any]:
    return {"created_at": int(time.time()), "size": plan.size, "quality": plan.quality,
            "background": plan.background, "output_format": plan.output_format}


def _indexed(event: dict[str, Any], plan: GenerationPlan, image: int) -> dict[str, Any]:
    if plan.n > 1:
        event["image_index"] = image
    return event
