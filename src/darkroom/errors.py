"""Darkroom's exception tree. Each class is one OpenAI error shape: (HTTP status, type, code).

    DarkroomError                       500 server_error           - base; never raised bare
    ├── InvalidRequest                  400 invalid_request_error  invalid_value
    │   ├── InvalidType                 400                         invalid_type
    │   ├── MissingParameter            400                         missing_required_parameter
    │   ├── UnknownParameter            400                         unknown_parameter
    │   ├── UnsupportedParameter        400                         unsupported_parameter
    │   ├── InvalidJSON                 400                         invalid_json
    │   └── ModerationBlocked           400 image_generation_user_error moderation_blocked
    ├── AuthenticationFailed            401 invalid_request_error  invalid_api_key (or null)
    ├── PermissionDenied                403 invalid_request_error  forbidden
    ├── NotFound                        404 invalid_request_error  not_found
    │   └── ModelNotFound               404                         model_not_found
    ├── MethodNotAllowed                405 invalid_request_error  method_not_allowed
    ├── RequestTimeout                  408 invalid_request_error  request_timeout (headers or body too slow)
    ├── PayloadTooLarge                 413 invalid_request_error  request_too_large
    ├── HeadersTooLarge                 431 invalid_request_error  headers_too_large
    ├── RateLimited                     429 requests               rate_limit_exceeded (+ Retry-After)
    ├── QuotaExceeded                   429 insufficient_quota     insufficient_quota (no Retry-After;
    │                                                               x-should-retry: false)
    ├── ServerError                     500 server_error           internal_error (message sanitised)
    ├── ServiceUnavailable              503 server_error           service_unavailable (overloaded, loading,
    │   │                                                           out of memory, shutting down: + Retry-After)
    │   └── StoreUnavailable            503                         store_unavailable, storage_unavailable (the
    │                                                               metadata store or the image store is down)
    ├── InsufficientStorage             507 server_error           insufficient_storage (a disk is full)
    ├── GatewayTimeout                  504 server_error           timeout (the request's deadline passed)
    │   └── UpstreamTimeout             504                         upstream_timeout (an upstream did not answer)
    ├── BadGateway                      502 server_error           upstream_unreachable, upstream_invalid_response...
    └── UpstreamError                   the upstream's own status, type, code, param and message, passed through

`no_work` marks an error after which the target provably did nothing (a connection that never opened,
a 429 or 503 answered before any work, a full queue): routes may try the next target (`routing.py`).

Raise these anywhere below the HTTP layer; `api/errors.py` turns them into the envelope
`{"error": {"message", "type", "param", "code"}}` in one place. Foreign exceptions are
translated at the boundary where they occur (`raise ServerError(...) from exc`).
"""

from __future__ import annotations

from typing import Any

_DEFAULT: Any = object()  # "use the class's code"; an explicit None means the envelope's code is null


class DarkroomError(Exception):
    """Base of every error a client can see."""

    status: int = 500
    type: str = "server_error"
    code: str | None = "internal_error"
    no_work: bool = False  # the failing target did no work: a route may try another (`routing.py`)
    repeatable: bool = False  # ambiguous (a timeout, a 5xx), but its target is marked safe to repeat

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = _DEFAULT,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not _DEFAULT:
            self.code = code
        self.headers = headers or {}
        self.extra = extra or {}  # more keys inside "error" (e.g. moderation_details)

    def body(self) -> dict[str, Any]:
        """The OpenAI error envelope: all four keys always present."""
        error = {"message": self.message, "type": self.type, "param": self.param, "code": self.code}
        error.update(self.extra)
        return {"error": error}


class InvalidRequest(DarkroomError):
    """A request that breaks a rule of the API or of the model's family."""

    status = 400
    type = "invalid_request_error"
    code = "invalid_value"


class InvalidType(InvalidRequest):
    """A field of the wrong JSON type (`"2"` for `n`, `50.5` for `output_compression`)."""

    code = "invalid_type"


class MissingParameter(InvalidRequest):
    """A required field is absent or null."""

    code = "missing_required_parameter"


class UnknownParameter(InvalidRequest):
    """A body field the API does not know (OpenAI's `Unknown parameter: 'x'.`)."""

    code = "unknown_parameter"


class UnsupportedParameter(InvalidRequest):
    """A known field that the chosen model does not accept (`style` on gpt-image-1)."""

    code = "unsupported_parameter"


class InvalidJSON(InvalidRequest):
    """A body that is not a JSON object, or not UTF-8."""

    code = "invalid_json"


class ModerationBlocked(InvalidRequest):
    """The prompt or an output image was blocked by moderation."""

    type = "image_generation_user_error"
    code = "moderation_blocked"


class AuthenticationFailed(DarkroomError):
    """No API key, or a wrong one."""

    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class PermissionDenied(DarkroomError):
    """A valid request for something the caller may not have (a tampered or expired image link)."""

    status = 403
    type = "invalid_request_error"
    code = "forbidden"


class NotFound(DarkroomError):
    """No such route or resource."""

    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ModelNotFound(NotFound):
    """`GET /v1/models/{id}` for a model that is not served."""

    code = "model_not_found"


class MethodNotAllowed(DarkroomError):
    """A known route called with the wrong HTTP method."""

    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


class RequestTimeout(DarkroomError):
    """A request's headers or body did not arrive within `header_timeout_seconds` / `body_timeout_seconds`
    (`connections.py` answers it and closes the connection: the app never saw the request)."""

    status = 408
    type = "invalid_request_error"
    code = "request_timeout"


class PayloadTooLarge(DarkroomError):
    """A request body over `max_body_bytes`."""

    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class HeadersTooLarge(DarkroomError):
    """A request line and headers over `max_header_bytes` (`connections.py`, like `RequestTimeout`)."""

    status = 431
    type = "invalid_request_error"
    code = "headers_too_large"


class RateLimited(DarkroomError):
    """An API key over its requests-per-minute or images-per-minute limit (`store/limits.py`)."""

    status = 429
    type = "requests"
    code = "rate_limit_exceeded"


class QuotaExceeded(DarkroomError):
    """An API key over its monthly image quota. The SDKs are told not to retry: waiting will not help."""

    status = 429
    type = "insufficient_quota"
    code = "insufficient_quota"

    def __init__(self, message: str, **kwargs) -> None:  # noqa: ANN003 - DarkroomError's keywords
        super().__init__(message, **kwargs)
        self.headers = {"x-should-retry": "false", **self.headers}


class ServerError(DarkroomError):
    """A failure inside Darkroom. The message must not leak internals (tracebacks, paths, addresses)."""

    status = 500
    type = "server_error"
    code = "internal_error"


class ServiceUnavailable(DarkroomError):
    """Darkroom cannot take the request now (models still loading, shutting down)."""

    status = 503
    type = "server_error"
    code = "service_unavailable"


class StoreUnavailable(ServiceUnavailable):
    """The metadata store (`store/`, code `store_unavailable`) or the image store (`storage/`, code
    `storage_unavailable`) cannot be reached or failed. Always with Retry-After: it is usually back soon."""

    code = "store_unavailable"
    RETRY_AFTER_SECONDS = 2

    def __init__(self, message: str, **kwargs) -> None:  # noqa: ANN003 - DarkroomError's keywords
        super().__init__(message, **kwargs)
        self.headers = {"Retry-After": str(self.RETRY_AFTER_SECONDS), **self.headers}


class InsufficientStorage(DarkroomError):
    """A write the request needs failed because a disk is full (WebDAV's 507: OpenAI has no such error).
    No Retry-After: space comes back only when something frees it."""

    status = 507
    type = "server_error"
    code = "insufficient_storage"


class GatewayTimeout(DarkroomError):
    """The request's deadline (`request_timeout_seconds`) passed before its images were ready."""

    status = 504
    type = "server_error"
    code = "timeout"


class UpstreamTimeout(GatewayTimeout):
    """An upstream provider accepted the request (or never answered the connection) and then did not
    answer within the model's `timeout_seconds`."""

    code = "upstream_timeout"


class BadGateway(DarkroomError):
    """An upstream provider could not be reached, or answered something that is not OpenAI's API."""

    status = 502
    type = "server_error"
    code = "upstream_error"


class UpstreamError(DarkroomError):
    """An error an upstream provider answered, passed through as it was: its status, type, code, param,
    message and any other keys of its `error` object (e.g. `moderation_details`): `from_envelope`."""

    status = 502

    def __init__(self, message: str, *, status: int = 502, type: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.status = status
        self.type = type or ("server_error" if status >= 500 else "invalid_request_error")

    @classmethod
    def from_envelope(cls, status: int, error: dict[str, Any], *, headers: dict[str, str] | None = None
                      ) -> UpstreamError:
        extra = {k: v for k, v in error.items() if k not in ("message", "type", "param", "code")}
        return cls(str(error.get("message") or f"The upstream provider answered HTTP {status}."), status=status,
                   type=error.get("type"), param=error.get("param"), code=error.get("code"), headers=headers,
                   extra=extra)
