"""Server-sent events for `stream: true`: OpenAI's wire format around `streaming.ImageStream`.

Each event is `event: <type>` plus one `data:` line of JSON, then a blank line. While nothing
else is sent (a long queue wait, a slow step), a comment line (`: keep-alive`) goes out every
`stream_heartbeat_seconds` so that idle proxies keep the connection. An error after the 200 has
gone out is sent as `event: error` with a top-level `error` object, which both SDKs raise.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.datastructures import State
from starlette.types import Send

from ..errors import DarkroomError, ServerError
from ..service import ImageService, Outcome, Progress
from ..streaming import ImageStream, StreamKind
from .errors import to_darkroom_error

log = logging.getLogger("darkroom.api")
HEARTBEAT = b": keep-alive\n\n"


class EventStreamResponse(StreamingResponse):
    media_type = "text/event-stream"

    async def stream_response(self, send: Send) -> None:
        try:
            await super().stream_response(send)
        finally:
            await self.body_iterator.aclose()  # type: ignore[attr-defined] - ours is an async generator


async def stream_response(request: Request, run: Callable[[Progress], Awaitable[Outcome]],
                          kind: StreamKind) -> EventStreamResponse:
    """Start the request; an error before it is admitted propagates as a normal JSON error."""
    service: ImageService = request.app.state.service
    stream = ImageStream(service, run, kind, request.app.state.settings.stream_heartbeat_seconds)
    try:
        await stream.open()
    except BaseException:
        stream.close()
        raise
    headers = {"cache-control": "no-cache", "x-accel-buffering": "no", **stream.progress.headers}
    return EventStreamResponse(_frames(stream, request.state), headers=headers)


async def _frames(stream: ImageStream, state: State) -> AsyncIterator[bytes]:
    events = stream.events()
    try:
        async for event in events:
            if isinstance(event, bytes):  # an upstream's event, relayed as it came
                yield event
            else:
                yield HEARTBEAT if event is None else _frame(event["type"], event)
    except Exception as exc:
        error = to_darkroom_error(exc)
        if isinstance(error, ServerError) and not isinstance(exc, DarkroomError):
            log.error("%s stream failed", state.request_id, exc_info=exc)
        else:
            log.info("%s stream ended with an error: %s", state.request_id, error.message)
        state.error_code = error.code  # for the ledger, metrics and access log (`record.py`)
        yield _frame("error", {"type": "error", **error.body()})
    finally:
        await events.aclose()


def _frame(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"
