"""Per-connection limits that uvicorn lacks, so that slow or idle clients (slowloris) can neither pin
the server nor hold memory without bound. uvicorn has a keep-alive timeout, but no deadline for a
request's headers or body: a client that opens a connection and sends nothing, or trickles its
headers a byte at a time, holds its connection (and the bytes it sent) for as long as it likes.

`guarded_protocol(limits)` is uvicorn's httptools protocol with, per connection:

    header_timeout_seconds   from the connection's first byte (or the next request's, on a kept-alive
                             connection; an idle new one counts from its opening) to the end of the
                             headers: past it, 408 and the connection is closed
    body_timeout_seconds     from the end of the headers to the end of the body: past it, 408 and the
                             connection is closed (the route sees a disconnect)
    max_header_bytes         request line and headers: past it, 431 and the connection is closed
    max_connections          open connections: a request on one past it gets 503 (Retry-After)

Each refusal is an error of the tree (`errors.py`: RequestTimeout, HeadersTooLarge, ServiceUnavailable
`server_overloaded`) in OpenAI's envelope with an `x-request-id`, written here because the app never saw
the request (so the access log and ledger do not have it either); each closes the connection.
The settings are in `config.py` (`Settings`); `shutdown.DrainingServer` passes them to uvicorn.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass
from http import HTTPStatus

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .errors import DarkroomError, HeadersTooLarge, RequestTimeout, ServiceUnavailable

OVERLOADED_RETRY_AFTER_SECONDS = 2


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 120.0
    max_header_bytes: int = 65_536
    max_connections: int = 1000


def guarded_protocol(limits: ConnectionLimits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol class, with `limits` on every connection it serves."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"limits": limits})


def refusal_headers(error: DarkroomError, body: bytes) -> list[tuple[bytes, bytes]]:
    headers = {"content-type": "application/json", "content-length": str(len(body)),
               "x-request-id": f"req_{secrets.token_hex(16)}", "connection": "close", **error.headers}
    return [(name.lower().encode(), value.encode()) for name, value in headers.items()]


def refusal(error: DarkroomError) -> bytes:
    """A whole HTTP/1.1 response carrying `error`'s envelope, that closes the connection."""
    body = json.dumps(error.body()).encode()
    lines = [f"HTTP/1.1 {error.status} {HTTPStatus(error.status).phrase}".encode(),
             *(name + b": " + value for name, value in refusal_headers(error, body))]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    limits = ConnectionLimits()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._in_headers = False
        self._arm(self.limits.header_timeout_seconds, "headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_headers or self.cycle is None or self.cycle.response_complete:
            self._header_bytes += len(data)  # an upper bound: a body may follow the headers in `data`
        super().data_received(data)
        if self._in_headers and self._header_bytes > self.limits.max_header_bytes and not self.transport.is_closing():
            self._refuse(HeadersTooLarge(f"The request's headers exceed {self.limits.max_header_bytes} bytes."))

    # ---- parser callbacks --------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        if self._deadline is None:  # a kept-alive connection's next request: a fresh header deadline
            self._arm(self.limits.header_timeout_seconds, "headers")

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._header_bytes = 0
        self._disarm()
        over = len(self.connections) > self.limits.max_connections
        app = self.app
        if over:
            self.app = _overloaded
        try:
            super().on_headers_complete()
        finally:
            self.app = app
        if not over:
            self._arm(self.limits.body_timeout_seconds, "body")

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    # ---- deadlines ---------------------------------------------------------------------------------

    def _arm(self, seconds: float, part: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired, part, seconds)

    def _disarm(self) -> None:
        if getattr(self, "_deadline", None) is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, part: str, seconds: float) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        self.logger.info("closing a connection whose request %s did not arrive within %.0f s", part, seconds)
        self._refuse(RequestTimeout(f"The request's {part} did not arrive within {seconds:.0f} seconds."))

    def _refuse(self, error: DarkroomError) -> None:
        """Answer with the envelope unless a response has begun, then close; the route (if any) sees a
        disconnect."""
        cycle = self.cycle
        if cycle is None or not cycle.response_started:
            self.transport.write(refusal(error))
        if cycle is not None and not cycle.response_complete:
            cycle.response_started = True
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()


async def _overloaded(scope, receive, send) -> None:  # noqa: ANN001 - an ASGI app
    """The answer to a request on a connection past `max_connections`."""
    error = ServiceUnavailable("The server has too many open connections. Retry shortly.", code="server_overloaded",
                               headers={"Retry-After": str(OVERLOADED_RETRY_AFTER_SECONDS)})
    body = json.dumps(error.body()).encode()
    await send({"type": "http.response.start", "status": error.status, "headers": refusal_headers(error, body)})
    await send({"type": "http.response.body", "body": body})
