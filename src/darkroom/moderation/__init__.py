"""Moderation: every prompt before any work, every input and output image before it is used or returned.

    moderator = Moderator.from_settings(settings)
    moderator.warm_up()                                        # at start, in a thread: loads the models
    moderator.use_device("cuda:0")                             # an engine runs there: the detector may too
    await moderator.check_prompt(prompt, level, pool)          # -> blocked categories ([]: may run)
    await moderator.check_images(images, level, prompt, pool)  # the same for uint8 RGB(A) pixels
    await moderator.check_images(images, level, prompt, pool, ceiling=0.5)  # a procedural engine's output

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
`hate`, `harassment`, `illicit`, ...). The service (`service.py`) turns a block into the error.

What each check costs, and what is not paid for:
- the local prompt check is remembered per level (`verdicts.py`): the same prompt at the same level
  gets the same verdict without a second check. A short prompt (up to `INLINE_PROMPT_CHARS`, ~0.1-0.4
  ms) is checked on the event loop once `warm_up()` has finished; a longer one, or any before then
  (it waits for the classifier), in the caller's pool. `status` (`/health`) says whether warm-up is done;
- images are checked on the moderator's own thread (`darkroom-moderation`), never the engine's or the
  encoders', all of one call in one batch of the detector. On the CPU the detector takes every core
  when no local engine is computing (`engines_busy`, set by the service), and few when one is;
- `ceiling`: an engine that only draws procedural shapes declares the highest score its drawings can
  reach on the detector (`Capabilities.detector_ceiling`). When that is below every threshold that
  could block the image (the level's, or auto's when the prompt names minors), the detector cannot
  block it and is not run; OpenAI's endpoint, when configured, is still asked.
Remote checks run on the event loop, all at once with the local ones.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ..errors import ServiceUnavailable
from . import terms, text
from .nudity import NudityDetector, over_grey
from .remote import RemoteModeration, RemoteUnavailable, Scores
from .verdicts import PromptVerdicts

if TYPE_CHECKING:
    from ..config import ModerationThresholds, Settings

log = logging.getLogger("darkroom.moderation")
Level = str  # "auto" | "low"
REMOTE_RETRY_AFTER_SECONDS = 5
REMOTE_IMAGE_SIDE = 768  # images sent to OpenAI are downscaled to this: plenty to judge, far fewer bytes
INLINE_PROMPT_CHARS = 2000  # the local check of a prompt up to this long runs on the event loop (<= ~0.4 ms)
PROMPT_VERDICTS = 4096  # remembered prompt verdicts (per level), least recently used dropped first


class Moderator:
    def __init__(self, thresholds: dict[str, ModerationThresholds], enabled: bool = True,
                 remote: RemoteModeration | None = None, on_remote_error: str = "block",
                 detector: NudityDetector | None = None) -> None:
        self.enabled = enabled
        self.thresholds = thresholds
        self.remote = remote
        self.on_remote_error = on_remote_error
        self.detector = detector or NudityDetector()
        self.verdicts = PromptVerdicts(PROMPT_VERDICTS)
        # Is a local engine computing on the CPU right now? (The service sets it; the detector then
        # leaves those cores alone.)
        self.engines_busy: Callable[[], bool] = lambda: False
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="darkroom-moderation")
        self._warm = threading.Event()  # set once warm_up() has loaded the models

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
        """Load the text classifier and the image detector, so that no request pays for it (~1 s; ~2.5 s on a
        first start, before the classifier is cached: moderation/text.py)."""
        if self.enabled:
            text.warm_up()
            self.detector.load()
        self._warm.set()

    @property
    def status(self) -> str:
        """`off` (moderation disabled), `loading` (until warm_up() has finished) or `ready`; `/health` shows it."""
        if not self.enabled:
            return "off"
        return "ready" if self._warm.is_set() else "loading"

    def use_device(self, device: str) -> None:
        """A local engine computes on `device`: run the detector there too when onnxruntime can (CUDA)."""
        if self.enabled and device.startswith("cuda"):
            provider = self.detector.use_device(device)
            log.info("image moderation runs on %s (%s)", device if provider != "CPUExecutionProvider" else "the CPU",
                     provider if provider != "CPUExecutionProvider" else
                     "onnxruntime's CUDA provider is not installed: pip install 'darkroom[gpu]'")

    async def close(self) -> None:
        if self.remote is not None:
            await self.remote.close()
        self._thread.shutdown(wait=False)

    # ---- the checks ------------------------------------------------------------------------------

    async def check_prompt(self, prompt: str, level: Level, pool: Executor) -> list[str]:
        """The categories that block `prompt` at `level`; [] when it may run."""
        if not self.enabled:
            return []
        checks: list[Awaitable[Sequence[str]]] = [self._local_prompt(prompt, level, pool)]
        if self.remote is not None:
            checks.append(self._ask_remote(self.remote.text(prompt), level))
        return ordered(await asyncio.gather(*checks))

    async def _local_prompt(self, prompt: str, level: Level, pool: Executor) -> list[str]:
        found = self.verdicts.get(prompt, level)
        if found is not None:
            return found
        # Before warm-up has finished the check waits for the classifier: never on the event loop.
        if len(prompt) <= INLINE_PROMPT_CHARS and self._warm.is_set():
            return self._checked_prompt(prompt, level)
        return await asyncio.get_running_loop().run_in_executor(pool, self._checked_prompt, prompt, level)

    async def check_images(self, images: Sequence[np.ndarray], level: Level, prompt: str,
                           pool: Executor, *, ceiling: float | None = None) -> list[str]:
        """The categories that block any of `images` (made for, or sent with, `prompt`) at `level`.

        `ceiling`: the highest detector score the images can have (a procedural engine's drawings);
        the detector is skipped when that cannot reach a blocking threshold."""
        if not self.enabled or not images:
            return []
        loop = asyncio.get_running_loop()
        minors = terms.names_minors(prompt)
        checks: list[Awaitable[Sequence[str]]] = []
        if not self.detector_skipped(level, minors, ceiling):
            checks.append(loop.run_in_executor(self._thread, self.batch_categories, list(images), level, minors))
        if self.remote is not None:
            checks += [self._remote_image(pixels, level, pool) for pixels in images]
        return ordered(await asyncio.gather(*checks))

    def detector_skipped(self, level: Level, minors: bool, ceiling: float | None) -> bool:
        """Can an image scoring at most `ceiling` not be blocked at `level`? (Then the detector need not run.)"""
        return ceiling is not None and ceiling < self.lowest_blocking_score(level, minors)

    def lowest_blocking_score(self, level: Level, minors: bool) -> float:
        """The lowest detector score that blocks an image at `level` (auto's when the prompt names minors)."""
        threshold = self.thresholds[level].nudity
        return min(threshold, self.thresholds["auto"].nudity) if minors else threshold

    def describe(self, moderated: bool, ceiling: float | None) -> dict[str, object]:
        """What is checked for a model, as `/v1/models` shows it (`moderated`: Darkroom moderates it)."""
        if not self.enabled or not moderated:
            return {"by": "nobody" if not self.enabled else "provider"}
        described: dict[str, object] = {"by": "darkroom", "prompts": "checked", "input_images": "checked",
                                        "output_images": "checked"}
        if ceiling is None:
            return described
        skipped = [level for level in ("auto", "low") if self.detector_skipped(level, False, ceiling)]
        minors = "" if all(self.detector_skipped(level, True, ceiling) for level in skipped) else \
            ", unless the prompt names minors"
        remote = " (OpenAI's endpoint still sees them)" if self.remote is not None else ""
        if skipped:
            described["output_images"] = ("edits and variations checked; generations not run through the nudity "
                                          f"detector at {' and '.join(skipped)}{minors}{remote}")
            described["reason"] = (f"procedural drawings: they score at most {ceiling} on the nudity detector, "
                                   "below every threshold that could block them")
        described["detector_ceiling"] = ceiling
        return described

    def prompt_categories(self, prompt: str, level: Level) -> list[str]:
        """The local prompt checks alone, remembered per level (CPU work: a long prompt off the event loop)."""
        found = self.verdicts.get(prompt, level)
        return self._checked_prompt(prompt, level) if found is None else found

    def _checked_prompt(self, prompt: str, level: Level) -> list[str]:
        found = text.check_text(prompt, level, self.thresholds[level].harassment)
        self.verdicts.put(prompt, level, found)
        return found

    def image_categories(self, pixels: np.ndarray, level: Level, minors: bool = False) -> list[str]:
        """The local check of one image (CPU work, ~25 ms: call it off the event loop)."""
        return self.batch_categories([pixels], level, minors)

    def batch_categories(self, images: Sequence[np.ndarray], level: Level, minors: bool = False) -> list[str]:
        """The local check of several images in one call of the detector (on every core if no engine computes)."""
        score = max(self.detector.score_batch(images, wide=not self.engines_busy()))
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

