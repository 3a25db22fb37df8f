"""The one place where exceptions become OpenAI's error envelope.

    DarkroomError            -> its own status, type, code, param (see darkroom/errors.py)
    starlette HTTPException  -> 404 not_found / 405 method_not_allowed / the status it carries
    RequestValidationError   -> 400 (FastAPI would say 422; OpenAI says 400)
    anything else            -> 500 server_error, message sanitised, traceback only in the log

The envelope's `code` is also kept on `request.state.error_code`, for the request's record
(`record.py`: the access log, the metrics, the ledger).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    DarkroomError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    ServerError,
)

log = logging.getLogger("darkroom.api")


def error_response(exc: DarkroomError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


def to_darkroom_error(exc: BaseException) -> DarkroomError:
    """Map any exception to the DarkroomError a client should see."""
    if isinstance(exc, DarkroomError):
        return exc
    if isinstance(exc, StarletteHTTPException):
        if exc.status_code == 404:
            return NotFound("Not found. Darkroom serves the OpenAI Image API under /v1 (e.g. POST /v1/images/generations).")
        if exc.status_code == 405:
            return MethodNotAllowed("Method not allowed for this route.")
        error = ServerError(str(exc.detail)) if exc.status_code >= 500 else InvalidRequest(str(exc.detail))
        error.status = exc.status_code
        return error
    if isinstance(exc, RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
        return InvalidRequest(f"Invalid request: {first.get('msg', 'validation failed')}.", param=".".join(loc) or None)
    return ServerError("The server had an error while processing your request. Sorry about that!")


def install_error_handlers(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        error = to_darkroom_error(exc)
        if isinstance(error, ServerError) and not isinstance(exc, DarkroomError):
            log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        request.state.error_code = error.code
        return error_response(error)

    for kind in (DarkroomError, StarletteHTTPException, RequestValidationError):
        app.add_exception_handler(kind, handle)
