"""`GET /health`: always open; says whether the server is ready and which models are loaded."""

from __future__ import annotations

from fastapi import APIRouter, Request

from .. import __version__

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> dict:
    catalog = request.app.state.catalog
    return {
        "status": "ok",
        "version": __version__,
        "models": {spec.name: {"engine": spec.engine_name, "state": "ready"} for spec in catalog},
    }
