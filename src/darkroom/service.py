"""Runs one image request end to end: rules -> moderation -> engine -> encode -> store -> response.

Nothing here knows about HTTP. Blocking work (the engine, encoding, file writes) runs in two thread
pools sized to the cores, never on the event loop: one for engine calls (so concurrent requests do
not oversubscribe the CPU), one for encoding and storing, so the `n` images of a request are encoded
in parallel where the encoder releases the GIL. A single image is encoded in the engine's thread,
saving a hand-off between pools.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .catalog import Catalog
from .engines.base import GenerationJob
from .errors import DarkroomError, InvalidRequest, ModerationBlocked, ServerError
from .moderation import check_prompt
from .postprocess.encode import b64, encode
from .postprocess.tokens import generation_usage
from .protocol.images import Image, ImageGenerateRequest, ImagesResponse
from .rules import GenerationPlan, plan_generation
from .storage.local import LocalImageStore

log = logging.getLogger("darkroom.service")


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What the service needs to know about the HTTP request it serves."""

    request_id: str
    base_url: str  # public base for signed links, without a trailing slash


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished request: the response and the figures worth logging."""

    response: ImagesResponse
    seed: int
    engine_seconds: float
    encode_seconds: float


class ImageService:
    def __init__(self, catalog: Catalog, store: LocalImageStore, prompt_limits: dict[str, int]) -> None:
        self.catalog = catalog
        self.store = store
        self.prompt_limits = prompt_limits
        cores = os.cpu_count() or 2
        self._engine_pool = ThreadPoolExecutor(max_workers=cores, thread_name_prefix="darkroom-engine")
        self._encode_pool = ThreadPoolExecutor(max_workers=cores, thread_name_prefix="darkroom-encode")

    def close(self) -> None:
        self._engine_pool.shutdown(wait=False, cancel_futures=True)
        self._encode_pool.shutdown(wait=False, cancel_futures=True)

    async def generate(self, req: ImageGenerateRequest, ctx: RequestContext) -> Outcome:
        # 1. Rules: every check before any work.
        plan = plan_generation(req, self.catalog, self.prompt_limits)
        # 2. Prompt moderation.
        self._moderate(plan, ctx)
        # 3. Engine, off the event loop; 4. encode (and store, for url responses) each image.
        loop = asyncio.get_running_loop()
        if plan.n == 1:
            (image,), engine_s, encode_s = await loop.run_in_executor(self._engine_pool, self._render, plan, ctx)
            data = [image]
        else:
            started = time.perf_counter()
            pixels = await loop.run_in_executor(self._engine_pool, self._run_engine, plan)
            engine_s = time.perf_counter() - started
            data = await asyncio.gather(*(loop.run_in_executor(self._encode_pool, self._finish, plan, image, ctx)
                                          for image in pixels))
            encode_s = time.perf_counter() - started - engine_s
        log.info("%s generated model=%s size=%s n=%d format=%s seed=%d user=%r engine_ms=%.1f encode_ms=%.1f",
                 ctx.request_id, plan.spec.name, plan.size, plan.n, plan.output_format, plan.seeds[0], plan.user,
                 engine_s * 1000, encode_s * 1000)
        return Outcome(self._response(plan, list(data)), plan.seeds[0], engine_s, encode_s)

    def _render(self, plan: GenerationPlan, ctx: RequestContext) -> tuple[list[Image], float, float]:
        """Engine and encoding in one worker thread (one image: nothing to parallelise)."""
        started = time.perf_counter()
        pixels = self._run_engine(plan)
        engine_done = time.perf_counter()
        data = [self._finish(plan, image, ctx) for image in pixels]
        return data, engine_done - started, time.perf_counter() - engine_done

    def _moderate(self, plan: GenerationPlan, ctx: RequestContext) -> None:
        categories = check_prompt(plan.prompt, plan.moderation)
        if not categories:
            return
        log.info("request %s blocked by prompt moderation: %s", ctx.request_id, ", ".join(categories))
        if plan.spec.is_gpt:
            raise ModerationBlocked(
                "Your request was rejected by the safety system. If you believe this is an error, contact us "
                f"and include the request ID {ctx.request_id}.",
                extra={"moderation_details": {"moderation_stage": "input", "categories": categories}},
            )
        raise InvalidRequest(
            "Your request was rejected as a result of our safety system. Your prompt may contain text that is "
            "not allowed by our safety system.", code="content_policy_violation",
        )

    def _run_engine(self, plan: GenerationPlan) -> list[np.ndarray]:
        job = GenerationJob(
            prompt=plan.prompt, width=plan.width, height=plan.height, quality=plan.engine_quality,
            seeds=plan.seeds, transparent=plan.background == "transparent", style=plan.style,
        )
        try:
            images = plan.spec.engine.generate(job)
        except DarkroomError:
            raise
        except Exception as exc:
            log.exception("engine %s failed on model %s", plan.spec.engine_name, plan.spec.name)
            raise ServerError("The image engine failed while generating this request.") from exc
        channels = 4 if job.transparent else 3
        if len(images) != job.n or any(i.shape != (job.height, job.width, channels) or i.dtype != np.uint8
                                       for i in images):
            log.error("engine %s broke its contract for %s", plan.spec.engine_name, plan.size)
            raise ServerError("The image engine returned images of the wrong shape.")
        return images

    def _finish(self, plan: GenerationPlan, pixels: np.ndarray, ctx: RequestContext) -> Image:
        blob = encode(pixels, plan.output_format, plan.output_compression)
        revised = plan.prompt if plan.spec.family == "dall-e-3" else None
        if plan.response_format == "url":
            name = self.store.save(blob, plan.output_format)
            return Image(url=self.store.signed_url(ctx.base_url, name), revised_prompt=revised)
        return Image(b64_json=b64(blob), revised_prompt=revised)

    def _response(self, plan: GenerationPlan, data: list[Image]) -> ImagesResponse:
        response = ImagesResponse(created=int(time.time()), data=data)
        if not plan.spec.is_gpt:
            return response
        response.background = plan.background
        response.output_format = plan.output_format
        response.size = plan.size
        response.quality = plan.quality
        response.usage = generation_usage(plan.spec.family, plan.quality, plan.width, plan.height, plan.n, plan.prompt)
        return response
