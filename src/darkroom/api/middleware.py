"""Pure-ASGI middleware that every HTTP request passes through, outermost of Darkroom's own.

- gives the request an id (`x-request-id` on every response, success or error);
- adds `openai-processing-ms`, and the `x-ratelimit-*` headers of a key with limits (`api/auth.py`
  collects them in `request.state.ratelimit_headers`);
- caps the request body (413 in the envelope), counting chunked bodies too: at `max_body_bytes`, or
  at a path's own cap (`path_caps`: the upload endpoints take images);
- turns any exception that escaped the routers into a sanitised 500, so the id header is never lost;
- once the response has ended (its last byte sent, or the request given up), builds the request's
  `RequestRecord` (`record.py`), writes the access log line and hands the record to each finisher in
  `app.state.finishers` (the metrics, the usage ledger). A finisher that raises is logged, never felt
  by the client;
- counts the image requests in flight (`darkroom_inflight_requests`, when the app has metrics).

The access log: one JSON line per request on the `darkroom.access` logger at INFO, e.g.
`{"request_id": "req_..", "method": "POST", "path": "/v1/images/generations", "status": 200,
"ms": 812.4, "key": "ci", "model": "gpt-image-1", ..., "encode_ms": 3.1, "prompt_hash": "9f2c..."}`;
absent fields are left out; the prompt appears as the `log_prompts` setting says (`prompt_log.py`:
not at all, as a keyed hash, or in full). Failures are logged on `darkroom.api`, so this logger
carries nothing but these lines. `key` is the API key's name from the configuration, never the key
itself; the query string is never logged (signed links carry their signature there).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import DarkroomError, PayloadTooLarge, ServerError
from ..metrics import Metrics, image_operation
from ..record import Finisher, RequestRecord
from .errors import error_response
from .prompt_log import PromptLog

log = logging.getLogger("darkroom.access")  # the JSON lines only
errors = logging.getLogger("darkroom.api")
CLIENT_CLOSED = 499  # nginx's "client closed request": the client left before the response started
SUMMARY_FIELDS = ("model", "served_by", "engine", "operation", "n", "size", "quality", "output_format", "stream",
                  "images", "queue_ms", "engine_ms", "encode_ms", "moderation_ms", "moderation", "cost_usd",
                  "upstream_request_id")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int, path_caps: dict[str, int] | None = None,
                 prompts: PromptLog | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.path_caps = path_caps or {}
        self.prompts = prompts  # None: no prompt in the access log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req_{secrets.token_hex(16)}"
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 0
        ended = False
        inflight = _inflight(scope)
        if inflight is not None:
            inflight.inc()

        def end() -> None:
            nonlocal ended
            if ended:
                return
            ended = True
            if inflight is not None:
                inflight.dec()
            record = RequestRecord(request_id, scope["method"], scope["path"], status or CLIENT_CLOSED,
                                   time.perf_counter() - started, state.get("key_name"), state.get("error_code"),
                                   dict(state.get("summary") or {}))
            prompt = self.prompts.fields(state.get("prompt")) if self.prompts is not None else {}
            _dispatch(record, [lambda done: log_access(done, prompt), *_finishers(scope)])

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["x-request-id"] = request_id
                headers["openai-processing-ms"] = str(round((time.perf_counter() - started) * 1000))
                for name, value in scope["state"].get("ratelimit_headers", {}).items():
                    headers.setdefault(name, value)  # the key's limits (`api/auth.py`); a 429 brings its own
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                end()

        async def send_error(error: DarkroomError) -> None:
            state["error_code"] = error.code
            await error_response(error)(scope, receive, send_with_headers)

        try:
            cap = self.path_caps.get(scope["path"].rstrip("/"), self.max_body_bytes)
            too_large = PayloadTooLarge(f"Request body too large: the limit is {cap} bytes.", param=None)
            if _content_length(scope) > cap:
                await send_error(too_large)
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
                errors.exception("request %s failed", request_id)
                if status == 0:
                    await send_error(ServerError("The server had an error while processing your request."))
        finally:
            end()  # the client left, or the app ended without finishing its response


def log_access(record: RequestRecord, prompt: dict[str, str] | None = None) -> None:
    """The access log's finisher: one JSON line per request (see the module docstring); `prompt` is
    the prompt's field as `PromptLog.fields` gave it."""
    if not log.isEnabledFor(logging.INFO):
        return
    line: dict[str, Any] = {"request_id": record.request_id, "method": record.method, "path": record.path,
                            "status": record.status, "ms": round(record.seconds * 1000, 1), "key": record.key_name}
    line.update((name, record.summary.get(name)) for name in SUMMARY_FIELDS)
    line["error_code"] = record.error_code
    line.update(prompt or {})
    log.info("%s", json.dumps({k: v for k, v in line.items() if v is not None}, separators=(",", ":")))


def _dispatch(record: RequestRecord, finishers: list[Finisher]) -> None:
    for finish in finishers:
        try:
            finish(record)
        except Exception:
            errors.exception("finisher %r failed on request %s", finish, record.request_id)


def _app_state(scope: Scope) -> Any:
    return getattr(scope.get("app"), "state", None)  # Starlette puts the app in the scope


def _finishers(scope: Scope) -> list[Finisher]:
    return list(getattr(_app_state(scope), "finishers", None) or [])


def _inflight(scope: Scope) -> Any:
    """The in-flight gauge to move for this request: an image request in an app with metrics."""
    metrics: Metrics | None = getattr(_app_state(scope), "metrics", None)
    if metrics is None or image_operation(scope["method"], scope["path"]) is None:
        return None
    return metrics.inflight


def _content_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0
