"""The client's flags, and what they become: an SDK client and the body of a request.

Connection, for every client command: `--base-url` > `OPENAI_BASE_URL` > `http://127.0.0.1:8000/v1`;
`--api-key` > `OPENAI_API_KEY` > a placeholder (a Darkroom with no keys accepts any); `--retries` is the
SDK's `max_retries` (it retries 408, 409, 429, 5xx and connection errors, honouring Retry-After);
`--timeout` its per-request timeout. No `DARKROOM_*` variable is read: the client may talk to any
OpenAI-compatible server, not only the one this machine's settings describe.

A request's body holds only the fields the user set, under the API's own names, so that what is sent,
and recorded in the sidecar, is exactly what was asked for; everything else is the server's default.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
PLACEHOLDER_KEY = "darkroom-no-key"  # the SDK refuses to start without a key; an open Darkroom ignores it
DEFAULT_MODEL = "gpt-image-1"
DEFAULT_PARTIALS = 2
STREAMING_PREFIXES = ("gpt-image", "chatgpt-image")  # OpenAI's families that stream; dall-e models do not

# flag dest -> the API field it sets (generate, edit; `vary` takes n and size only)
FIELDS = {"model": "model", "n": "n", "size": "size", "quality": "quality", "format": "output_format",
          "compression": "output_compression", "background": "background", "moderation": "moderation",
          "input_fidelity": "input_fidelity", "user": "user", "seed": "seed"}


def add_connection_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument("--base-url", metavar="URL",
                       help=f"the API's base URL, with its /v1 (default: OPENAI_BASE_URL, else {DEFAULT_BASE_URL})")
    group.add_argument("--api-key", metavar="KEY",
                       help="the API key (default: OPENAI_API_KEY, else a placeholder that an open Darkroom accepts)")
    group.add_argument("--retries", type=count, metavar="N",
                       help="retries of a failed request: the SDK's max_retries (408, 409, 429, 5xx, connection "
                            "errors; Retry-After honoured; default 2)")
    group.add_argument("--timeout", type=_seconds, metavar="SECONDS",
                       help="how long to wait for each answer (default: the SDK's, 600 s)")


def add_output_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output")
    group.add_argument("--out", metavar="DIR",
                       help="folder for the images and sidecars (default: the current one; with --from: the sidecar's)")
    group.add_argument("--overwrite", action="store_true",
                       help="replace files of the same name (default: never; the next free name is used)")
    group.add_argument("--json", action="store_true",
                       help="print one JSON document on stdout (files, seeds, model, usage, request id) instead "
                            "of the paths")


def add_image_flags(parser: argparse.ArgumentParser, *, edit: bool = False, stream: bool = True) -> None:
    """The fields that generate, edit and batch share (as OpenAI's API names them, in its order)."""
    group = parser.add_argument_group("request (sent only when given: otherwise the server's default applies)")
    group.add_argument("-m", "--model", help=f"model name (default {DEFAULT_MODEL})")
    group.add_argument("-n", type=positive, metavar="N", help="number of images")
    group.add_argument("--size", metavar="WxH", help="e.g. 1024x1024, 1536x1024, auto")
    group.add_argument("--quality", metavar="Q", help="low, medium, high, auto (GPT models); standard, hd (dall-e)")
    group.add_argument("--format", metavar="FMT", help="output_format: png, jpeg or webp")
    group.add_argument("--compression", type=count, metavar="0-100",
                       help="output_compression, for jpeg and webp (100: best quality)")
    group.add_argument("--background", metavar="B", help="transparent, opaque or auto")
    group.add_argument("--moderation", metavar="M", help="auto or low")
    if edit:
        group.add_argument("--input-fidelity", metavar="F", help="low or high: how closely to keep the input")
    group.add_argument("--user", metavar="ID", help="an end-user id, passed on to the server")
    group.add_argument("--seed", type=count, metavar="S",
                       help="Darkroom's seed (sent in the body via extra_body): the same request and seed give "
                            "the same images; image i uses S+i")
    if stream:
        add_stream_flags(parser)


def add_stream_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("streaming")
    group.add_argument("--stream", action=argparse.BooleanOptionalAction, default=None,
                       help="stream partial images (default: on for gpt-image models and for models whose server "
                            "says they stream, off for others)")
    group.add_argument("--partials", type=count, metavar="N",
                       help=f"partial images to stream, 0-3 (default {DEFAULT_PARTIALS}; implies --stream)")


def connection(args: argparse.Namespace) -> tuple[Any, str]:
    """The SDK client the flags describe, and its base URL (for messages)."""
    import openai

    base_url = (args.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    api_key = args.api_key or os.environ.get("OPENAI_API_KEY") or PLACEHOLDER_KEY
    kwargs: dict[str, Any] = {"base_url": base_url, "api_key": api_key}
    if args.retries is not None:
        kwargs["max_retries"] = args.retries
    if args.timeout is not None:
        kwargs["timeout"] = args.timeout
    return openai.OpenAI(**kwargs), base_url


def fields_from_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The API fields the user set with flags (absent flags are absent fields)."""
    return {field: getattr(args, dest) for dest, field in FIELDS.items() if getattr(args, dest, None) is not None}


def apply_streaming(body: dict[str, Any], args: argparse.Namespace, *, from_sidecar: bool = False) -> None:
    """Set `stream` / `partial_images` in `body` from --stream/--partials and the model (in place).

    A sidecar's body already says whether it streamed; only explicit flags change that."""
    from .errors import UsageError

    stream, partials = args.stream, args.partials
    if stream is False and partials:
        raise UsageError("--partials needs streaming: drop --no-stream")
    if stream is None and partials is not None:
        stream = True
    if stream is None and not from_sidecar:
        stream = model_streams(args, str(body.get("model", "")))
    if stream is False:
        body.pop("stream", None)
        body.pop("partial_images", None)
    elif stream:
        body["stream"] = True
        body["partial_images"] = partials if partials is not None else body.get("partial_images", DEFAULT_PARTIALS)


def model_streams(args: argparse.Namespace, model: str) -> bool:
    """Whether to stream `model` by default: OpenAI's names by their family; any other name as the server's
    model object says (Darkroom's `capabilities.stream`, e.g. a diffusers model served as `sd-turbo`);
    a server that says nothing (OpenAI, another gateway) or cannot be asked: no."""
    if model.startswith(STREAMING_PREFIXES):
        return True
    if model.startswith("dall-e"):
        return False
    import openai

    client, _ = connection(args)
    try:
        found = client.with_options(max_retries=0, timeout=10).models.retrieve(model)
    except openai.OpenAIError:  # the request itself will say what is wrong
        return False
    capabilities = (found.model_extra or {}).get("capabilities")
    return isinstance(capabilities, dict) and capabilities.get("stream") is True


def positive(text: str) -> int:
    value = count(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value
