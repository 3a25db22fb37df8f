"""`create_app(settings)`: the FastAPI application with every router, the middleware and the error mapping."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI

from .. import __version__
from ..catalog import Catalog, build_catalog
from ..config import Settings
from ..errors import DarkroomError
from ..moderation import Moderator
from ..service import ImageService
from ..storage import build_store
from ..storage.base import ImageStore
from ..storage.signing import LinkSigner, load_or_create_key
from ..store import MetadataStore
from . import health, images, kept, models, usage
from .auth import ApiKeyAuth
from .cors import install_cors
from .errors import install_error_handlers
from .metrics import install_metrics
from .middleware import RequestContextMiddleware
from .openapi import install_openapi
from .playground import install_playground
from .prompt_log import PromptLog

log = logging.getLogger("darkroom")
SWEEP_INTERVAL_SECONDS = 300


def create_app(settings: Settings, catalog: Catalog | None = None) -> FastAPI:
    """Build the app. Raises ConfigError for a bad model entry, before anything listens.

    `catalog` replaces the one built from settings (tests use it to put their own engines behind names).
    """
    catalog = catalog or build_catalog(settings)
    link_key = load_or_create_key(settings.url_signing_key.get_secret_value(), settings.data_dir)
    signer = LinkSigner(link_key)
    store = build_store(settings.storage, root=settings.data_dir / "images", signer=signer,
                        ttl_seconds=settings.url_ttl_seconds, s3_bucket=settings.s3_bucket,
                        s3_endpoint_url=settings.s3_endpoint_url, s3_region=settings.s3_region,
                        s3_prefix=settings.s3_prefix, s3_presign=settings.s3_presign)
    meta = MetadataStore.open(settings)  # migrated here, before anything listens
    auth = ApiKeyAuth([key.get_secret_value() for key in settings.api_keys], meta)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if auth.open_at_start():
            log.warning("No API keys configured: this server accepts requests from anyone who can reach it.")
        if "*" in settings.cors_allowed_origins:
            log.warning("cors_allowed_origins has \"*\": any web page a visitor opens may call this server%s.",
                        " (and it has no API keys)" if auth.open_at_start() else " with an API key it holds")
        if not settings.moderation_enabled:
            log.warning("Moderation is switched off (moderation_enabled = false): no prompt or image is checked, "
                        "and `moderation` in requests has no effect.")
        meta.ledger.start()
        service: ImageService = app.state.service
        # The classifiers load in the background (~1.5 s); a request meanwhile waits for them.
        moderation_ready = asyncio.create_task(asyncio.to_thread(moderator.warm_up))
        service.start()
        # Slow engines load in the background: /health answers (and says `loading`) meanwhile.
        service.loader.load_quick()
        loading = asyncio.create_task(service.loader.load_slow(app.state.on_load_failure))
        sweeper = asyncio.create_task(_sweep_forever(store, meta))
        try:
            yield
        finally:
            sweeper.cancel()
            loading.cancel()
            moderation_ready.cancel()
            await service.close()
            for engine in catalog.engines():
                engine.close()
            meta.close()  # after the last request: the ledger writes what it still holds

    app = FastAPI(title="Darkroom", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)  # our own document: api/openapi.py
    app.state.settings = settings
    app.state.catalog = catalog
    moderator = Moderator.from_settings(settings)
    app.state.service = ImageService(catalog, store, settings.prompt_limits, settings.request_timeout_seconds,
                                     settings.max_input_pixels, keep=meta.kept if settings.store_all else None,
                                     keep_ttl=settings.store_all_ttl_seconds, moderator=moderator)
    app.state.store = meta
    app.state.finishers = [meta.ledger.record]  # told about every request once it has ended (`record.py`)
    app.state.on_load_failure = None  # `darkroom serve` sets it: a model that fails to load stops the server
    install_error_handlers(app)
    install_metrics(app)
    install_openapi(app)
    install_playground(app)  # the web page at / and /playground: open, its calls carry the visitor's key
    app.include_router(health.router)
    app.include_router(images.links)
    app.include_router(images.router, dependencies=[Depends(auth)])
    app.include_router(models.router, dependencies=[Depends(auth)])
    app.include_router(usage.router, dependencies=[Depends(auth)])
    app.include_router(kept.router, dependencies=[Depends(auth)])
    uploads = {path: settings.max_upload_bytes for path in ("/v1/images/edits", "/v1/images/variations")}
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes, path_caps=uploads,
                       prompts=PromptLog(settings.log_prompts, link_key))
    install_cors(app, settings.cors_allowed_origins)  # the outermost: its headers are on every answer
    return app


async def _sweep_forever(store: ImageStore, meta: MetadataStore) -> None:
    while True:
        try:
            removed = await asyncio.to_thread(store.sweep)
            await asyncio.to_thread(meta.kept.sweep)
        except DarkroomError as exc:  # a store down (S3, the database): the next sweep tries again
            log.warning("the sweep of stored images failed (%s); next try in %d s", exc.message,
                        SWEEP_INTERVAL_SECONDS)
        except Exception:
            log.exception("the sweep of stored images failed; next try in %d s", SWEEP_INTERVAL_SECONDS)
        else:
            if removed:
                log.info("deleted %d stored images past their lifetime", removed)
        await asyncio.sleep(SWEEP_INTERVAL_SECONDS)
