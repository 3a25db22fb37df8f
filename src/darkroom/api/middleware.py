"""Pure-ASGI middleware that every HTTP request passes through, outermost of Darkroom's own.

- gives the request an id (`x-request-id` on every response, success or error);
- adds `openai-processing-ms`;
- caps the request body (413 in the envelope), counting chunked bodies too: at `max_body_bytes`, or
  at a path's own cap (`path_caps`: the upload endpoints take images);
- turns any exception that escaped the routers into a sanitised 500, so the id header is never lost.
"""

from __future__ import annotations

import logging
import secrets
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import PayloadTooLarge, ServerError
from .errors import error_response

log = logging.getLogger("darkroom.access")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int, path_caps: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.path_caps = path_caps or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req_{secrets.token_hex(16)}"
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["x-request-id"] = request_id
                headers["openai-processing-ms"] = str(round((time.perf_counter() - started) * 1000))
            await send(message)

        cap = self.path_caps.get(scope["path"].rstrip("/"), self.max_body_bytes)
        too_large = PayloadTooLarge(f"Request body too large: the limit is {cap} bytes.", param=None)
        if _content_length(scope) > cap:
            await error_response(too_large)(scope, receive, send_with_headers)
            return
        received = 0

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    raise too_large
            return message

        try:
            await self.app(scope, capped_receive, send_with_headers)
        except Exception:
            log.exception("request %s failed", request_id)
            if status == 0:
                await error_response(ServerError("The server had an error while processing your request."))(
                    scope, receive, send_with_headers)
        finally:
            log.debug("%s %s %s %s", request_id, scope["method"], scope["path"], status)


def _content_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0
