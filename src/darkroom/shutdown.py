"""Graceful shutdown: on SIGTERM (or a first Ctrl-C) the server stops taking work, finishes what is in
flight within `shutdown_grace_seconds`, then exits 0. New requests meanwhile get a 503 with
`Retry-After` (code `shutting_down`) and `/health` says `draining`. Requests still running when the
grace period ends get the same 503 (their jobs are cancelled), so clients can retry elsewhere.

A second SIGTERM or Ctrl-C during the drain ends it at once, the same way: every request still in
flight is answered with that 503 envelope (never uvicorn's plain-text 500), its engine call stops at
its next step, and the process exits 0 as soon as those answers are written. A third signal is
uvicorn's own force-quit.

The server runs uvicorn with Darkroom's per-connection limits (`connections.py`: header and body
deadlines, header size, open connections) and its keep-alive timeout, all from the settings.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from types import FrameType

import uvicorn
from fastapi import FastAPI

from .config import Settings
from .connections import ConnectionLimits, guarded_protocol

log = logging.getLogger("darkroom.shutdown")
ANSWER_WAIT_SECONDS = 5.0  # once work in flight is abandoned, how long its 503s get to be written


class DrainingServer(uvicorn.Server):
    def __init__(self, app: FastAPI, settings: Settings) -> None:
        limits = ConnectionLimits(settings.header_timeout_seconds, settings.body_timeout_seconds,
                                  settings.max_header_bytes, settings.max_connections)
        super().__init__(uvicorn.Config(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                                        access_log=False, timeout_graceful_shutdown=3, http=guarded_protocol(limits),
                                        timeout_keep_alive=settings.keep_alive_timeout_seconds))
        self.service = app.state.service
        self.grace = settings.shutdown_grace_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining = False
        self._cut_short = False

    async def serve(self, sockets=None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._cut_short or self._loop is None or sig not in (signal.SIGTERM, signal.SIGINT):
            super().handle_exit(sig, frame)
            return
        name = signal.Signals(sig).name
        if self._draining:
            self._cut_short = True
            log.warning("received %s again: answering the requests still in flight with 503 and exiting", name)
            self._loop.call_soon_threadsafe(lambda: self._loop.create_task(self._end(abandon=True)))
            return
        self._draining = True
        self.service.start_draining()
        log.info("received %s: finishing work in flight (up to %.0f s), refusing new requests", name, self.grace)
        self._loop.call_soon_threadsafe(lambda: self._loop.create_task(self._drain()))

    async def _drain(self) -> None:
        finished = await self.service.wait_idle(self.grace)
        if not finished and not self._cut_short:
            log.warning("shutdown grace period over: answering the requests still in flight with 503")
            await self._end(abandon=True)
            return
        self.should_exit = True

    async def _end(self, abandon: bool) -> None:
        if abandon:
            self.service.abandon_inflight()
            await self.service.wait_idle(ANSWER_WAIT_SECONDS)
        self.should_exit = True
