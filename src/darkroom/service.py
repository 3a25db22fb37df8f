"""Runs one image request end to end: rules -> moderation -> engine -> encode -> store -> response.

Nothing here knows about HTTP. Blocking work (the engine, encoding, file writes) runs in thread pools,
never on the event loop: engine calls in a pool sized to the cores (so concurrent requests do not
oversubscribe the CPU), except for engines that are not thread-safe (diffusers pipelines), which get
a single thread of their own so their calls are serialised and a second request waits its turn;
encoding and storing in another pool, so the `n` images of a request are encoded in parallel where
the encoder releases the GIL. A single image is encoded in the engine's thread, saving a hand-off.
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
from .engines.base import Engine, Generation, GenerationJob
from .errors import DarkroomError, InvalidRequest, ModerationBlocked, ServerError
from .moderation import check_prompt
from .postprocess.encode import b64, encode
from .postprocess.tokens import generation_usage
from .protocol.images import Image, ImageGenerateRequest, ImagesResponse
from .loading import EngineLoader
from .rules import GenerationPlan, model_name, plan_generation
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
    info: dict[str, str | int | float]  # what the engine reports about the run (steps, scheduler...)


class ImageService:
    def __init__(self, catalog: Catalog, store: LocalImageStore, prompt_limits: dict[str, int]) -> None:
        self.catalog = catalog
        self.store = store
        self.prompt_limits = prompt_limits
        self.loader = EngineLoader(catalog)
        cores = os.cpu_count() or 2
        self._engine_pool = ThreadPoolExecutor(max_workers=cores, thread_name_prefix="darkroom-engine")
        self._encode_pool = ThreadPoolExecutor(max_workers=cores, thread_name_prefix="darkroom-encode")
        self._own_threads = {id(engine): ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"darkroom-{engine.name}")
                             for engine in catalog.engines() if not engine.capabilities.thread_safe}

    def close(self) -> None:
        for pool in (self._engine_pool, self._encode_pool, *self._own_threads.values()):
            pool.shutdown(wait=False, cancel_futures=True)

    def _executor_for(self, engine: Engine) -> ThreadPoolExecutor:
        return self._own_threads.get(id(engine), self._engine_pool)

    async def generate(self, req: ImageGenerateRequest, ctx: RequestContext) -> Outcome:
        # 1. The model must be loaded; then the rules: every check before any work.
        spec = self.catalog.find(model_name(req))
        if spec is not None:
            self.loader.check_ready(spec)
        plan = plan_generation(req, self.catalog, self.prompt_limits)
        # 2. Prompt moderation.
        self._moderate(plan, ctx)
        # 3. Engine, off the event loop; 4. encode (and store, for url responses) each image.
        loop = asyncio.get_running_loop()
        executor = self._executor_for(plan.spec.engine)
        if plan.n == 1:
            data, info, engine_s, encode_s = await loop.run_in_executor(executor, self._render, plan, ctx)
        else:
            started = time.perf_counter()
            generation = await loop.run_in_executor(executor, self._run_engine, plan)
            engine_s, info = time.perf_counter() - started, generation.info
            data = await asyncio.gather(*(loop.run_in_executor(self._encode_pool, self._finish, plan, image, ctx)
                                          for image in generation.images))
            encode_s = time.perf_counter() - started - engine_s
        log.info("%s generated model=%s size=%s n=%d format=%s seed=%d user=%r engine_ms=%.1f encode_ms=%.1f",
                 ctx.request_id, plan.spec.name, plan.size, plan.n, plan.output_format, plan.seeds[0], plan.user,
                 engine_s * 1000, encode_s * 1000)
        return Outcome(self._response(plan, list(data)), plan.seeds[0], engine_s, encode_s, info)

    def _render(self, plan: GenerationPlan, ctx: RequestContext) -> tuple[list[Image], dict, float, float]:
        """Engine and encoding in one worker thread (one image: nothing to parallelise)."""
        started = time.perf_counter()
        generation = self._run_engine(plan)
        engine_done = time.perf_counter()
        data = [self._finish(plan, image, ctx) for image in generation.images]
        return data, generation.info, engine_done - started, time.perf_counter() - engine_done

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

    def _run_engine(self, plan: GenerationPlan) -> Generation:
        job = GenerationJob(
            prompt=plan.prompt, width=plan.width, height=plan.height, quality=plan.engine_quality,
            seeds=plan.seeds, transparent=plan.background == "transparent", style=plan.style,
            steps=plan.steps, guidance_scale=plan.guidance_scale, negative_prompt=plan.negative_prompt,
            scheduler=plan.scheduler,
        )
        try:
            generation = plan.spec.engine.generate(job)
        except DarkroomError:
            raise
        except Exception as exc:
            log.exception("engine %s failed on model %s", plan.spec.engine_name, plan.spec.name)
            raise ServerError("The image engine failed while generating this request.") from exc
        channels = 4 if job.transparent else 3
        images = generation.images
        if len(images) != job.n or any(i.shape != (job.height, job.width, channels) or i.dtype != np.uint8
                                       for i in images):
            log.error("engine %s broke its contract for %s", plan.spec.engine_name, plan.size)
            raise ServerError("The image engine returned images of the wrong shape.")
        return generation

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
