"""OpenAI's moderation endpoint (`POST /v1/moderations`, omni-moderation), as an optional second opinion.

    remote = RemoteModeration(api_key, base_url, model, timeout)
    scores = await remote.text("a prompt")            # {category: (flagged, score)}
    scores = await remote.image(jpeg_bytes)           # the same for one image
    await remote.close()

Used only when `moderation_openai_api_key` is set. Any failure (timeout, connection, a non-2xx
answer, a body that is not a moderation result) raises `RemoteUnavailable`; the policy then blocks
or allows as `moderation_openai_on_error` says. Only categories and scores leave this module: the
prompt and the image are sent to OpenAI and never logged here.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

log = logging.getLogger("darkroom.moderation")

Scores = dict[str, tuple[bool, float]]  # category -> (OpenAI flagged it, its score)


class RemoteUnavailable(Exception):
    """The moderation endpoint gave no usable answer; the message says why (no content in it)."""


class RemoteModeration:
    def __init__(self, api_key: str, base_url: str, model: str, timeout: float) -> None:
        self._api_key = api_key
        self.url = base_url.rstrip("/") + "/moderations"
        self.model = model
        self.timeout = timeout
        self._client = None  # httpx.AsyncClient, made on the event loop at first use

    async def text(self, prompt: str) -> Scores:
        return await self._ask(prompt)

    async def image(self, jpeg: bytes) -> Scores:
        url = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
        return await self._ask([{"type": "image_url", "image_url": {"url": url}}])

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _ask(self, payload: str | list[dict[str, Any]]) -> Scores:
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout,
                                             headers={"Authorization": f"Bearer {self._api_key}"})
        try:
            response = await self._client.post(self.url, json={"model": self.model, "input": payload})
        except httpx.TimeoutException:
            raise RemoteUnavailable(f"no answer within {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise RemoteUnavailable(f"{type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            raise RemoteUnavailable(f"HTTP {response.status_code}: {_error_message(response)}")
        try:
            return _scores(response.json())
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RemoteUnavailable(f"not a moderation result ({type(exc).__name__}: {exc})") from None


def _scores(body: dict[str, Any]) -> Scores:
    """Every category over all results: flagged if any result flags it, the highest score."""
    merged: Scores = {}
    results = body["results"]
    if not results:
        raise ValueError("no results")
    for result in results:
        flags, scores = result["categories"], result["category_scores"]
        for category, score in scores.items():
            flagged, best = merged.get(category, (False, 0.0))
            merged[category] = (flagged or bool(flags.get(category)), max(best, float(score)))
    return merged


def _error_message(response) -> str:
    try:
        return str(response.json()["error"]["message"])[:200]
    except Exception:
        return response.text[:200]
