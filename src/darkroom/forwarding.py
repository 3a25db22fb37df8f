"""The service's path for models on a forwarding engine (`engines/upstream/`): after the rules, the input
moderation (when the model asks for Darkroom's own) and the key's charge, the request goes upstream
instead of to a worker.

    non-streaming   the upstream's JSON body is passed through as it came, byte for byte, unless
                    something must change: `url` images are re-hosted in Darkroom's storage behind
                    its own signed links (unless the model passes them through), so clients never
                    depend on, or see, the upstream's links. Images are never decoded, except to
                    moderate them when the model asks for Darkroom's moderation.
    streaming       each event is relayed as it arrives (`Progress.relay`); the client's 200 goes out
                    once the upstream answered its own. Completed events' `usage` is summed.

Memory per request stays near the response's size: the raw body and its parsed form (needed for
`usage` and the links) are held together only until the body is sent. `store_all` keeps the images.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image as PILImage

from .context import Outcome, Progress, RequestContext
from .engines.upstream import Forwarded, Reply, UpstreamEngine
from .errors import BadGateway
from .postprocess.sources import sniff
from .rules import GenerationPlan
from .scheduling.gate import ForwardingGate

if TYPE_CHECKING:
    from .service import ImageService


class Forwarder:
    def __init__(self, service: ImageService) -> None:
        self.service = service

    async def run(self, plan: GenerationPlan, call: Forwarded, ctx: RequestContext, progress: Progress | None,
                  moderation_s: float) -> Outcome:
        engine: UpstreamEngine = plan.spec.engine  # type: ignore[assignment] - a forwarding engine
        engine.check(plan.output_format)
        gate: ForwardingGate = self.service.worker_for(engine)  # type: ignore[assignment]
        headers = {"x-darkroom-served-by": plan.spec.name}
        if "seed" in call.fields:
            headers["x-darkroom-seed"] = str(call.fields["seed"])
        checked = [0.0]
        async with gate.slot() as waited:
            started = time.monotonic()
            if call.stream and progress is not None:
                relayed = await engine.relay(call, lambda request_id: self._opened(plan, ctx, progress, headers,
                                                                                   request_id),
                                             self._relay_to(plan, ctx, progress, checked))
                usage, images, payload, body = relayed.usage, relayed.images, None, None
                size, quality = relayed.size, relayed.quality
            else:
                reply = await engine.send(call)
                _upstream_id(ctx, headers, reply.request_id)
            engine_done = time.monotonic()
        if not (call.stream and progress is not None):
            body, payload = await self._delivered(plan, engine, reply, ctx, checked)
            usage, images = payload.get("usage"), len(payload["data"])
            size, quality = payload.get("size"), payload.get("quality")
            del reply
        encode_s = time.monotonic() - engine_done
        moderation_s += checked[0]
        ctx.summary.update(images=images, queue_ms=round(waited * 1000, 2),
                           engine_ms=round((engine_done - started) * 1000, 2), encode_ms=round(encode_s * 1000, 2),
                           moderation_ms=round(moderation_s * 1000, 2))
        ctx.summary.update({k: v for k, v in (("size", size), ("quality", quality)) if v})
        if isinstance(usage, dict):
            ctx.summary.update({name: usage.get(name) for name in ("input_tokens", "output_tokens", "total_tokens")})
        return Outcome(None, plan, waited, engine_done - started, encode_s, moderation_s, {}, raw=body,
                       headers=headers, usage=usage if isinstance(usage, dict) else None, images=images)

    def _opened(self, plan: GenerationPlan, ctx: RequestContext, progress: Progress, headers: dict[str, str],
                request_id: str | None) -> None:
        _upstream_id(ctx, headers, request_id)
        progress.started(plan, ctx, headers)

    def _relay_to(self, plan: GenerationPlan, ctx: RequestContext, progress: Progress,
                  checked: list[float]) -> Callable[[bytes, dict[str, Any] | None], Awaitable[None] | None]:
        service = self.service
        if not plan.spec.moderated and service.keep is None:
            return lambda raw, event: progress.relay(raw)

        async def relay(raw: bytes, event: dict[str, Any] | None) -> None:
            event = event if event is not None else _frame_event(raw)
            b64_json = event.get("b64_json")
            if isinstance(b64_json, str):
                blob = await asyncio.get_running_loop().run_in_executor(service._encode_pool, base64.b64decode, b64_json)
                if plan.spec.moderated:
                    checked[0] += await self._moderate(plan, [blob], ctx)
                if service.keep is not None and str(event.get("type", "")).endswith(".completed"):
                    await self._pool(service._keep, plan, int(event.get("image_index") or 0), blob, ctx)
            progress.relay(raw)

        return relay

    async def _delivered(self, plan: GenerationPlan, engine: UpstreamEngine, reply: Reply, ctx: RequestContext,
                         checked: list[float]) -> tuple[bytes, dict[str, Any]]:
        """The body for the client: the upstream's own, unless links were re-hosted; moderated and kept
        where the model and server ask for it."""
        payload, service = reply.payload, self.service
        changed = False
        blobs: list[bytes | None] = [None] * len(payload["data"])
        needs_bytes = plan.spec.moderated or service.keep is not None
        for i, item in enumerate(payload["data"]):
            if not isinstance(item, dict):
                raise BadGateway("The upstream answered an image entry that is not an object.",
                                 code="upstream_invalid_response")
            if isinstance(item.get("url"), str) and (needs_bytes or not engine.opts.pass_urls):
                blobs[i] = await engine.fetch(item["url"])
            elif isinstance(item.get("b64_json"), str) and needs_bytes:
                blobs[i] = await self._pool(base64.b64decode, item["b64_json"])
        if plan.spec.moderated:
            checked[0] += await self._moderate(plan, [b for b in blobs if b is not None], ctx)
        for i, item in enumerate(payload["data"]):
            blob = blobs[i]
            name = await self._pool(service._keep, plan, i, blob, ctx) if blob is not None and service.keep else None
            if "url" in item and not engine.opts.pass_urls and blob is not None:
                fmt = sniff(blob) or "png"
                name = name or await self._pool(service.store.save, blob, fmt)
                item["url"] = service.store.url(ctx.base_url, name)
                changed = True
        del blobs
        body = json.dumps(payload, separators=(",", ":")).encode() if changed else reply.body
        return body, payload

    async def _moderate(self, plan: GenerationPlan, blobs: list[bytes], ctx: RequestContext) -> float:
        """Darkroom's output check on encoded images (only for upstream models configured to have it)."""
        if not blobs:
            return 0.0
        started = time.monotonic()
        images = await asyncio.gather(*(self._pool(_pixels, blob) for blob in blobs))
        await self.service._moderate_output(plan, list(images), ctx)
        return time.monotonic() - started

    async def _pool(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.service._encode_pool, fn, *args)


def _upstream_id(ctx: RequestContext, headers: dict[str, str], request_id: str | None) -> None:
    if request_id:
        headers["x-darkroom-upstream-request-id"] = request_id
        ctx.summary["upstream_request_id"] = request_id


def _frame_event(raw: bytes) -> dict[str, Any]:
    """The JSON of one relayed SSE frame (`event: ...\\ndata: {...}\\n\\n`)."""
    data = b"\n".join(line[5:].removeprefix(b" ") for line in raw.split(b"\n") if line.startswith(b"data:"))
    try:
        event = json.loads(data)
    except ValueError:
        raise BadGateway("The upstream stream sent an event that is not JSON.", code="upstream_invalid_response") from None
    return event if isinstance(event, dict) else {}


def _pixels(blob: bytes) -> np.ndarray:
    try:
        with PILImage.open(io.BytesIO(blob)) as image:
            return np.asarray(image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB"))
    except Exception as exc:  # an image the upstream sent that cannot be read cannot be checked either
        raise BadGateway("The upstream returned an image Darkroom cannot read.", code="upstream_invalid_response") from exc
