"""`GET /v1/models` and `GET /v1/models/{id}` in OpenAI's list/object shape, plus the serving engine.

A key limited to some models (`darkroom keys create --models`) sees only those, and any other id is
OpenAI's 404 for a model the key cannot use. A route shows `engine: "route"` and its `targets`; a
model shows `moderation`: who checks its requests, and which checks are skipped and why
(`Moderator.describe`). Every entry shows `capabilities`: what a request to it may carry, computed from
the rules the server enforces (`capabilities.py`), so a client such as the playground offers only that.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from ..capabilities import capabilities, route_capabilities
from ..catalog import Catalog, ModelSpec, Route
from ..errors import ModelNotFound
from ..moderation import Moderator

router = APIRouter()


def model_object(spec: ModelSpec | Route, moderator: Moderator | None = None, catalog: Catalog | None = None,
                 prompt_limits: dict[str, int] | None = None) -> dict:
    body = {
        "id": spec.name,
        "object": "model",
        "created": spec.created,
        "owned_by": "darkroom",
        # Darkroom's additions: what actually draws for this name.
        "engine": "route" if isinstance(spec, Route) else spec.engine_name,
        "family": spec.family,
        "description": spec.description,
    }
    if isinstance(spec, Route):
        body.update(targets=list(spec.targets), strategy=spec.strategy)
    elif moderator is not None:
        body["moderation"] = moderator.describe(spec.moderated, spec.engine.capabilities.detector_ceiling)
    if catalog is not None and prompt_limits is not None:
        body["capabilities"] = _capabilities(spec, catalog, prompt_limits)
    return body


def _capabilities(spec: ModelSpec | Route, catalog: Catalog, prompt_limits: dict[str, int]) -> dict:
    if isinstance(spec, Route):
        targets = [catalog.get(name) for name in spec.targets]
        return route_capabilities([capabilities(target, prompt_limits[target.family]) for target in targets])
    return capabilities(spec, prompt_limits[spec.family])


def _visible(request: Request) -> list[ModelSpec | Route]:
    catalog = request.app.state.catalog
    allowed = getattr(getattr(request.state, "key", None), "models", None)
    return [entry for entry in (*catalog, *catalog.routes.values()) if allowed is None or entry.name in allowed]


@router.get("/v1/models")
async def list_models(request: Request) -> dict:
    return {"object": "list", "data": [_object(request, entry) for entry in _visible(request)]}


@router.get("/v1/models/{model_id:path}")
async def retrieve_model(model_id: str, request: Request) -> dict:
    for entry in _visible(request):
        if entry.name == model_id:
            return _object(request, entry)
    raise ModelNotFound(f"The model `{model_id}` does not exist or you do not have access to it.", param="model")


def _object(request: Request, entry: ModelSpec | Route) -> dict:
    state = request.app.state
    return model_object(entry, state.service.moderator, state.catalog, state.settings.prompt_limits)
