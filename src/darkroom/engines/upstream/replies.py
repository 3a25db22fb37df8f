"""What an upstream's error answers become for Darkroom's clients.

    an OpenAI error envelope            passed through: the same status, type, code, param, message and
                                        any other keys (`moderation_details`); Retry-After kept
    401 / 403                           502 `upstream_auth_failed`: the upstream refused Darkroom's own
                                        credentials, which is not the client's fault, and its message
                                        may quote part of the upstream key, so it is never passed on
    Azure content filtering             OpenAI's `moderation_blocked` (GPT families) or
                                        `content_policy_violation` (dall-e), Azure's own error kept
                                        under `error.upstream`
    anything else (HTML, no envelope)   429 and 503 keep their status; other answers are a 502
    429, 503                            `no_work`: answered before any work, so a route may move on

Azure's content-filter errors come in several shapes (`is_content_filter`): `code` "content_filter"
with `innererror.content_filter_result` (prompt filtering), "contentFilter" (DALL-E), and
"content_policy_violation" with `inner_error.content_filter_results` (and `revised_prompt`). The
categories filtered (`filtered: true`) are named as OpenAI's moderation names them.
"""

from __future__ import annotations

import json
from typing import Any

from ...errors import BadGateway, DarkroomError, UpstreamError

AZURE_FILTER_CODES = {"content_filter", "contentfilter", "content_policy_violation", "responsibleaipolicyviolation"}
_CATEGORY_NAMES = {"self_harm": "self-harm", "sexual_minors": "sexual/minors", "violence_graphic": "violence/graphic",
                   "hate_threatening": "hate/threatening", "self_harm_intent": "self-harm/intent"}
REQUEST_ID_HEADERS = ("x-request-id", "apim-request-id", "x-ms-request-id")


def upstream_request_id(headers: Any) -> str | None:
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value[:128]
    return None


def error_from(status: int, body: bytes, headers: Any, *, model: str, family: str, azure: bool) -> DarkroomError:
    """The DarkroomError for an upstream's non-2xx answer (`headers`: the upstream's response headers)."""
    passed: dict[str, str] = {}
    if status in (429, 503) and headers.get("retry-after"):
        passed["Retry-After"] = headers["retry-after"]
    request_id = upstream_request_id(headers)
    if request_id:
        passed["x-darkroom-upstream-request-id"] = request_id
    error = _envelope(body)
    if status in (401, 403):
        failed: DarkroomError = BadGateway(
            f"The upstream provider of model '{model}' refused Darkroom's credentials (HTTP {status}). "
            "The server's operator must check the upstream key.", code="upstream_auth_failed", headers=passed)
    elif error is not None and azure and is_content_filter(error):
        failed = content_filtered(error, family, passed)
    elif error is not None:
        failed = UpstreamError.from_envelope(status, error, headers=passed)
    elif status in (429, 503):
        failed = UpstreamError.from_envelope(status, {"message": f"The upstream provider of model '{model}' is busy (HTTP "
                                                   f"{status}). Retry shortly.", "type": "server_error",
                                        "code": "rate_limit_exceeded" if status == 429 else "server_overloaded"},
                               headers=passed)
    else:
        failed = BadGateway(f"The upstream provider of model '{model}' answered HTTP {status} without an OpenAI "
                            "error.", code="upstream_error", headers=passed)
    failed.no_work = status in (429, 503)
    return failed


def _envelope(body: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    error = payload.get("error") if isinstance(payload, dict) else None
    return error if isinstance(error, dict) else None


def is_content_filter(error: dict[str, Any]) -> bool:
    inner = _inner(error)
    codes = {str(error.get("code") or "").lower(), str(inner.get("code") or "").lower()}
    return bool(codes & AZURE_FILTER_CODES)


def content_filtered(error: dict[str, Any], family: str, headers: dict[str, str]) -> DarkroomError:
    """Azure's content-filter error in OpenAI's shape, Azure's own error kept under `upstream`."""
    stage = "output" if _says_output(error) else "input"
    categories = filtered_categories(error)
    message = str(error.get("message") or "Your request was rejected by the upstream provider's safety system.")
    if family.startswith("gpt-image"):
        mapped = {"message": message, "type": "image_generation_user_error", "param": error.get("param"),
                  "code": "moderation_blocked",
                  "moderation_details": {"moderation_stage": stage, "categories": categories}}
    else:
        mapped = {"message": message, "type": "invalid_request_error", "param": error.get("param"),
                  "code": "content_policy_violation"}
    return UpstreamError.from_envelope(400, {**mapped, "upstream": error}, headers=headers)


def filtered_categories(error: dict[str, Any]) -> list[str]:
    inner = _inner(error)
    results = (inner.get("content_filter_result") or inner.get("content_filter_results")
               or error.get("content_filter_result") or error.get("content_filter_results") or {})
    found = []
    if isinstance(results, dict):
        for name, verdict in results.items():
            if isinstance(verdict, dict) and verdict.get("filtered"):
                found.append(_CATEGORY_NAMES.get(name, name))
    return found


def _inner(error: dict[str, Any]) -> dict[str, Any]:
    inner = error.get("innererror") or error.get("inner_error") or {}
    return inner if isinstance(inner, dict) else {}


def _says_output(error: dict[str, Any]) -> bool:
    """Azure says which side was filtered only in words: the prompt (input), or the generated image."""
    if error.get("param") == "prompt":
        return False
    text = str(error.get("message") or "").lower()
    return "generated image" in text or "output" in text or ("response" in text and "prompt" not in text)
