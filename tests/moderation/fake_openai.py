"""A stand-in for OpenAI's moderation endpoint (`POST /v1/moderations`), served over real HTTP.

    with FakeModeration() as fake:       # listens on 127.0.0.1, in a thread
        fake.base_url                    # http://127.0.0.1:PORT/v1
        fake.calls                       # every request body it got

Text verdicts come from markers in the text: `FLAG:<category>[:<score>]` flags the category (score 0.9 unless given),
`SCORE:<category>:<x>` gives it score x without OpenAI's flag, `SLOW` answers after `slow_seconds`,
`FAIL` answers 500. Image inputs get `image_verdict` (a dict of the same markers' meaning:
{category: (flagged, score)}), or a clean result. Answers are shaped like OpenAI's.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CATEGORIES = ("harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
              "self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "sexual/minors", "violence",
              "violence/graphic")


class FakeModeration:
    def __init__(self, slow_seconds: float = 3.0) -> None:
        self.calls: list[dict] = []
        self.image_verdict: dict[str, tuple[bool, float]] = {}
        self.slow_seconds = slow_seconds
        self.api_keys: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.calls.append(body)
                fake.api_keys.append(self.headers.get("Authorization", ""))
                status, answer = fake.answer(self.path, body)
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # a client that timed out (`SLOW`) has gone

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeModeration:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, path: str, body: dict) -> tuple[int, dict]:
        if path != "/v1/moderations":
            return 404, {"error": {"message": "not found", "type": "invalid_request_error"}}
        payload = body["input"]
        verdict: dict[str, tuple[bool, float]] = {}
        if isinstance(payload, str):
            if "FAIL" in payload:
                return 500, {"error": {"message": "The server had an error.", "type": "server_error"}}
            if "SLOW" in payload:
                time.sleep(self.slow_seconds)
            verdict.update({c: (True, float(x or 0.9)) for c, x in re.findall(r"FLAG:([\w/-]+?)(?::([\d.]+))?(?=\s|$)",
                                                                               payload)})
            verdict.update({c: (False, float(x)) for c, x in re.findall(r"SCORE:([\w/-]+):([\d.]+)", payload)})
        else:
            assert payload[0]["type"] == "image_url"
            assert payload[0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
            verdict.update(self.image_verdict)
        result = {
            "flagged": any(flag for flag, _ in verdict.values()),
            "categories": {c: verdict.get(c, (False, 0.0))[0] for c in CATEGORIES},
            "category_scores": {c: verdict.get(c, (False, 0.0001))[1] for c in CATEGORIES},
            "category_applied_input_types": {c: ["text" if isinstance(payload, str) else "image"]
                                             for c in CATEGORIES},
        }
        return 200, {"id": "modr-test", "model": body.get("model", "omni-moderation-latest"), "results": [result]}
