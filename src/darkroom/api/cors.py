"""CORS for browser clients: the `cors_allowed_origins` setting (off by default).

With no origin configured there is no CORS middleware at all: a browser page on another origin cannot
read any answer (nor send a preflighted request such as a JSON POST with `Authorization`). With
origins configured, Starlette's `CORSMiddleware` answers preflights and marks every response for an
allowed origin, errors included (401, 400, 413, 500: it wraps Darkroom's own middleware), so a page
can read the error envelope. No cookies are used, so credentials are not allowed; the bearer key
travels in `Authorization`, which is an allowed header.

The allowed request headers are what the OpenAI SDKs send from a browser (openai-node with
`dangerouslyAllowBrowser`: its `X-Stainless-*` platform, retry and timeout headers, `OpenAI-Organization`,
`OpenAI-Project`, `OpenAI-Beta`, `Idempotency-Key`); pages can read `x-request-id`, `Retry-After`,
the rate-limit headers and Darkroom's `x-darkroom-*` figures.

`"*"` lets any page call the server. With API keys that is what keys are for (a page needs one);
on an open server (no keys) it means any web page a visitor opens can use it, so `"*"` is logged as
a warning at start.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

ALLOW_HEADERS = [
    "Authorization", "Content-Type", "Accept", "OpenAI-Organization", "OpenAI-Project", "OpenAI-Beta",
    "Idempotency-Key", "X-Stainless-Lang", "X-Stainless-Package-Version", "X-Stainless-OS", "X-Stainless-Arch",
    "X-Stainless-Runtime", "X-Stainless-Runtime-Version", "X-Stainless-Retry-Count", "X-Stainless-Timeout",
    "X-Stainless-Helper-Method", "X-Stainless-Async", "X-Stainless-Raw-Response", "X-Stainless-Poll-Helper",
    "X-Stainless-Custom-Poll-Interval",
]
EXPOSE_HEADERS = [
    "x-request-id", "Retry-After", "openai-processing-ms", "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests", "x-ratelimit-limit-images",
    "x-ratelimit-remaining-images", "x-ratelimit-reset-images", "x-darkroom-seed", "x-darkroom-served-by",
    "x-darkroom-cost-usd", "x-darkroom-queue-ms", "x-darkroom-engine-ms", "x-darkroom-encode-ms",
    "x-darkroom-moderation-ms", "x-darkroom-ingress",
]


def install_cors(app: FastAPI, origins: list[str]) -> None:
    """Wrap `app` in CORSMiddleware for `origins`; nothing at all when there are none. Call it after
    every other `add_middleware`, so that it is the outermost and marks their errors too."""
    if not origins:
        return
    app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST", "OPTIONS"],
                       allow_headers=ALLOW_HEADERS, expose_headers=EXPOSE_HEADERS, allow_credentials=False,
                       max_age=600)
