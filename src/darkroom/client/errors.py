"""How the command-line client fails: one readable line on stderr, and an exit status.

    0  OK                  every request succeeded
    1  REQUEST_FAILED      the server refused or failed a request (any HTTP error, an error event in a
                           stream, an image that could not be fetched or saved); for `batch`: a line failed
    2  USAGE               bad flags, an unreadable image, sidecar or prompts file
    3  UNREACHABLE         could not connect to the base URL, or no answer within --timeout
    130 INTERRUPTED        Ctrl-C

`ClientError` carries its exit status; `describe` turns the SDK's exceptions (and ours) into the one
line, e.g. `400 invalid_value (size): Invalid size '13x13'. (request req_1a2b)`, always naming the status,
the code and the request id where the server sent them, and the URL for connection errors.
"""

from __future__ import annotations

OK = 0
REQUEST_FAILED = 1
USAGE = 2
UNREACHABLE = 3
INTERRUPTED = 130

EXIT_CODES_HELP = ("exit status: 0 success; 1 a request failed (the server's error is printed as one line with\n"
                   "its status, code and request id; batch: a line failed); 2 usage error (bad flags or files);\n"
                   "3 could not connect to the base URL, or timed out; 130 interrupted")


class ClientError(Exception):
    """A failure the client reports as one line and an exit status (never a traceback)."""

    def __init__(self, message: str, exit_code: int = REQUEST_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class UsageError(ClientError):
    """Bad flags or an unusable input file, found before any request is sent."""

    def __init__(self, message: str) -> None:
        super().__init__(message, USAGE)


def describe(exc: BaseException, base_url: str = "", request_id: str | None = None) -> ClientError:
    """The one-line `ClientError` for any exception a request can raise (`request_id`: from the headers,
    for errors that arrive inside a stream, whose exception has none)."""
    import openai

    if isinstance(exc, ClientError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return ClientError(f"no answer from {base_url or exc.request.url} within the timeout (--timeout)",
                           UNREACHABLE)
    if isinstance(exc, openai.APIConnectionError):
        cause = _root_cause(exc)
        return ClientError(f"could not connect to {base_url or exc.request.url}{f' ({cause})' if cause else ''}",
                           UNREACHABLE)
    if isinstance(exc, openai.APIStatusError):
        return ClientError(_api_line(exc, exc.status_code, exc.request_id or request_id))
    if isinstance(exc, openai.APIError):  # an `event: error` inside a stream: no status of its own
        return ClientError(_api_line(exc, None, request_id))
    return ClientError(f"{type(exc).__name__}: {exc}")


def _api_line(exc, status: int | None, request_id: str | None) -> str:  # noqa: ANN001 - openai.APIError
    body = exc.body if isinstance(exc.body, dict) else {}
    message = body.get("message") if isinstance(body.get("message"), str) else None
    if message is None:  # not OpenAI's envelope (a proxy's HTML page, plain text): say what came
        message = exc.message if status is None else f"the server answered HTTP {status}: {_snippet(exc.body)}"
    head = " ".join(str(part) for part in (status, exc.code) if part is not None)
    if exc.param:
        head += f" ({exc.param})"
    line = f"{head}: {message}" if head else message
    if request_id:
        line += f" (request {request_id})"
    return " ".join(line.split())  # one line, whatever the message held


def _snippet(body: object) -> str:
    text = " ".join(str(body or "no body").split())
    return text if len(text) <= 120 else text[:117] + "..."


def _root_cause(exc: BaseException) -> str:
    """The innermost cause's text (`[Errno 111] Connection refused`), which says more than 'Connection error.'"""
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        seen = seen.__cause__ or seen.__context__  # type: ignore[assignment]
    return str(seen) if seen is not exc else ""
