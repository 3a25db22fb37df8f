"""Against a server that is not Darkroom: the SDK's retries (`--retries`), and no seed header."""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from .conftest import darkroom


class Flaky(BaseHTTPRequestHandler):
    """An OpenAI-compatible stand-in: `failures` 503s (retry-after-ms: 10), then one 32x32 PNG."""

    failures = 0
    bodies: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        Flaky.bodies.append(body)
        if len(Flaky.bodies) <= Flaky.failures:
            self._send(503, {"error": {"message": "Overloaded.", "type": "server_error", "param": None,
                                       "code": "server_overloaded"}}, {"retry-after-ms": "10"})
            return
        png = io.BytesIO()
        Image.new("RGB", (32, 32), (200, 40, 40)).save(png, "PNG")
        self._send(200, {"created": 1, "data": [{"b64_json": base64.b64encode(png.getvalue()).decode()}]}, {})

    def _send(self, status: int, payload: dict, headers: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in {"content-type": "application/json", "x-request-id": f"up_{len(Flaky.bodies)}",
                            "content-length": str(len(data)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:  # noqa: ANN002 - quiet
        pass


@pytest.fixture()
def flaky() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Flaky.bodies = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_the_sdk_retries_what_it_would_retry_and_no_seed_means_no_seed_in_the_name(flaky, tmp_path: Path) -> None:
    Flaky.failures = 2
    done = darkroom(None, "generate", "a red square", "-m", "dall-e-3", "--retries", "2", cwd=tmp_path,
                    base_url=flaky)
    assert done.returncode == 0, done.stderr
    assert len(Flaky.bodies) == 3 and Flaky.bodies[0] == {"prompt": "a red square", "model": "dall-e-3"}
    assert done.stdout.split() == ["a-red-square-0.png"]
    sidecar = json.loads((tmp_path / "a-red-square-0.png.json").read_text())
    assert sidecar["seed"] is None and sidecar["request_id"] == "up_3"
    again = darkroom(None, "generate", "--from", "a-red-square-0.png.json", cwd=tmp_path, base_url=flaky)
    assert again.returncode == 0 and Flaky.bodies[-1] == Flaky.bodies[0]  # no seed invented for this server


def test_out_of_retries_prints_the_last_error(flaky, tmp_path: Path) -> None:
    Flaky.failures = 5
    done = darkroom(None, "generate", "a red square", "-m", "dall-e-3", "--retries", "1", cwd=tmp_path,
                    base_url=flaky)
    assert done.returncode == 1 and len(Flaky.bodies) == 2
    assert done.stderr.splitlines()[-1] == "darkroom: 503 server_overloaded: Overloaded. (request up_2)"
