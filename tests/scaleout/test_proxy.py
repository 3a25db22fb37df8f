"""The proxy middleware (`scaleout/proxy.py`): one `x-request-id` per answer, the first one (Darkroom's)."""

from __future__ import annotations

import asyncio

from darkroom.scaleout.proxy import OneRequestId, middlewares


def _answer(app, scope: dict) -> list[dict]:
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(OneRequestId(app)(scope, None, send))
    return sent


def test_the_first_request_id_stays_and_other_headers_and_the_body_pass():
    async def app(scope, receive, send):  # the ingress's id first, then the one Serve's proxy appends
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"x-request-id", b"req_1"), (b"content-type", b"image/png"),
                                (b"X-Request-ID", b"0b7c-uuid")]})
        await send({"type": "http.response.body", "body": b"png"})

    start, body = _answer(app, {"type": "http"})
    assert start["headers"] == [(b"x-request-id", b"req_1"), (b"content-type", b"image/png")]
    assert body == {"type": "http.response.body", "body": b"png"}


def test_an_answer_of_the_proxy_alone_keeps_its_id():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 404, "headers": [(b"X-Request-ID", b"0b7c-uuid")]})

    [start] = _answer(app, {"type": "http"})
    assert start["headers"] == [(b"X-Request-ID", b"0b7c-uuid")]


def test_serve_takes_the_callbacks_middlewares():
    from ray.serve._private.http_util import validate_http_proxy_callback_return

    assert validate_http_proxy_callback_return(middlewares())[0].cls is OneRequestId
