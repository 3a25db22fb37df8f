"""`GET /health`: always open; 200 when every model is ready, 503 while any is loading or failed."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .. import __version__

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    loader = request.app.state.service.loader
    status = {"ready": "ok"}.get(loader.status, loader.status)
    body = {"status": status, "version": __version__, "models": loader.models()}
    return JSONResponse(body, status_code=200 if status == "ok" else 503)
