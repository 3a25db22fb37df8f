"""The load benchmark's baseline: the HTTP + JSON floor, served by the same uvicorn as Darkroom.

A bare ASGI app (no FastAPI, no middleware, no validation, no engine, no encoding) that reads the
request body and answers with a precomputed response: the body and headers of a real Darkroom
response captured by the benchmark, so both servers put the same bytes on the wire.

    python -m bench.baseline_server --port P --responses FILE [--log-level warning]

FILE is JSON: {"<name>": {"headers": [[name, value], ...], "body_b64": "..."}, ...}; each entry is
served at `POST /<name>`. `GET /health` answers 200. uvicorn runs with the same options as
`darkroom serve` (auto loop and HTTP implementation, no access log), so the event loop (uvloop) and
HTTP parser (httptools) are the same in both processes.
"""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path

import uvicorn

_HEALTH = b'{"status":"ok"}'


class BaselineApp:
    def __init__(self, responses: dict[str, tuple[list[tuple[bytes, bytes]], bytes]]) -> None:
        self._responses = {f"/{name}": (headers, body) for name, (headers, body) in responses.items()}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        more = True
        while more:  # drain the request body, as any real handler must
            message = await receive()
            more = message.get("more_body", False) and message["type"] == "http.request"
        if scope["path"] == "/health":
            headers, body = [(b"content-type", b"application/json")], _HEALTH
        else:
            found = self._responses.get(scope["path"])
            if found is None:
                await send({"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]})
                await send({"type": "http.response.body", "body": b""})
                return
            headers, body = found
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*headers, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def load_responses(path: Path) -> dict[str, tuple[list[tuple[bytes, bytes]], bytes]]:
    raw = json.loads(path.read_text())
    return {
        name: ([(k.encode("latin-1"), v.encode("latin-1")) for k, v in entry["headers"]],
               base64.b64decode(entry["body_b64"]))
        for name, entry in raw.items()
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline_server")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--responses", type=Path, required=True)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    app = BaselineApp(load_responses(args.responses))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level=args.log_level, access_log=False)


if __name__ == "__main__":
    main()
