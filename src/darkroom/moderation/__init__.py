"""Moderation: every prompt before any work, every input and output image before it is used or returned.

    moderator = Moderator.from_settings(settings)
    moderator.warm_up()                                        # at start, in a thread: loads the models
    await moderator.check_prompt(prompt, level, pool)          # -> blocked categories ([]: may run)
    await moderator.check_images(images, level, prompt, pool)  # the same for uint8 RGB(A) pixels

`level` is the request's `moderation`: `auto` (the default) or `low`, which blocks less. The checks:
- the prompt: curated term lists per category (`terms/*.toml`, data files), and alt-profanity-check's
  classifier for abusive language (`text.py`);
- images: nudenet's bundled detector (`nudity.py`). Nudity in an image whose prompt names minors is
  `sexual/minors`, blocked at every level, as are prompts pairing minors with sexual terms;
- optionally OpenAI's moderation endpoint for both (`remote.py`), when a key is set for it. If it
  fails, `on_remote_error` says whether the request fails with a 503 (`block`) or the local checks
  alone decide (`allow`).
Thresholds per level are settings (`moderation_auto`, `moderation_low`: `config.ModerationThresholds`).
Categories use OpenAI's moderation names (`sexual`, `sexual/minors`, `violence/graphic`, `self-harm`,
`hate`, `harassment`, `illicit`, ...). Local checks run in the caller's pool (they are CPU work), the
remote ones on the event loop, all at once. The service (`service.py`) turns a block into the error.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ..errors import ServiceUnavailable
from . import terms, text
from .nudity import NudityDetector, over_grey
from .remote import RemoteModeration, RemoteUnavailable, Scores

if TYPE_CHECKING:
    from ..config import ModerationThresholds, Settings

log = logging.getLogger("darkroom.moderation")
Level = str  # "auto" | "low"
REMOTE_RETRY_AFTER_SECONDS = 5
REMOTE_IMAGE_SIDE = 768  # images sent to OpenAI are downscaled to this: plenty to judge, far fewer bytes


class Moderator:
    def __init__(self, thresholds: dict[str, ModerationThresholds], enabled: bool = True,
                 remote: RemoteModeration | None = None, on_remote_error: str = "block",
                 detector: NudityDetector | None = None) -> None:
        self.enabled = enabled
        self.thresholds = thresholds
        self.remote = remote
        self.on_remote_error = on_remote_error
        self.detector = detector or NudityDetector()

    @classmethod
    def from_settings(cls, settings: Settings) -> Moderator:
        remote = None
        key = settings.moderation_openai_api_key.get_secret_value()
        if key:
            remote = RemoteModeration(key, settings.moderation_openai_base_url, settings.moderation_openai_model,
                                      settings.moderation_openai_timeout_seconds)
        return cls({"auto": settings.moderation_auto, "low": settings.moderation_low},
                   enabled=settings.moderation_enabled, remote=remote,
                   on_remote_error=settings.moderation_openai_on_error)

    def warm_up(self) -> None:
        """Load the text classifier and the image detector, so that no request pays for it (~1.5 s)."""
        if self.enabled:
            text.warm_up()
            self.detector.load()

    async def close(self) -> None:
        if self.remote is not None:
            await self.remote.close()

    # ---- the checks ------------------------------------------------------------------------------

    async def check_prompt(self, prompt: str, level: Level, pool: Executor) -> list[str]:
        """The categories that block `prompt` at `level`; [] when it may run."""
        if not self.enabled:
            return []
        loop = asyncio.get_running_loop()
        checks: list[Awaitable[Sequence[str]]] = [loop.run_in_executor(pool, self.prompt_categories, prompt, level)]
        if self.remote is not None:
            checks.append(self._ask_remote(self.remote.text(prompt), level))
        return ordered(await asyncio.gather(*checks))

    async def check_images(self, images: Sequence[np.ndarray], level: Level, prompt: str,
                           pool: Executor) -> list[str]:
        """The categories that block any of `images` (made for, or sent with, `prompt`) at `level`."""
        if not self.enabled or not images:
            return []
        loop = asyncio.get_running_loop()
        minors = terms.names_minors(prompt)
        checks: list[Awaitable[Sequence[str]]] = [
            loop.run_in_executor(pool, self.image_categories, pixels, level, minors) for pixels in images]
        if self.remote is not None:
            checks += [self._remote_image(pixels, level, pool) for pixels in images]
        return ordered(await asyncio.gather(*checks))

    def prompt_categories(self, prompt: str, level: Level) -> list[str]:
        """The local prompt checks alone (CPU work: call it off the event loop)."""
        return text.check_text(prompt, level, self.thresholds[level].harassment)

    def image_categories(self, pixels: np.ndarray, level: Level, minors: bool = False) -> list[str]:
        """The local image check alone (CPU work, ~25 ms: call it off the event loop)."""
        score = self.detector.score(pixels)
        if minors and score >= self.thresholds["auto"].nudity:  # the strictest threshold, at every level
            return ["sexual/minors"]
        return ["sexual"] if score >= self.thresholds[level].nudity else []

    # ---- OpenAI's endpoint -------------------------------------------------------------------------

    async def _remote_image(self, pixels: np.ndarray, level: Level, pool: Executor) -> list[str]:
        assert self.remote is not None
        jpeg = await asyncio.get_running_loop().run_in_executor(pool, _jpeg, pixels)
        return await self._ask_remote(self.remote.image(jpeg), level)

    async def _ask_remote(self, question: Awaitable[Scores], level: Level) -> list[str]:
        try:
            scores = await question
        except RemoteUnavailable as exc:
            if self.on_remote_error == "allow":
                log.warning("OpenAI moderation failed (%s); the local checks alone decide", exc)
                return []
            log.error("OpenAI moderation failed (%s); the request is refused", exc)
            raise ServiceUnavailable(
                "The moderation service is unavailable, so this request could not be checked. Retry shortly.",
                code="moderation_unavailable", headers={"Retry-After": str(REMOTE_RETRY_AFTER_SECONDS)},
            ) from None
        return self._remote_verdict(scores, level)

    def _remote_verdict(self, scores: Scores, level: Level) -> list[str]:
        def blocks(category: str, threshold: float | None) -> bool:
            flagged, score = scores.get(category, (False, 0.0))
            return flagged if threshold is None else score >= threshold

        # What blocks at `low` blocks at `auto` too (with auto on OpenAI's flags, a high score that OpenAI
        # did not flag would otherwise pass at the stricter level); sexual/minors blocks at auto's rule always.
        rules = [self.thresholds["low"].openai] + ([self.thresholds["auto"].openai] if level == "auto" else [])
        blocked = [category for category in scores if any(blocks(category, threshold) for threshold in rules)]
        if "sexual/minors" not in blocked and blocks("sexual/minors", self.thresholds["auto"].openai):
            blocked.append("sexual/minors")
        return blocked


def ordered(found: Sequence[Sequence[str]]) -> list[str]:
    """The union of the checks' categories, in a stable order (OpenAI's, then any others by name)."""
    return terms.in_order({category for categories in found for category in categories})


def _jpeg(pixels: np.ndarray) -> bytes:
    image = Image.fromarray(over_grey(pixels))
    image.thumbnail((REMOTE_IMAGE_SIDE, REMOTE_IMAGE_SIDE))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()

