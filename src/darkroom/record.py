"""What is known about a request once it has ended, and who is told: the usage ledger, the metrics, the access log.

The middleware (`api/middleware.py`) builds one `RequestRecord` per HTTP request after the last byte
of its response has gone out (for a stream, after its last event), and hands it to every callable in
`app.state.finishers`, in order. A finisher must be quick and must not raise (it runs on the event
loop: anything slow, such as a database write, is queued for a thread of its own).

`summary` is what the service filled in (`context.RequestContext.summary`): model, engine,
operation, n, size, quality, output_format, stream, then images, queue_ms, engine_ms, encode_ms and
the token counts once the images were made. A request refused before its model was known has an
empty summary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class RequestRecord:
    request_id: str
    method: str
    path: str
    status: int  # the HTTP status sent (499: the client left before the answer)
    seconds: float  # from the first byte received to the last byte sent
    key_name: str | None  # the API key's name (never the key); None on an open server or before auth
    error_code: str | None = None  # the envelope's `code` when the request failed, else None
    summary: dict[str, Any] = field(default_factory=dict)


Finisher = Callable[[RequestRecord], None]
