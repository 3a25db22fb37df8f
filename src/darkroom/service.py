"""Runs one image request end to end: rules -> moderation -> scheduler -> engine -> cut-out -> moderation
and encoding -> response.

Generations, edits and variations take the same path; they differ only in their rules (`rules.py`,
`edit_rules.py`: an edit's uploads are decoded there, in the encode pool) and in the job the engine
gets. An edit's output gets the first input's pixels back wherever its mask kept them. A streaming
request passes a `Progress`, which hears when the request was admitted and each partial image
(`streaming.py` turns those into events). Once its rules passed, a request's images are charged to
its API key's limits (`RequestContext.charge`); with `store_all` every image is also kept for its
owner (`store/kept.py`). `RequestContext.summary` collects what the ledger, metrics and access log
record. Moderation (`moderation/`) checks the prompt and any uploaded images before any work, and
every output image, partials included, while it is encoded: nothing blocked is returned, stored or
kept. A transparent image from an engine without alpha is drawn on a key colour and cut out here
(`postprocess/matting.py`). A model on a forwarding engine (the upstream engine) takes the same path up to the engine, then
goes upstream instead (`forwarding.py`: the upstream's bytes pass through). A route stands for
other models and tries its targets in turn (`routing.py`: fallback only when a target provably did
no work); its request is charged once. Each response is priced from its `usage` (`pricing.py`) and
names the model that served it. A key limited to some models (`ApiKey.models`) gets OpenAI's 404
for any other. Nothing here knows about HTTP. The engine work goes through each engine's
worker (`scheduling/worker.py`: bounded queue, batching across requests, cancellation), which runs engine
calls in threads of its own; encoding and storing run in a pool sized to the cores, so the `n`
images of a request are encoded in parallel and encoding overlaps the engine's next batch. Every
request has a deadline (`request_timeout_seconds`): past it the client gets a 504 and its job is
dropped from the queue, or abandoned (stopped, if nobody else shares its batch). Cancelling the
task that runs `generate` (the client went away) does the same.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from typing import Any

import numpy as np

from .catalog import Catalog, ModelSpec
from .context import Outcome, Progress, RequestContext
from .config import DEFAULT_MODERATION
from .edit_rules import DEFAULT_EDIT_MODEL, plan_edit, plan_variation
from .engines.base import Engine, Generation, GenerationJob, PartialCallback
from .engines.upstream import Forwarded
from .errors import (
    DarkroomError,
    GatewayTimeout,
    InvalidRequest,
    ModelNotFound,
    ModerationBlocked,
    ServerError,
    ServiceUnavailable,
)
from .forwarding import Forwarder
from .loading import EngineLoader
from .moderation import Moderator, ordered
from .postprocess.encode import b64, encode
from .postprocess.matting import cutout, preview_cutout
from .postprocess.sources import paste_unmasked
from .postprocess.tokens import generation_usage
from .pricing import cost_usd
from .protocol.edits import ImageEditRequest, ImageVariationRequest, Uploads
from .protocol.images import Image, ImageGenerateRequest, ImagesResponse
from .routing import Router
from .rules import GenerationPlan, model_name, plan_generation
from .scheduling.gate import ForwardingGate
from .scheduling.worker import EngineWorker, Ticket
from .storage.base import ImageStore
from .store.kept import KeptImages

log = logging.getLogger("darkroom.service")
DRAINING_RETRY_AFTER_SECONDS = 10


class ImageService:
    def __init__(self, catalog: Catalog, store: ImageStore, prompt_limits: dict[str, int],
                 request_timeout: float = 590.0, max_input_pixels: int = 16_777_216,
                 keep: KeptImages | None = None, keep_ttl: int = 30 * 86_400,
                 moderator: Moderator | None = None) -> None:
        self.catalog = catalog
        self.moderator = moderator or Moderator(dict(DEFAULT_MODERATION))
        self.keep = keep  # `store_all`: every image is kept for `keep_ttl` seconds, for its owner
        self.keep_ttl = keep_ttl
        self.max_input_pixels = max_input_pixels
        self.store = store
        self.prompt_limits = prompt_limits
        self.request_timeout = request_timeout
        self.workers: dict[int, EngineWorker | ForwardingGate] = {}
        for spec in catalog:  # one worker per engine instance, with the settings of its (first) model
            if id(spec.engine) not in self.workers:
                self.workers[id(spec.engine)] = (
                    ForwardingGate(spec.engine, spec.engine.capabilities.concurrency, spec.scheduling.max_queue,
                                   spec.name) if spec.engine.forwards
                    else EngineWorker(spec.engine, spec.scheduling, spec.name))
        self.router = Router(catalog, lambda spec: self.worker_for(spec.engine).load)
        self.forwarder = Forwarder(self)
        # Engines load on their worker's thread: all of an engine's torch work stays on one thread.
        self.loader = EngineLoader(catalog, lambda engine, work: self.worker_for(engine).run_in_engine_thread(work))
        self.loader.on_ready = lambda engine: self.moderator.use_device(engine.device)
        self.moderator.engines_busy = self._cpu_engines_busy
        self._encode_pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="darkroom-encode")
        self.draining = False
        self._deadlines: set[asyncio.Timeout] = set()  # of requests in flight, for `abandon_inflight`
        self._abandoned = False
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def start(self) -> None:
        """Start the workers (needs the running event loop)."""
        for worker in self.workers.values():
            worker.start()

    async def close(self) -> None:
        for worker in self.workers.values():
            await worker.stop()
        for engine in self.catalog.engines():
            if engine.forwards:
                await engine.aclose()  # type: ignore[attr-defined] - the upstream engine's HTTP client
        self._encode_pool.shutdown(wait=False, cancel_futures=True)
        await self.moderator.close()

    def _cpu_engines_busy(self) -> bool:
        """Is a local engine computing on the CPU now? (Moderation's detector then leaves it the cores.)"""
        return any(isinstance(worker, EngineWorker) and worker.computing and worker.engine.device == "cpu"
                   for worker in self.workers.values())

    def worker_for(self, engine: Engine) -> Any:
        """The engine's `EngineWorker` (a `ForwardingGate` for a forwarding engine)."""
        return self.workers[id(engine)]

    # ---- shutdown -------------------------------------------------------------------------------

    def start_draining(self) -> None:
        """Refuse new requests (503 + Retry-After); those in flight carry on."""
        self.draining = True

    def abandon_inflight(self) -> None:
        """The shutdown grace period is over: answer every request still in flight with a 503."""
        self._abandoned = True
        now = asyncio.get_running_loop().time()
        for deadline in self._deadlines:
            deadline.reschedule(now)

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is in flight; False if `timeout` passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False

    # ---- one request ------------------------------------------------------------------------------

    async def generate(self, req: ImageGenerateRequest, ctx: RequestContext,
                       progress: Progress | None = None) -> Outcome:
        return await self._admitted(
            model_name(req), ctx, progress, lambda spec: plan_generation(req, self.catalog, self.prompt_limits, spec),
            forward=lambda: Forwarded("generate", req.model_dump(exclude_none=True), stream=bool(req.stream)))

    async def edit(self, req: ImageEditRequest, uploads: Uploads, ctx: RequestContext,
                   progress: Progress | None = None) -> Outcome:
        return await self._admitted(req.model or DEFAULT_EDIT_MODEL, ctx, progress, lambda spec: plan_edit(
            req, uploads, self.catalog, self.prompt_limits, self.max_input_pixels, spec), decodes=True,
            forward=lambda: Forwarded("edit", req.model_dump(exclude_none=True, exclude={"images", "mask"}),
                                      tuple(u.data for u in uploads.images),
                                      uploads.mask.data if uploads.mask else None, stream=bool(req.stream)))

    async def vary(self, req: ImageVariationRequest, uploads: Uploads, ctx: RequestContext) -> Outcome:
        return await self._admitted(req.model or "dall-e-2", ctx, None, lambda spec: plan_variation(
            req, uploads, self.catalog, self.max_input_pixels, spec), decodes=True,
            forward=lambda: Forwarded("variation", req.model_dump(exclude_none=True),
                                      tuple(u.data for u in uploads.images)))

    async def _admitted(self, model: str, ctx: RequestContext, progress: Progress | None,
                        plan: Callable[[ModelSpec | None], GenerationPlan], decodes: bool = False,
                        forward: Callable[[], Forwarded] | None = None) -> Outcome:
        """Run one request under the server's admission rules: not while draining, within the deadline."""
        if self.draining:
            raise ServiceUnavailable("The server is shutting down. Retry shortly.", code="shutting_down",
                                     headers={"Retry-After": str(DRAINING_RETRY_AFTER_SECONDS)})
        if ctx.models is not None and model not in ctx.models and self.catalog.served(model):
            raise ModelNotFound(f"The model `{model}` does not exist or you do not have access to it.",
                                param="model")
        self._active += 1
        self._idle.clear()
        deadline = asyncio.timeout(self.request_timeout)
        self._deadlines.add(deadline)
        try:
            async with deadline:
                return self._priced(await self._served(model, ctx, progress, plan, decodes, forward), ctx)
        except TimeoutError:
            if self._abandoned:
                raise ServiceUnavailable("The server shut down before this request finished. Retry shortly.",
                                         code="shutting_down",
                                         headers={"Retry-After": str(DRAINING_RETRY_AFTER_SECONDS)}) from None
            spec = self.catalog.find(model)
            if spec is not None:
                self.worker_for(spec.engine).figures.timed_out += 1
            log.warning("%s timed out after %.0f s", ctx.request_id, self.request_timeout)
            raise GatewayTimeout(
                f"The request did not finish within {self.request_timeout:.0f} seconds and was cancelled.") from None
        finally:
            self._deadlines.discard(deadline)
            self._active -= 1
            if not self._active:
                self._idle.set()

    async def _served(self, model: str, ctx: RequestContext, progress: Progress | None,
                      plan: Callable[[ModelSpec | None], GenerationPlan], decodes: bool,
                      forward: Callable[[], Forwarded] | None) -> Outcome:
        """A model's request, or a route's: its targets in turn (`routing.py`), charged once."""
        route = self.catalog.route(model)
        if route is None:
            return await self._run(self.catalog.find(model), ctx, progress, plan, decodes, forward)
        ctx = dataclasses.replace(ctx, charge=_once(ctx.charge))
        try:
            outcome, _ = await self.router.serve(
                route, lambda target: self._run(target, ctx, progress, plan, decodes, forward),
                committed=lambda: progress is not None and progress.admitted.done())
        finally:
            ctx.summary["model"] = route.name  # the name asked for; `served_by` names the target
        return outcome

    def _priced(self, outcome: Outcome, ctx: RequestContext) -> Outcome:
        """The cost from the response's usage (`pricing.py`), in the headers and the request's record."""
        plan = outcome.plan
        cost = cost_usd(plan.spec.price, outcome.usage, images=outcome.images, quality=_priced_quality(plan),
                        size=ctx.summary.get("size") or plan.size)
        ctx.summary["cost_usd"] = cost
        outcome.headers["x-darkroom-served-by"] = plan.spec.name
        outcome.headers["x-darkroom-cost-usd"] = "unknown" if cost is None else f"{cost:.6f}"
        return outcome

    async def _run(self, spec: ModelSpec | None, ctx: RequestContext, progress: Progress | None,
                   make_plan: Callable[[ModelSpec | None], GenerationPlan], decodes: bool,
                   forward: Callable[[], Forwarded] | None = None) -> Outcome:
        # 1. The model must be loaded; then the rules: every check before any work (uploads are
        #    decoded in the pool, off the event loop). No spec: the rules refuse the unknown name.
        if spec is not None:  # a known model: the ledger and metrics name it even if the rules refuse
            ctx.summary.update(model=spec.name, engine=spec.engine_name, served_by=spec.name)
            self.loader.check_ready(spec)
        loop = asyncio.get_running_loop()
        plan = await loop.run_in_executor(self._encode_pool, make_plan, spec) if decodes else make_plan(spec)
        ctx.summary.update(_describe(plan))
        # 2. Moderation of the prompt and any input images (unless the model's provider moderates),
        #    then the images are charged to the key's limits.
        moderating = time.monotonic()
        if plan.spec.moderated:
            await self._moderate_input(plan, ctx)
        moderation_s = time.monotonic() - moderating
        if ctx.charge is not None:
            await ctx.charge(plan.n)
        if plan.spec.engine.forwards:  # upstream: the request itself goes on, not a job
            assert forward is not None
            return await self.forwarder.run(plan, forward(), ctx, progress, moderation_s)
        # 3. The engine, through its worker's queue (batched with other requests where it can be).
        worker = self.worker_for(plan.spec.engine)
        ticket = worker.submit(_job(plan, progress.partial if progress and plan.partial_images else None))
        if progress is not None:
            progress.started(plan, ctx, {"x-darkroom-seed": str(plan.seeds[0]), "x-darkroom-served-by": plan.spec.name})
        generation = self._checked(plan, await self._result(ticket, plan))
        engine_done = time.monotonic()
        # 4. The final pixels (an edit's kept area pasted back; a matted cut-out). Each is encoded while
        #    moderation checks them all, in the pool, in parallel; only when every one passed are they
        #    stored or kept and put in the response (a blocked image's bytes are simply dropped).
        images = await asyncio.gather(*(loop.run_in_executor(self._encode_pool, self._final, plan, image)
                                        for image in generation.images))
        info = generation.info
        del generation
        blobs, checked_s = await self._encoded_if_allowed(plan, images, ctx, self._encode)
        moderation_s += checked_s
        del images  # the pixels: free them before the JSON body is built
        data = await asyncio.gather(*(loop.run_in_executor(self._encode_pool, self._deliver, plan, i, blob, ctx)
                                      for i, blob in enumerate(blobs)))
        encode_s = time.monotonic() - engine_done
        worker.figures.encode_seconds.add(encode_s)
        started = ticket.started or ticket.enqueued
        queue_s, engine_s = started - ticket.enqueued, engine_done - started
        log.info("%s %s model=%s size=%s n=%d format=%s seed=%d user=%r queue_ms=%.1f engine_ms=%.1f "
                 "encode_ms=%.1f moderation_ms=%.1f", ctx.request_id, _DONE[plan.operation], plan.spec.name,
                 plan.size, plan.n, plan.output_format, plan.seeds[0], plan.user, queue_s * 1000, engine_s * 1000,
                 encode_s * 1000, moderation_s * 1000)
        response = self._response(plan, list(data))
        ctx.summary.update(images=len(data), queue_ms=round(queue_s * 1000, 2), engine_ms=round(engine_s * 1000, 2),
                           encode_ms=round(encode_s * 1000, 2), moderation_ms=round(moderation_s * 1000, 2))
        if response.usage is not None:
            ctx.summary.update(input_tokens=response.usage.input_tokens, output_tokens=response.usage.output_tokens,
                               total_tokens=response.usage.total_tokens)
        usage = response.usage.model_dump() if response.usage is not None else None
        return Outcome(response, plan, queue_s, engine_s, encode_s, moderation_s, info,
                       headers={"x-darkroom-seed": str(plan.seeds[0])}, usage=usage, images=len(data))

    async def _result(self, ticket: Ticket, plan: GenerationPlan) -> Generation:
        try:
            return await ticket.result()
        except DarkroomError:
            raise
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("engine %s failed on model %s", plan.spec.engine_name, plan.spec.name, exc_info=exc)
            raise ServerError("The image engine failed while generating this request.") from exc

    async def _moderate_input(self, plan: GenerationPlan, ctx: RequestContext) -> None:
        """The prompt and any uploaded images, checked together at the request's level."""
        checks = []
        if plan.operation != "variation":  # variations have no prompt
            checks.append(self.moderator.check_prompt(plan.prompt, plan.moderation, self._encode_pool))
        if plan.source is not None:
            checks.append(self.moderator.check_images(plan.source.images, plan.moderation, plan.prompt,
                                                      self._encode_pool))
        self._block_if(plan, ctx, "input", ordered(await asyncio.gather(*checks)))

    async def _moderate_output(self, plan: GenerationPlan, images: list[np.ndarray], ctx: RequestContext) -> None:
        """Final and partial images, in one batch. A procedural engine's generations (no input pixels in
        them) carry its detector ceiling: the moderator skips a detector that could not block them."""
        ceiling = plan.spec.engine.capabilities.detector_ceiling if plan.source is None else None
        categories = await self.moderator.check_images(images, plan.moderation, plan.prompt, self._encode_pool,
                                                       ceiling=ceiling)
        self._block_if(plan, ctx, "output", categories)

    def _block_if(self, plan: GenerationPlan, ctx: RequestContext, stage: str, categories: list[str]) -> None:
        """A block: OpenAI's `moderation_blocked` error (GPT models) or `content_policy_violation` (DALL-E).

        The log and the ledger get the stage and categories, never the prompt or the pixels."""
        if not categories:
            return
        ctx.summary["moderation"] = f"{stage}:{','.join(categories)}"
        log.info("%s blocked by %s moderation: %s", ctx.request_id, stage, ", ".join(categories))
        if plan.spec.is_gpt:
            raise ModerationBlocked(
                "Your request was rejected by the safety system. If you believe this is an error, contact us "
                f"and include the request ID {ctx.request_id}.",
                extra={"moderation_details": {"moderation_stage": stage, "categories": categories}},
            )
        what = "text" if stage == "input" and plan.operation != "variation" else "images"
        raise InvalidRequest(
            "Your request was rejected as a result of our safety system. "
            + (f"Your prompt may contain {what} that is not allowed by our safety system." if stage == "input"
               else "The generated image was not allowed by our safety system.")
            + f" Request ID {ctx.request_id}.", code="content_policy_violation",
        )

    def _checked(self, plan: GenerationPlan, generation: Generation) -> Generation:
        """The engine contract: n uint8 images of the asked size, RGBA exactly when transparent."""
        channels = 4 if plan.background == "transparent" and plan.key is None else 3  # keyed: RGB on the key
        images = generation.images
        if len(images) != plan.n or any(i.shape != (plan.height, plan.width, channels) or i.dtype != np.uint8
                                        for i in images):
            log.error("engine %s broke its contract for %s", plan.spec.engine_name, plan.size)
            raise ServerError("The image engine returned images of the wrong shape.")
        return generation

    async def encode_partial_async(self, plan: GenerationPlan, pixels: np.ndarray, ctx: RequestContext) -> str:
        """A partial image as base64 in the request's format, moderated and encoded in the pool (see
        `streaming.py`): a partial is an output too, and is never sent if it would be blocked."""
        loop = asyncio.get_running_loop()
        pixels = await loop.run_in_executor(self._encode_pool, self._final, plan, pixels, True)
        [b64_json], _ = await self._encoded_if_allowed(plan, [pixels], ctx, self._encode_partial)
        return b64_json

    async def _encoded_if_allowed(self, plan: GenerationPlan, images: list[np.ndarray], ctx: RequestContext,
                                  encoder: Callable[[GenerationPlan, np.ndarray], Any]) -> tuple[list[Any], float]:
        """`encoder` on each image in the pool while moderation checks them all; the encodings, and the
        seconds the checks took. A block raises once the encodings are done, and they are dropped."""
        loop = asyncio.get_running_loop()
        encoding = asyncio.gather(*(loop.run_in_executor(self._encode_pool, encoder, plan, image)
                                    for image in images))
        moderating = time.monotonic()
        try:
            await self._moderate_output(plan, images, ctx)
        except BaseException:
            await asyncio.gather(encoding, return_exceptions=True)  # let the pool finish before dropping them
            raise
        checked_s = time.monotonic() - moderating
        return list(await encoding), checked_s

    def _encode_partial(self, plan: GenerationPlan, pixels: np.ndarray) -> str:
        return b64(self._encode(plan, pixels))

    def _final(self, plan: GenerationPlan, pixels: np.ndarray, preview: bool = False) -> np.ndarray:
        """The pixels the client gets: an edit's kept area pasted back, then the cut-out where the engine
        drew the request's transparent image on a key colour (a quick keying for previews)."""
        pixels = self._unmasked(plan, pixels)
        if plan.key is None:
            return pixels
        return preview_cutout(pixels, plan.key) if preview else cutout(pixels, plan.key)

    def _unmasked(self, plan: GenerationPlan, pixels: np.ndarray) -> np.ndarray:
        """An edit's output with the first input's pixels back wherever the mask kept them."""
        if plan.source is None or plan.source.repaint is None:
            return pixels
        return paste_unmasked(plan.source.images[0], pixels, plan.source.repaint)

    def _encode(self, plan: GenerationPlan, pixels: np.ndarray) -> bytes:
        return encode(pixels, plan.output_format, plan.output_compression)

    def _deliver(self, plan: GenerationPlan, index: int, blob: bytes, ctx: RequestContext) -> Image:
        """An encoded image that passed moderation: kept (`store_all`), stored for a link, or base64."""
        revised = plan.prompt if plan.spec.family == "dall-e-3" else None
        name = self._keep(plan, index, blob, ctx) if self.keep is not None else None
        if plan.response_format == "url":
            name = name or self.store.save(blob, plan.output_format)
            return Image(url=self.store.url(ctx.base_url, name), revised_prompt=revised)
        return Image(b64_json=b64(blob), revised_prompt=revised)

    def _keep(self, plan: GenerationPlan, index: int, blob: bytes, ctx: RequestContext) -> str:
        """`store_all`: the image stays in the store for its owner, with its request's metadata."""
        assert self.keep is not None
        name = self.store.save(blob, plan.output_format, ttl_seconds=self.keep_ttl)
        now = time.time()
        self.keep.add(key_name=ctx.key_name, request_id=ctx.request_id, object_name=name, created_at=now,
                      expires_at=now + self.keep_ttl, model=plan.spec.name, operation=plan.operation,
                      prompt=plan.prompt, size=plan.size, output_format=plan.output_format, seed=plan.seeds[index])
        return name

    def _response(self, plan: GenerationPlan, data: list[Image]) -> ImagesResponse:
        response = ImagesResponse(created=int(time.time()), data=data)
        if not plan.spec.is_gpt:
            return response
        response.background = plan.background
        response.output_format = plan.output_format
        response.size = plan.size
        response.quality = plan.quality
        response.usage = generation_usage(plan.spec.family, plan.quality, plan.width, plan.height, plan.n,
                                          plan.prompt, plan.input_sizes)
        return response


_DONE = {"generate": "generated", "edit": "edited", "variation": "varied"}


def _once(charge: Callable[[int], Awaitable[None]] | None) -> Callable[[int], Awaitable[None]] | None:
    """A route's charge: its request is charged once, whichever targets it reaches."""
    if charge is None:
        return None
    done = False

    async def charge_once(n: int) -> None:
        nonlocal done
        if not done:
            await charge(n)
            done = True

    return charge_once


def _priced_quality(plan: GenerationPlan) -> str:
    """OpenAI's word for the quality a request is priced at (dall-e: standard / hd)."""
    if plan.quality is not None:
        return plan.quality
    return "hd" if plan.spec.family == "dall-e-3" and plan.engine_quality == "high" else "standard"


def _describe(plan: GenerationPlan) -> dict[str, Any]:
    return {"model": plan.spec.name, "engine": plan.spec.engine_name, "operation": plan.operation, "n": plan.n,
            "size": plan.size, "quality": plan.quality or plan.engine_quality, "output_format": plan.output_format,
            "stream": plan.stream}


def _job(plan: GenerationPlan, on_partial: PartialCallback | None) -> GenerationJob:
    return GenerationJob(
        prompt=plan.prompt, width=plan.width, height=plan.height, quality=plan.engine_quality,
        seeds=plan.seeds, transparent=plan.background == "transparent" and plan.key is None, key=plan.key,
        style=plan.style,
        steps=plan.steps, guidance_scale=plan.guidance_scale, negative_prompt=plan.negative_prompt,
        scheduler=plan.scheduler, operation=plan.operation, source=plan.source,
        partial_images=plan.partial_images if on_partial else 0, on_partial=on_partial,
    )
