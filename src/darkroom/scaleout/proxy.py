"""Ray Serve's HTTP proxy, as Darkroom needs it: one `x-request-id` on every answer.

Serve's proxy gives each request an id of its own (a UUID, or the `x-request-id` the client sent) and
appends it to the response as a second `X-Request-ID`, after the one the ingress set (Darkroom's
`req_...`, the id in its access log, ledger and error logs). The client would then read both, joined by
a comma (the openai SDKs' `_request_id` included). `OneRequestId` wraps the proxy's app, outside
Serve's own middleware, and keeps the first id of each answer: Darkroom's where the ingress answered,
the proxy's where the proxy answered alone (a route it does not know, an application still deploying).

Serve loads it from `RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH` (`darkroom.scaleout.proxy:middlewares`),
which `darkroom serve --ray` sets, and deploy/kuberay sets on every pod.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CALLBACK = "darkroom.scaleout.proxy:middlewares"
CALLBACK_VARIABLE = "RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH"
_REQUEST_ID = b"x-request-id"


def middlewares() -> list[Any]:
    """What Serve's proxy calls at start-up: the middlewares to wrap its app in."""
    from starlette.middleware import Middleware

    return [Middleware(OneRequestId)]


class ResponseHeaders:
    """ASGI middleware: each HTTP answer's headers, streams included, go through `rewrite` on their way out."""

    def __init__(self, app: Any, rewrite: Callable[[list[tuple[bytes, bytes]]], list[tuple[bytes, bytes]]]) -> None:
        self.app, self.rewrite = app, rewrite

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def rewritten(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": self.rewrite(list(message.get("headers", [])))}
            await send(message)

        await self.app(scope, receive, rewritten)


class OneRequestId(ResponseHeaders):
    """Of several `x-request-id` headers on an answer, the first stays."""

    def __init__(self, app: Any) -> None:
        super().__init__(app, one_request_id)


def one_request_id(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    kept, seen = [], False
    for name, value in headers:
        if name.lower() == _REQUEST_ID:
            if seen:
                continue
            seen = True
        kept.append((name, value))
    return kept
