"""`GET /v1/models` and `GET /v1/models/{id}` in OpenAI's list/object shape, plus the serving engine."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ..catalog import ModelSpec
from ..errors import ModelNotFound

router = APIRouter()


def model_object(spec: ModelSpec) -> dict:
    return {
        "id": spec.name,
        "object": "model",
        "created": spec.created,
        "owned_by": "darkroom",
        # Darkroom's additions: what actually draws for this name.
        "engine": spec.engine_name,
        "family": spec.family,
        "description": spec.description,
    }


@router.get("/v1/models")
async def list_models(request: Request) -> dict:
    return {"object": "list", "data": [model_object(spec) for spec in request.app.state.catalog]}


@router.get("/v1/models/{model_id:path}")
async def retrieve_model(model_id: str, request: Request) -> dict:
    spec = request.app.state.catalog.find(model_id)
    if spec is None:
        raise ModelNotFound(f"The model '{model_id}' does not exist.", param="model")
    return model_object(spec)
